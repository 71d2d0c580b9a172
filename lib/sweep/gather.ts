/**
 * The gather step: once every trial of a round has ended, however it ended, each failed trial's
 * failure is recorded where the study's report reads it (with its exit code or Slurm state and
 * the end of its log), then the study's report runs over all trials. So a trial that was killed,
 * timed out or never started is listed as failed in the report, never silently missing.
 *
 * @module
 */

import { join, relative } from "node:path";
import { outDir, readSweep } from "./record.ts";
import { runStep, type RunStepOptions } from "./step.ts";
import { sweepStatus } from "./status.ts";
import type { Attempt } from "./record.ts";
import type { SweepStudy } from "./study.ts";
import type { StepStatus } from "./status.ts";

/** Marks a failure message the sweep wrote, so a second gather does not write it again. */
const SWEEP_NOTE = "[sweep: ";

/**
 * The failure message of a failed trial: the study's error (if any), then the sweep's note: the
 * job, how its task ended and the end of its log (named `logShown`).
 */
export function failureMessage(st: StepStatus, logShown: string | undefined): string {
  const job = st.job ? `Slurm job ${st.job}: ` : "";
  const tail = st.logTail?.length
    ? `; log ${logShown} ends: ${st.logTail.slice(-3).join(" / ")}`
    : "";
  return `${st.error ? `${st.error} ` : ""}${SWEEP_NOTE}${job}${st.ending ?? "failed"}${tail}]`;
}

/** Options of {@linkcode gatherSweep}. */
export interface GatherOptions {
  /** The sweep directory. */
  dir: string;
  study: SweepStudy;
  /** The round being gathered. */
  round: number;
  /** Where the report's output goes (see {@linkcode RunStepOptions}). */
  log: RunStepOptions["log"];
  /** Progress lines. */
  say?: (line: string) => void;
}

/** Records the failed trials' failures, then runs the study's report; returns its attempt. */
export async function gatherSweep(o: GatherOptions): Promise<Attempt> {
  const status = await sweepStatus(o.dir, o.study);
  const record = readSweep(o.dir);
  const out = outDir(o.dir, record);
  for (const st of status.steps) {
    if (st.step.kind !== "trial" || st.state !== "failed") continue;
    if (st.error?.includes(SWEEP_NOTE)) continue;
    // The report lives in the study's directory: the log is named from there.
    const message = failureMessage(st, st.log && relative(out, join(o.dir, st.log)));
    await o.study.recordFailure(out, record.trials[st.step.index], message);
    o.say?.(`${st.name}: failed: ${message}`);
  }
  o.say?.(`gathering ${record.trials.length} trials into ${out}`);
  return await runStep(o.dir, { kind: "gather" }, { log: o.log, round: o.round });
}
