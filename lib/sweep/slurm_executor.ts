/**
 * The Slurm executor: a sweep round is at most three jobs, each a batch script in `batch/` that
 * runs `deno task sweep step|gather` (the step runner) on a compute node:
 *
 * - `prepare` (when the grid has one), a plain job;
 * - the trials, one `sbatch --array=<indices>` job whose index names the trial in `sweep.json`,
 *   after `prepare` succeeded (`--dependency=afterok`); its tasks log to `logs/%A_%a.out`;
 * - `gather`, after every trial ended however it ended (`--dependency=afterany`).
 *
 * A job whose dependency can never be met (prepare failed) is cancelled by Slurm
 * (`--kill-on-invalid-dep=yes`) rather than left pending forever; the gather step then records
 * the trials as failed. Every job gets the spec's resources; the sweep directory and the
 * project must be on a file system the compute nodes share.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../run/atomic.ts";
import { addSubmissions, outDir, type Submission, type SweepRecord } from "./record.ts";
import { formatArrayIndices, parseSbatch, slurmCommand } from "./slurm.ts";
import type { SlurmResources } from "./spec.ts";
import { PROJECT_ROOT } from "./step.ts";

/** A string as one single-quoted shell word. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The sbatch options of a sweep's resources, as `#SBATCH` lines take them. */
export function resourceOptions(r: SlurmResources): string[] {
  return [
    ...(r.partition ? [`--partition=${r.partition}`] : []),
    ...(r.account ? [`--account=${r.account}`] : []),
    ...(r.time ? [`--time=${r.time}`] : []),
    ...(r.cpusPerTask ? [`--cpus-per-task=${r.cpusPerTask}`] : []),
    ...(r.mem ? [`--mem=${r.mem}`] : []),
    ...(r.gres ? [`--gres=${r.gres}`] : []),
    ...(r.extra ?? []),
  ];
}

/** The log of a step's job, relative to the sweep directory, as sbatch's `--output` pattern. */
export function logPattern(step: "prepare" | "trials" | "gather"): string {
  return step === "trials" ? join("logs", "%A_%a.out") : join("logs", `${step}_%j.out`);
}

/** The log a running job writes: {@linkcode logPattern} with its ids filled in. */
export function logPath(
  step: "prepare" | "trials" | "gather",
  ids: { jobId: string; arrayJobId?: string; arrayTaskId?: number },
): string {
  return step === "trials"
    ? join("logs", `${ids.arrayJobId}_${ids.arrayTaskId}.out`)
    : join("logs", `${step}_${ids.jobId}.out`);
}

/** Options of {@linkcode batchScript}. */
export interface BatchScriptOptions {
  /** The sweep directory (absolute: the script runs on another node). */
  dir: string;
  step: "prepare" | "trials" | "gather";
  /** The round the job belongs to (its attempts are recorded under it). */
  round: number;
  jobName: string;
  /** Where the tasks run. */
  cwd: string;
  resources: SlurmResources;
  /** The Deno executable on the compute nodes. */
  deno: string;
}

/** The batch script of one of a sweep's jobs. */
export function batchScript(o: BatchScriptOptions): string {
  const sweepTask = join(PROJECT_ROOT, "tasks", "sweep.ts");
  const run = o.step === "gather" ? ["gather", o.dir, "--round", String(o.round)] : [
    "step",
    o.dir,
    o.step === "trials" ? "$SLURM_ARRAY_TASK_ID" : "prepare",
    "--round",
    String(o.round),
  ];
  const command = [o.deno, "run", "-A", sweepTask, ...run].map((w) =>
    w.startsWith("$") ? `"${w}"` : shellQuote(w)
  );
  return [
    "#!/bin/bash",
    `#SBATCH --job-name=${shellQuote(o.jobName)}`,
    `#SBATCH --output=${shellQuote(join(o.dir, logPattern(o.step)))}`,
    `#SBATCH --chdir=${shellQuote(o.cwd)}`,
    ...resourceOptions(o.resources).map((opt) => `#SBATCH ${opt}`),
    "",
    `# Written by deno task sweep: the ${o.step} of the sweep in ${o.dir}.`,
    "# A native backend uses the cores Slurm gave the task, unless JEPA_NATIVE_THREADS says otherwise.",
    'export JEPA_NATIVE_THREADS="${JEPA_NATIVE_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"',
    `exec ${command.join(" ")}`,
    "",
  ].join("\n");
}

/** Options of {@linkcode submitSlurm}. */
export interface SubmitSlurmOptions {
  /** The sweep directory (absolute). */
  dir: string;
  record: SweepRecord;
  /** The round these jobs make (1 for a new sweep, more for a resume). */
  round: number;
  /** Submit the prepare step first (the trials then wait for it). */
  prepare: boolean;
  /** The trials to submit (none: only the steps around them). */
  indices: number[];
  /** The Deno executable on the compute nodes (default: this one's path). */
  deno?: string;
}

/**
 * Submits a sweep round: prepare, the trials' array, gather, chained by dependencies; records
 * each submission in `sweep.json` as soon as sbatch answers. Returns the submissions.
 */
export async function submitSlurm(o: SubmitSlurmOptions): Promise<Submission[]> {
  const { spec } = o.record;
  const deno = o.deno ?? Deno.execPath();
  const name = `${spec.study}:${basename(outDir(o.dir, o.record))}`;
  // Slurm opens each job's log before the job starts: a missing folder fails the launch.
  mkdirSync(join(o.dir, "logs"), { recursive: true });
  const submissions: Submission[] = [];
  const submit = async (
    step: "prepare" | "trials" | "gather",
    extra: string[],
    indices?: number[],
  ) => {
    const script = join(o.dir, "batch", `${step}.sh`);
    await writeFileAtomic(
      script,
      batchScript({
        dir: o.dir,
        step,
        round: o.round,
        jobName: name,
        cwd: o.record.cwd,
        resources: spec.slurm,
        deno,
      }),
    );
    const command = ["sbatch", "--parsable", ...extra, script];
    const at = new Date().toISOString();
    const out = await slurmCommand(command[0], command.slice(1));
    if (out.code !== 0) {
      throw new Error(
        `${command.join(" ")}: exit ${out.code}: ${out.stderr.trim() || out.stdout.trim()}`,
      );
    }
    const submission: Submission = {
      round: o.round,
      step,
      executor: "slurm",
      at,
      jobId: parseSbatch(out.stdout),
      command,
      ...(indices ? { indices } : {}),
    };
    await addSubmissions(o.dir, submission);
    submissions.push(submission);
    return submission.jobId!;
  };
  // A dependency that can never be met (prepare failed) cancels the job instead of keeping it.
  const after = (kind: "afterok" | "afterany", id?: string) =>
    id ? [`--dependency=${kind}:${id}`, "--kill-on-invalid-dep=yes"] : [];
  try {
    const prepareJob = o.prepare ? await submit("prepare", []) : undefined;
    let trialsJob: string | undefined;
    if (o.indices.length > 0) {
      const throttle = spec.slurm.maxRunning ? `%${spec.slurm.maxRunning}` : "";
      trialsJob = await submit(
        "trials",
        [`--array=${formatArrayIndices(o.indices)}${throttle}`, ...after("afterok", prepareJob)],
        o.indices,
      );
    }
    await submit("gather", after("afterany", trialsJob ?? prepareJob));
  } catch (err) {
    // Half a round would run without its gather: cancel what went in, so resume starts clean.
    const ids = submissions.map((s) => s.jobId!);
    if (ids.length) await slurmCommand("scancel", ids);
    throw new Error(
      `${(err as Error).message}${
        ids.length ? ` (cancelled this round's jobs ${ids.join(", ")})` : ""
      }`,
    );
  }
  return submissions;
}
