/**
 * What the sweep layer needs to know of a study to run its grid: the task each trial calls, the
 * grid's axes, the arguments of each step, and how to read a trial's outcome from its run
 * directory. One object per study (`swap_study.ts`, `pipeline_study.ts`); `studies.ts` lists them.
 * The helpers at the end are what those objects share (the preset, a `--config` file's values, the
 * seeds axis).
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseConfigText } from "../run/config.ts";
import { optionValue, type OwnedArgs } from "./flags.ts";
import type { AxisValue, Trial } from "./spec.ts";

/** A trial's outcome as its run directory records it. */
export interface TrialOutcome {
  /**
   * `done`: finished and complete (for swap: trained and evaluated). `failed`: the study
   * recorded a failure. `incomplete`: started (a checkpoint) but not finished. `not started`.
   */
  state: "done" | "failed" | "incomplete" | "not started";
  /** `failed`: the study's error message. */
  error?: string;
}

/** The steps of a sweep: an optional shared preparation, the trials, the report over them. */
export type StepKind = "prepare" | "trial" | "gather";

/** A study whose grid the sweep layer runs. */
export interface SweepStudy {
  /** The study's name in specs (`study: swap`). */
  name: string;
  /** Its task's file under `tasks/` (every step is one call of it). */
  taskFile: string;
  /** The grid's axes, the first varying slowest (the study's own run order). */
  axes: readonly string[];
  /** The preset's own grid, with a `--config` file among `args` applied (relative to `cwd`). */
  defaultAxes(opts: { preset: string; args: string[]; cwd: string }): Record<string, AxisValue[]>;
  /** The task's options the sweep sets itself (axes, --out, step modes), besides the executor's. */
  owned: OwnedArgs;
  /** Throws naming the axis and value when a value is not valid for the study. */
  checkAxes(axes: Record<string, AxisValue[]>): void;
  /** The study's name for a trial: its run directory's name. */
  trialName(point: Record<string, AxisValue>): string;
  /**
   * Arguments of one step after `--preset P`, the spec's `args` and `--out DIR`; null for a
   * `prepare` step the grid does not need.
   */
  stepArgs(step: StepKind, axes: Record<string, AxisValue[]>, trial?: Trial): string[] | null;
  /** A trial's outcome from the study's files in its output directory `out`. */
  trialOutcome(out: string, trial: Trial): TrialOutcome;
  /**
   * Records a trial's failure where the study's report reads it (so the report lists it), for
   * a trial whose process ended without recording its own.
   */
  recordFailure(out: string, trial: Trial, message: string): Promise<void>;
  /** The gathered report, relative to `out`. */
  reportFile: string;
}

/** The preset `name` of a study's `presets`; throws naming the valid ones. */
export function studyPreset<P>(presets: Readonly<Record<string, P>>, name: string): P {
  if (!(name in presets)) {
    throw new Error(
      `preset: unknown preset '${name}' (valid: ${Object.keys(presets).join(", ")})`,
    );
  }
  return presets[name];
}

/**
 * The values of the `--config` file among a task's `args` (relative to `cwd`), or null when there
 * is none: the file the task would read, so a study's default grid is the one it would run.
 */
export function configFileValues(args: string[], cwd: string): Record<string, unknown> | null {
  const configPath = optionValue(args, "--config");
  if (!configPath) return null;
  const path = resolve(cwd, configPath);
  if (!existsSync(path)) throw new Error(`args: --config ${configPath}: no such file`);
  return (parseConfigText(readFileSync(path, "utf8"), path) as Record<string, unknown>) ?? null;
}

/** Throws naming the value when an axis of seeds holds anything but integers >= 0. */
export function checkSeedAxis(axes: Record<string, AxisValue[]>): void {
  for (const s of axes.seeds ?? []) {
    if (!(typeof s === "number" && Number.isInteger(s) && s >= 0)) {
      throw new Error(`axes.seeds: expected integers >= 0, got ${JSON.stringify(s)}`);
    }
  }
}
