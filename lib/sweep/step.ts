/**
 * The step runner: runs one step of a sweep (its one CLI call of the study's task) and records
 * the attempt in `steps/` (start, end, exit code, host, Slurm ids, log), so `status` can tell a
 * trial that failed from one that never ran and measure the scheduler's share of the time.
 * Every Slurm job of a sweep runs `deno task sweep step <dir> <step>`, i.e. this; the local
 * executor calls it directly.
 *
 * @module
 */

import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  type Attempt,
  readAttempts,
  readSweep,
  stepCommand,
  type StepRef,
  writeAttempts,
} from "./record.ts";

/** The project's root: the checkout this file is in (its `tasks/` hold the studies' tasks). */
export const PROJECT_ROOT: string = fileURLToPath(new URL("../..", import.meta.url));

/** Options of {@linkcode runStep}. */
export interface RunStepOptions {
  /**
   * The attempt's log, relative to the sweep directory. `write`: the task's output is written
   * there (local executor); `inherit`: the task writes to this process' stdout and stderr, which
   * Slurm already sends there.
   */
  log: { path: string; mode: "write" | "inherit" };
  /** The round of the sweep this attempt belongs to (the submission's). */
  round: number;
  /** Added to the task's environment (e.g. its share of the cores' threads). */
  env?: Record<string, string>;
  /** The Deno executable that runs the task (default: this one). */
  deno?: string;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length;) done += await file.write(data.subarray(done));
}

/** The Slurm ids of the job this process runs in, if it runs in one. */
export function slurmIds(
  env: { get(key: string): string | undefined } = Deno.env,
): Attempt["slurm"] | undefined {
  const jobId = env.get("SLURM_JOB_ID");
  if (!jobId) return undefined;
  const arrayJobId = env.get("SLURM_ARRAY_JOB_ID");
  const task = env.get("SLURM_ARRAY_TASK_ID");
  return arrayJobId && task !== undefined
    ? { jobId, arrayJobId, arrayTaskId: Number(task) }
    : { jobId };
}

/**
 * Runs one step of the sweep in `dir` and returns its attempt (with the task's exit code). The
 * attempt is recorded before the task starts and again when it ends; a SIGTERM (Slurm's time
 * limit, `scancel`) is passed on to the task, whose end is then recorded with the signal.
 */
export async function runStep(dir: string, step: StepRef, opts: RunStepOptions): Promise<Attempt> {
  const record = readSweep(dir);
  const [deno, ...args] = stepCommand(dir, record, step, {
    deno: opts.deno ?? Deno.execPath(),
    root: PROJECT_ROOT,
  });
  const attempts = readAttempts(dir, record, step);
  const attempt: Attempt = {
    round: opts.round,
    started: new Date().toISOString(),
    host: hostname(),
    pid: Deno.pid,
    slurm: slurmIds(),
    log: opts.log.path,
  };
  const child = new Deno.Command(deno, {
    args,
    cwd: record.cwd,
    env: opts.env,
    stdin: "null",
    stdout: opts.log.mode === "inherit" ? "inherit" : "piped",
    stderr: opts.log.mode === "inherit" ? "inherit" : "piped",
  }).spawn();
  attempt.childPid = child.pid;
  await writeAttempts(dir, record, step, [...attempts, attempt]);
  const forward = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGTERM", forward);
  try {
    if (opts.log.mode === "write") {
      const path = join(dir, opts.log.path);
      mkdirSync(dirname(path), { recursive: true });
      const file = await Deno.open(path, { create: true, append: true });
      // Both streams go to one file, chunk by chunk in the order they come: one chain of writes,
      // so that no chunk is cut by another.
      let writes = writeAll(file, new TextEncoder().encode(`$ ${[deno, ...args].join(" ")}\n`));
      try {
        await Promise.all([child.stdout, child.stderr].map(async (stream) => {
          for await (const chunk of stream) writes = writes.then(() => writeAll(file, chunk));
        }));
        await writes;
      } finally {
        file.close();
      }
    }
    const status = await child.status;
    attempt.ended = new Date().toISOString();
    attempt.exitCode = status.code;
    if (status.signal) attempt.signal = status.signal;
  } finally {
    Deno.removeSignalListener("SIGTERM", forward);
  }
  await writeAttempts(dir, record, step, [...attempts, attempt]);
  return attempt;
}
