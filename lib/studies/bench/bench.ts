/**
 * Named benchmarks of the hot paths, and how they are timed. `deno task bench` runs them; later
 * phases add their cases to {@linkcode BENCHMARKS}.
 *
 * @module
 */

import { dqnUpdateBench } from "./dqn_bench.ts";
import { envAleBreakoutBench, envBreakoutBench } from "./env_bench.ts";
import { ijepaStepBench } from "./ijepa_bench.ts";
import { ppoUpdateBench } from "./ppo_bench.ts";
import { probeFitBench } from "./probe_bench.ts";
import { worldModelStepBench } from "./worldmodel_bench.ts";

export {
  type Benchmark,
  type BenchResult,
  measureRate,
  peakRssMiB,
  resetPeakRss,
} from "./measure.ts";
import type { Benchmark } from "./measure.ts";

/** Every benchmark, in the order `deno task bench` runs them. */
export const BENCHMARKS: Benchmark[] = [
  envBreakoutBench,
  envAleBreakoutBench,
  ijepaStepBench,
  worldModelStepBench,
  ppoUpdateBench,
  dqnUpdateBench,
  probeFitBench,
];
