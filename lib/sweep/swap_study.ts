/**
 * The encoder-swap study as a sweep: its grid is conditions x seeds, and all trials share one
 * swap directory (the study's `--out`), each training and evaluating its own run
 * `runs/<condition>-s<seed>/` there, as the workers of `deno task swap --jobs` do:
 *
 * - prepare: `deno task swap ... --encoders-only` pretrains the encoders the grid needs (the
 *   trials would otherwise pretrain them at once into the same directory);
 * - trial: `deno task swap ... --only cnn-s0` trains and evaluates one run (a finished run is
 *   skipped, an interrupted one resumes from its checkpoint);
 * - gather: `deno task swap ... --report-only` writes `REPORT.md` and `ROBUSTNESS.md` from the
 *   runs, listing failed ones in its table of runs (`failed.json`).
 *
 * Every step gets the whole grid (`--conditions`, `--seeds`), so every step's config, and the
 * swap directory's `config.json`, is the one `deno task swap` would have for the same grid.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  gridRuns,
  gridStatus,
  recordFailure,
  runName,
  SWAP_CONDITIONS,
  SWAP_PRESETS,
  type SwapConfig,
} from "../studies/swap/mod.ts";
import type { AxisValue, Trial } from "./spec.ts";
import {
  checkSeedAxis,
  configFileValues,
  type StepKind,
  studyPreset,
  type SweepStudy,
  type TrialOutcome,
} from "./study.ts";

function gridArgs(axes: Record<string, AxisValue[]>): string[] {
  return ["--conditions", axes.conditions.join(","), "--seeds", axes.seeds.join(",")];
}

function pointOf(trial: Trial): { condition: string; seed: number } {
  return { condition: String(trial.point.conditions), seed: Number(trial.point.seeds) };
}

/** The swap config the grid's steps ran with (its `config.json`), or null before any ran. */
function storedConfig(out: string): SwapConfig | null {
  const path = join(out, "config.json");
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as SwapConfig : null;
}

/** The encoder-swap grid (`deno task swap`) as a {@linkcode SweepStudy}. */
export const SWAP_SWEEP: SweepStudy = {
  name: "swap",
  taskFile: "swap.ts",
  axes: ["conditions", "seeds"],
  reportFile: "REPORT.md",
  owned: {
    options: ["--conditions", "--seeds", "--preset", "--out", "--only", "--jobs"],
    switches: ["--report-only", "--encoders-only"],
    axisKeys: ["conditions", "seeds"],
  },

  defaultAxes({ preset, args, cwd }) {
    const base = studyPreset(SWAP_PRESETS, preset);
    const axes: Record<string, AxisValue[]> = {
      conditions: [...base.conditions],
      seeds: [...base.seeds],
    };
    // A --config file among the arguments may give the grid; the task would read it the same.
    const values = configFileValues(args, cwd);
    for (const axis of ["conditions", "seeds"]) {
      if (values && Array.isArray(values[axis])) axes[axis] = values[axis] as AxisValue[];
    }
    return axes;
  },

  checkAxes(axes) {
    for (const c of axes.conditions ?? []) {
      if (!(SWAP_CONDITIONS as readonly string[]).includes(String(c))) {
        throw new Error(
          `axes.conditions: unknown condition '${c}' (valid: ${SWAP_CONDITIONS.join(", ")})`,
        );
      }
    }
    checkSeedAxis(axes);
  },

  trialName(point) {
    return runName(String(point.conditions), Number(point.seeds));
  },

  stepArgs(step: StepKind, axes, trial) {
    switch (step) {
      case "prepare":
        return [...gridArgs(axes), "--encoders-only"];
      case "trial":
        if (!trial) throw new Error("stepArgs: a trial step needs its trial");
        return [...gridArgs(axes), "--only", trial.name];
      case "gather":
        return [...gridArgs(axes), "--report-only"];
    }
  },

  trialOutcome(out, trial): TrialOutcome {
    const config = storedConfig(out);
    if (!config) return { state: "not started" };
    const { condition, seed } = pointOf(trial);
    const one = { ...config, conditions: [condition], seeds: [seed] };
    const [status] = gridStatus(one, out);
    if (status.state === "failed") return { state: "failed", error: status.failure!.error };
    if (status.state === "done") {
      // Trained but not (or not currently) evaluated: its trial has not finished.
      return gridRuns(one, out)[0].complete ? { state: "done" } : { state: "incomplete" };
    }
    return { state: status.state };
  },

  async recordFailure(out, trial, message) {
    await recordFailure(join(out, "runs", trial.name), trial.name, message);
  },
};
