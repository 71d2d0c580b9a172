/**
 * The local executor: a sweep round on this machine, in this process: prepare, then the trials
 * `jobs` at a time as subprocesses, then gather. The cores are shared as `deno task swap --jobs`
 * shares them: each trial's native backend gets `cores / jobs` threads (unless
 * `JEPA_NATIVE_THREADS` says otherwise), so no trial's threads wait on another's cores. Each
 * attempt logs to `logs/<step>.<attempt>.out`.
 *
 * @module
 */

import { hostname } from "node:os";
import { join } from "node:path";
import {
  addSubmissions,
  readAttempts,
  type StepRef,
  type Submission,
  type SweepRecord,
} from "./record.ts";
import { runStep } from "./step.ts";
import { gatherSweep } from "./gather.ts";
import type { SweepStudy } from "./study.ts";

/** Options of {@linkcode runLocal}. */
export interface RunLocalOptions {
  /** The sweep directory. */
  dir: string;
  record: SweepRecord;
  study: SweepStudy;
  round: number;
  /** Run the prepare step first. */
  prepare: boolean;
  /** The trials to run. */
  indices: number[];
  /** Progress lines. */
  say?: (line: string) => void;
}

/** The next attempt's log of a step, relative to the sweep directory. */
function nextLog(dir: string, record: SweepRecord, step: StepRef, name: string): string {
  return join("logs", `${name}.${readAttempts(dir, record, step).length + 1}.out`);
}

/** Runs a sweep round here and waits for it (gather included). */
export async function runLocal(o: RunLocalOptions): Promise<void> {
  const { dir, record } = o;
  const say = o.say ?? (() => {});
  const jobs = record.spec.jobs;
  const at = new Date().toISOString();
  const base = { round: o.round, executor: "local" as const, at, pid: Deno.pid, host: hostname() };
  const subs: Submission[] = [
    ...(o.prepare ? [{ ...base, step: "prepare" as const }] : []),
    ...(o.indices.length ? [{ ...base, step: "trials" as const, indices: o.indices }] : []),
    { ...base, step: "gather" },
  ];
  await addSubmissions(dir, ...subs);
  let indices = o.indices;
  if (o.prepare) {
    const ref: StepRef = { kind: "prepare" };
    const log = nextLog(dir, record, ref, "prepare");
    say(`prepare (log ${join(dir, log)})`);
    const attempt = await runStep(dir, ref, { log: { path: log, mode: "write" }, round: o.round });
    if (attempt.exitCode !== 0) {
      say(
        `prepare failed (exit ${attempt.exitCode}): the trials cannot run; see ${join(dir, log)}`,
      );
      indices = [];
    }
  }
  const threads = Deno.env.get("JEPA_NATIVE_THREADS") ||
    String(Math.max(1, Math.floor(navigator.hardwareConcurrency / jobs)));
  const queue = [...indices];
  const worker = async () => {
    for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
      const ref: StepRef = { kind: "trial", index };
      const name = record.trials[index].name;
      const log = nextLog(dir, record, ref, name);
      say(`${name}: started (log ${join(dir, log)})`);
      const attempt = await runStep(dir, ref, {
        log: { path: log, mode: "write" },
        round: o.round,
        env: { JEPA_NATIVE_THREADS: threads },
      });
      say(`${name}: exit ${attempt.exitCode}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, queue.length)) }, worker));
  const ref: StepRef = { kind: "gather" };
  const log = nextLog(dir, record, ref, "gather");
  const attempt = await gatherSweep({
    dir,
    study: o.study,
    round: o.round,
    log: { path: log, mode: "write" },
    say,
  });
  say(`gather: exit ${attempt.exitCode} (log ${join(dir, log)})`);
}
