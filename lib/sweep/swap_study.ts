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
import { join, resolve } from "node:path";
import { parseConfigText } from "../run/config.ts";
import {
  gridRuns,
  gridStatus,
  recordFailure,
  runName,
  SWAP_CONDITIONS,
  SWAP_PRESETS,
  type SwapConfig,
} from "../studies/swap/mod.ts";
import { optionValue } from "./flags.ts";
import type { AxisValue, Trial } from "./spec.ts";
import type { StepKind, SweepStudy, TrialOutcome } from "./study.ts";

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
    if (!(preset in SWAP_PRESETS)) {
      throw new Error(
        `preset: unknown preset '${preset}' (valid: ${Object.keys(SWAP_PRESETS).join(", ")})`,
      );
    }
    const base = SWAP_PRESETS[preset as keyof typeof SWAP_PRESETS];
    const axes: Record<string, AxisValue[]> = {
      conditions: [...base.conditions],
      seeds: [...base.seeds],
    };
    // A --config file among the arguments may give the grid; the task would read it the same.
    const configPath = optionValue(args, "--config");
    if (configPath) {
      const path = resolve(cwd, configPath);
      if (!existsSync(path)) throw new Error(`args: --config ${configPath}: no such file`);
      const values = parseConfigText(readFileSync(path, "utf8"), path) as Record<string, unknown>;
      for (const axis of ["conditions", "seeds"]) {
        if (values && Array.isArray(values[axis])) axes[axis] = values[axis] as AxisValue[];
      }
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
    for (const s of axes.seeds ?? []) {
      if (!(typeof s === "number" && Number.isInteger(s) && s >= 0)) {
        throw new Error(`axes.seeds: expected integers >= 0, got ${JSON.stringify(s)}`);
      }
    }
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
