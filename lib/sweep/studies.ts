/**
 * The studies whose grids the sweep layer runs, by name. Importing this loads the studies (and
 * TensorFlow.js with them, about a second): the step runner of every trial does without it.
 *
 * @module
 */

import type { SweepStudy } from "./study.ts";
import { PIPELINE_SWEEP } from "./pipeline_study.ts";
import { SWAP_SWEEP } from "./swap_study.ts";

/** Every study a spec may name. */
export const SWEEP_STUDIES: Readonly<Record<string, SweepStudy>> = {
  swap: SWAP_SWEEP,
  pipeline: PIPELINE_SWEEP,
};

/** The study named `name`; throws listing the studies that sweep. */
export function sweepStudy(name: string): SweepStudy {
  const study = SWEEP_STUDIES[name];
  if (!study) {
    throw new Error(
      `study: unknown study '${name}' (studies that sweep: ${
        Object.keys(SWEEP_STUDIES).join(", ")
      })`,
    );
  }
  return study;
}
