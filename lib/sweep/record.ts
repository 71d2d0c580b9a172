/**
 * The files of a sweep directory:
 *
 * - `sweep.json`: the spec, the expanded trials with each step's task arguments, the study's
 *   output directory, and every submission (executor, Slurm job ids), written atomically;
 * - `steps/prepare.json`, `steps/trials/<trial>.json`, `steps/gather.json`: each step's attempts
 *   (when its task started and ended, its exit code, host, Slurm ids, log), written by the step
 *   runner;
 * - `logs/`: one log per attempt (`<arrayjob>_<index>.out` on Slurm, `<step>.<attempt>.out`
 *   locally); `batch/`: the sbatch scripts as submitted.
 *
 * Imports nothing heavy: the step runner of every Slurm task reads these files.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../run/atomic.ts";
import type { ExecutorKind, SweepSpec, Trial } from "./spec.ts";

/** A trial with the arguments of its task call (after `run -A tasks/<task>`, before `--out`). */
export interface TrialStep extends Trial {
  args: string[];
}

/** One submission of steps: a Slurm job (or array), or a local run of the sweep. */
export interface Submission {
  /** 1 for the sweep's first run, one more per `resume`. */
  round: number;
  step: "prepare" | "trials" | "gather";
  executor: ExecutorKind;
  /** When it was submitted (just before `sbatch`, or when the local run started it). */
  at: string;
  /** `trials`: the trials' indices. */
  indices?: number[];
  /** Slurm: the job id `sbatch` answered (an array's job id for `trials`). */
  jobId?: string;
  /** Slurm: the sbatch command line. */
  command?: string[];
  /** Local: the sweep process that runs the steps, and its host. */
  pid?: number;
  host?: string;
}

/** `sweep.json`. */
export interface SweepRecord {
  version: 1;
  spec: SweepSpec;
  /** The study's task file under `tasks/`. */
  taskFile: string;
  /** The study's output directory, relative to the sweep directory. */
  out: string;
  /** Where every task runs (relative paths among the arguments resolve here). */
  cwd: string;
  /** `prepare`'s arguments; null when the grid needs none. */
  prepare: string[] | null;
  trials: TrialStep[];
  gather: string[];
  createdAt: string;
  submissions: Submission[];
}

/** A step of a sweep, as the step runner is told it. */
export type StepRef = { kind: "prepare" } | { kind: "gather" } | { kind: "trial"; index: number };

/** One run of a step's task. */
export interface Attempt {
  /** The round of the sweep it belongs to. */
  round: number;
  /** When its task process started and ended (ISO). */
  started: string;
  ended?: string;
  exitCode?: number;
  /** The signal that ended it, if one did. */
  signal?: string;
  host: string;
  /** The step runner's pid, and its task's. */
  pid: number;
  childPid?: number;
  /** Slurm: the job's own id, and its array job and index for a trial. */
  slurm?: { jobId: string; arrayJobId?: string; arrayTaskId?: number };
  /** Its log, relative to the sweep directory. */
  log: string;
}

/** `steps/...json`: a step's attempts, oldest first. */
export interface StepRecord {
  step: string;
  attempts: Attempt[];
}

/** Path of `sweep.json` in a sweep directory. */
export function sweepFile(dir: string): string {
  return join(dir, "sweep.json");
}

/** Reads `sweep.json`; throws naming the file when it is missing or not a sweep record. */
export function readSweep(dir: string): SweepRecord {
  const path = sweepFile(dir);
  if (!existsSync(path)) {
    throw new Error(`${path}: no such file (not a sweep directory; start one with sweep run)`);
  }
  const record = JSON.parse(readFileSync(path, "utf8")) as SweepRecord;
  if (record.version !== 1 || !Array.isArray(record.trials)) {
    throw new Error(`${path}: not a version-1 sweep record`);
  }
  return record;
}

/** Writes `sweep.json` atomically. */
export async function writeSweep(dir: string, record: SweepRecord): Promise<void> {
  await writeFileAtomic(sweepFile(dir), JSON.stringify(record, null, 1) + "\n");
}

/** Adds submissions to `sweep.json` (read again first: a record is only ever extended). */
export async function addSubmissions(dir: string, ...submissions: Submission[]): Promise<void> {
  const record = readSweep(dir);
  record.submissions.push(...submissions);
  await writeSweep(dir, record);
}

/** The latest round of a sweep (0 before its first submission). */
export function latestRound(record: SweepRecord): number {
  return Math.max(0, ...record.submissions.map((s) => s.round));
}

/** The study's output directory, absolute. */
export function outDir(dir: string, record: SweepRecord): string {
  return resolve(dir, record.out);
}

/** A step's name: `prepare`, `gather` or the trial's name. */
export function stepName(record: SweepRecord, step: StepRef): string {
  if (step.kind !== "trial") return step.kind;
  const trial = record.trials[step.index];
  if (!trial) {
    throw new Error(
      `trial index ${step.index}: the sweep has trials 0-${record.trials.length - 1}`,
    );
  }
  return trial.name;
}

/** Path of a step's attempts file. */
export function stepFile(dir: string, record: SweepRecord, step: StepRef): string {
  return step.kind === "trial"
    ? join(dir, "steps", "trials", `${stepName(record, step)}.json`)
    : join(dir, "steps", `${step.kind}.json`);
}

/** A step's attempts, oldest first (none before it first ran). */
export function readAttempts(dir: string, record: SweepRecord, step: StepRef): Attempt[] {
  const path = stepFile(dir, record, step);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as StepRecord).attempts : [];
}

/** Writes a step's attempts atomically (only the step's own runner writes them). */
export async function writeAttempts(
  dir: string,
  record: SweepRecord,
  step: StepRef,
  attempts: Attempt[],
): Promise<void> {
  const body: StepRecord = { step: stepName(record, step), attempts };
  await writeFileAtomic(stepFile(dir, record, step), JSON.stringify(body, null, 1) + "\n");
}

/** The task arguments of a step (without `--out`); null for a `prepare` the grid skips. */
export function stepArgs(record: SweepRecord, step: StepRef): string[] | null {
  if (step.kind === "prepare") return record.prepare;
  if (step.kind === "gather") return record.gather;
  return record.trials[step.index].args;
}

/**
 * The command line of a step: `deno run -A <root>/tasks/<task> <args> --out <out>`, run in the
 * sweep's `cwd`.
 */
export function stepCommand(
  dir: string,
  record: SweepRecord,
  step: StepRef,
  opts: { deno: string; root: string },
): string[] {
  const args = stepArgs(record, step);
  if (args === null) throw new Error(`${sweepFile(dir)}: this sweep has no prepare step`);
  return [
    opts.deno,
    "run",
    "-A",
    join(opts.root, "tasks", record.taskFile),
    ...args,
    "--out",
    outDir(dir, record),
  ];
}
