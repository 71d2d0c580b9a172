/**
 * The pipeline as a sweep: its grid is seeds, each trial a whole pipeline run of one seed into
 * `<out>/s<seed>/` (lib/pipeline/seeds.ts), with no shared preparation (every seed collects its
 * own data and trains its own encoders):
 *
 * - trial: `deno task pipeline ... --seeds 0,1,2 --only-seed 1` runs seed 1's pipeline (its
 *   current phases are skipped, an interrupted one resumes from its checkpoint);
 * - gather: `deno task pipeline ... --seeds 0,1,2 --summary-only` writes `SEEDS.md` and
 *   `seeds.json` over the seed runs, listing failed ones with their errors.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { PIPELINE_PRESETS } from "../pipeline/pipeline.ts";
import { seedRunDir, seedState, writeSeedOutcome } from "../pipeline/seeds.ts";
import type { AxisValue, Trial } from "./spec.ts";
import {
  checkSeedAxis,
  configFileValues,
  type StepKind,
  studyPreset,
  type SweepStudy,
  type TrialOutcome,
} from "./study.ts";

const seedsArgs = (axes: Record<string, AxisValue[]>) => ["--seeds", axes.seeds.join(",")];

/** `deno task pipeline` over seeds as a {@linkcode SweepStudy}. */
export const PIPELINE_SWEEP: SweepStudy = {
  name: "pipeline",
  taskFile: "pipeline.ts",
  axes: ["seeds"],
  reportFile: "SEEDS.md",
  owned: {
    options: ["--seeds", "--seed", "--only-seed", "--preset", "--out"],
    switches: ["--summary-only"],
    axisKeys: ["seed"],
  },

  defaultAxes({ preset, args, cwd }) {
    // One seed unless told: the config's own (a --config file may give it).
    const values = configFileValues(args, cwd);
    const seed = typeof values?.seed === "number"
      ? values.seed
      : studyPreset(PIPELINE_PRESETS, preset).seed;
    return { seeds: [seed] };
  },

  checkAxes: checkSeedAxis,

  trialName(point) {
    return `s${point.seeds}`;
  },

  stepArgs(step: StepKind, axes, trial?: Trial) {
    switch (step) {
      case "prepare":
        return null;
      case "trial":
        if (!trial) throw new Error("stepArgs: a trial step needs its trial");
        return [...seedsArgs(axes), "--only-seed", String(trial.point.seeds)];
      case "gather":
        return [...seedsArgs(axes), "--summary-only"];
    }
  },

  trialOutcome(out, trial): TrialOutcome {
    return seedState(seedRunDir(out, Number(trial.point.seeds)));
  },

  async recordFailure(out, trial, message) {
    const dir = seedRunDir(out, Number(trial.point.seeds));
    mkdirSync(dir, { recursive: true });
    await writeSeedOutcome(dir, { state: "failed", error: message });
  },
};
