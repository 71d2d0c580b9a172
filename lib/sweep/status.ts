/**
 * The state of every step of a sweep, from three sources: the study's own files (a trial whose
 * run is finished is done, whatever else happened), the step runner's attempts (exit code,
 * start and end), and the scheduler (`squeue` for pending and running jobs, `scontrol` and
 * `sacct` for jobs that ended without their runner recording it: time limit, `scancel`, a lost
 * node). A trial that ended any other way than done is `failed`, with its exit code or Slurm
 * state and the tail of its log.
 *
 * Also the timing of each round: from the first submission to the gathered report, how much of
 * it the steps' tasks ran, and the rest, the scheduler's (and the sweep's) overhead.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  type Attempt,
  outDir,
  readAttempts,
  readSweep,
  type StepRef,
  type Submission,
  type SweepRecord,
} from "./record.ts";
import { endedJobs, isFinalState, queuedJobs, type SlurmJob } from "./slurm.ts";
import { logPath } from "./slurm_executor.ts";
import type { SweepStudy, TrialOutcome } from "./study.ts";

/** Where a step stands. */
export type StepState = "done" | "running" | "pending" | "failed" | "not submitted";

/** One step of a sweep (prepare, a trial, gather) and what is known of it. */
export interface StepStatus {
  /** `prepare`, `gather` or the trial's name. */
  name: string;
  step: StepRef;
  state: StepState;
  /** The latest submission's round. */
  round?: number;
  /** Slurm: `<job>` or `<array job>_<index>` of the latest submission. */
  job?: string;
  /** The scheduler's state of that job, and its reason (why pending, why it ended). */
  slurmState?: string;
  reason?: string;
  /** The exit code (and signal) of the latest attempt, or of the job where the runner was cut. */
  exitCode?: number;
  signal?: string;
  /** A failed step: how its task ended, in one line (exit code, Slurm state, never ran). */
  ending?: string;
  /** A failed trial: the error its study recorded, if it recorded one. */
  error?: string;
  /** A trial's outcome as its run directory records it. */
  outcome?: TrialOutcome;
  /** The latest attempt's log (relative to the sweep directory) and its last lines. */
  log?: string;
  logTail?: string[];
  /** How many times the step ran, and how long its task took the latest time (seconds). */
  attempts: number;
  seconds?: number;
}

/** The timing of one round of a sweep (a `run` or a `resume`) that has gathered. */
export interface RoundTiming {
  round: number;
  executor: string;
  /** Seconds from the first submission to the end of the gather step's task. */
  wallSeconds: number;
  /** Seconds in which at least one step's task was running. */
  taskSeconds: number;
  /** The rest: waiting for the scheduler, dependencies, the step runners' own start. */
  overheadSeconds: number;
}

/** A sweep's status. */
export interface SweepStatus {
  dir: string;
  record: SweepRecord;
  steps: StepStatus[];
  timings: RoundTiming[];
  /** Things the status could not find out (e.g. Slurm not reachable from here). */
  notes: string[];
}

/**
 * The lines of a log's end: progress-bar redraws (`\r`), colours and stack frames (`    at
 * ...`, which would push the error itself out of a short tail) removed.
 */
export function logTail(text: string, lines = 8): string[] {
  return text.split("\n")
    .map((l) => l.split("\r").filter((s) => s.trim()).pop() ?? "")
    // deno-lint-ignore no-control-regex
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").trimEnd())
    .filter((l) => l.trim() && !/^\s+at /.test(l))
    .slice(-lines)
    .map((l) => (l.length > 240 ? `${l.slice(0, 237)}...` : l));
}

function readTail(dir: string, log: string | undefined): string[] | undefined {
  if (!log) return undefined;
  const path = join(dir, log);
  return existsSync(path) ? logTail(readFileSync(path, "utf8")) : undefined;
}

function seconds(a: Attempt): number | undefined {
  return a.ended ? (Date.parse(a.ended) - Date.parse(a.started)) / 1000 : undefined;
}

/** The latest submission that covers a step. */
function latestSubmission(record: SweepRecord, step: StepRef): Submission | undefined {
  const kind = step.kind === "trial" ? "trials" : step.kind;
  return record.submissions.filter((s) =>
    s.step === kind && (step.kind !== "trial" || s.indices?.includes(step.index))
  ).pop();
}

/** The scheduler's key of a step's job in a submission: `12` or `12_3`. */
function jobKey(sub: Submission, step: StepRef): string | undefined {
  if (!sub.jobId) return undefined;
  return step.kind === "trial" ? `${sub.jobId}_${step.index}` : sub.jobId;
}

function keyOf(job: SlurmJob): string {
  return job.arrayJobId !== undefined ? `${job.arrayJobId}_${job.arrayTaskId}` : job.jobId;
}

/** Whether a local process is alive (on this host). */
function alive(pid: number | undefined, host: string | undefined): boolean {
  // kill(0) would signal our own process group: 0 is never a step's pid.
  if (!pid || pid < 0 || host !== hostname()) return false;
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** The scheduler's view of the sweep's latest jobs, keyed `12` / `12_3`; null without Slurm. */
async function schedulerView(
  record: SweepRecord,
  refs: StepRef[],
  dir: string,
  notes: string[],
): Promise<Map<string, SlurmJob> | null> {
  const subs = refs.map((r) => latestSubmission(record, r)).filter((s) => s?.executor === "slurm");
  const ids = [...new Set(subs.map((s) => s!.jobId!))];
  if (ids.length === 0) return null;
  try {
    const view = new Map<string, SlurmJob>();
    for (const job of await queuedJobs(ids)) view.set(keyOf(job), job);
    // Jobs that left the queue without their runner recording an end: ask what became of them.
    const unsettled = refs.filter((r) => {
      const sub = latestSubmission(record, r);
      const key = sub && jobKey(sub, r);
      if (!key || view.has(key)) return false;
      const last = readAttempts(dir, record, r).filter((a) => a.round === sub!.round).pop();
      return !last?.ended;
    });
    if (unsettled.length) {
      const jobs = [...new Set(unsettled.map((r) => latestSubmission(record, r)!.jobId!))];
      const raw = unsettled.flatMap((r) =>
        readAttempts(dir, record, r).map((a) => a.slurm?.jobId).filter((x): x is string => !!x)
      );
      const ended = await endedJobs(jobs, raw);
      const byRaw = new Map<string, string>();
      for (const r of unsettled) {
        const sub = latestSubmission(record, r)!;
        for (const a of readAttempts(dir, record, r)) {
          if (a.slurm?.jobId && a.round === sub.round) byRaw.set(a.slurm.jobId, jobKey(sub, r)!);
        }
      }
      for (const job of ended) {
        // `sacct -c` names array tasks by their own ids: the runner's record maps them back.
        const key = job.arrayJobId === undefined && byRaw.has(job.jobId)
          ? byRaw.get(job.jobId)!
          : keyOf(job);
        if (!view.has(key)) view.set(key, job);
      }
    }
    return view;
  } catch (err) {
    notes.push(
      `Slurm not reachable from here (${(err as Error).message}): states below come ` +
        `from the sweep's own records only`,
    );
    return null;
  }
}

/** Every step of the sweep in `dir` with its state; `study` reads the trials' run directories. */
export async function sweepStatus(dir: string, study: SweepStudy): Promise<SweepStatus> {
  const record = readSweep(dir);
  const out = outDir(dir, record);
  const notes: string[] = [];
  const refs: StepRef[] = [
    ...(record.prepare ? [{ kind: "prepare" } as const] : []),
    ...record.trials.map((t) => ({ kind: "trial", index: t.index }) as const),
    { kind: "gather" },
  ];
  const view = await schedulerView(record, refs, dir, notes);
  const steps = refs.map((ref) => stepStatus({ dir, record, ref, view, study, out }));
  return { dir, record, steps, timings: roundTimings(dir, record, refs), notes };
}

function stepStatus(o: {
  dir: string;
  record: SweepRecord;
  ref: StepRef;
  view: Map<string, SlurmJob> | null;
  study: SweepStudy;
  out: string;
}): StepStatus {
  const { dir, record, ref } = o;
  const name = ref.kind === "trial" ? record.trials[ref.index].name : ref.kind;
  const attempts = readAttempts(dir, record, ref);
  const outcome = ref.kind === "trial"
    ? o.study.trialOutcome(o.out, record.trials[ref.index])
    : undefined;
  const sub = latestSubmission(record, ref);
  const status: StepStatus = { name, step: ref, state: "not submitted", attempts: attempts.length };
  if (outcome) status.outcome = outcome;
  if (!sub) {
    if (outcome?.state === "done") status.state = "done";
    return status;
  }
  status.round = sub.round;
  const last = attempts.filter((a) => a.round === sub.round).pop();
  const key = jobKey(sub, ref);
  if (key) status.job = key;
  const job = key ? o.view?.get(key) : undefined;
  if (job) {
    status.slurmState = job.state;
    if (job.reason) status.reason = job.reason;
  }
  status.log = last?.log ??
    (sub.jobId
      ? logPath(ref.kind === "trial" ? "trials" : ref.kind, {
        jobId: sub.jobId,
        arrayJobId: sub.jobId,
        arrayTaskId: ref.kind === "trial" ? ref.index : undefined,
      })
      : undefined);
  if (last?.ended !== undefined) status.seconds = seconds(last);

  // Still queued or running? (A job whose runner recorded its task's end is only tidying up.)
  if (job && !isFinalState(job.state) && last?.ended === undefined) {
    status.state = job.state === "PENDING" ? "pending" : "running";
    return status;
  }
  if (sub.executor === "local" && !last?.ended) {
    if (last && alive(last.childPid ?? last.pid, last.host)) {
      status.state = "running";
      return status;
    }
    // A trial without an attempt waits for its turn while the local run lives and has not
    // gone on to gather (it skips the trials when prepare failed).
    const gathering = readAttempts(dir, record, { kind: "gather" }).some((a) =>
      a.round === sub.round
    );
    if (!last && !gathering && alive(sub.pid, sub.host)) {
      status.state = "pending";
      return status;
    }
  }

  // It ended, or never ran.
  if (last?.ended !== undefined) {
    status.exitCode = last.exitCode;
    if (last.signal) status.signal = last.signal;
  } else if (job?.exitCode !== undefined) {
    status.exitCode = job.exitCode;
    if (job.signal) status.signal = `signal ${job.signal}`;
  }
  const succeeded = last?.ended !== undefined && last.exitCode === 0;
  if (ref.kind !== "trial") {
    status.state = succeeded ? "done" : "failed";
  } else if (outcome!.state === "done") {
    status.state = "done";
  } else {
    status.state = "failed";
  }
  if (status.state === "failed") {
    status.ending = describeEnding(status, last, sub, job);
    if (outcome?.state === "failed" && outcome.error) status.error = outcome.error;
    status.logTail = readTail(dir, status.log);
  }
  return status;
}

/** One line on how a failed step's task ended. */
function describeEnding(
  s: StepStatus,
  last: Attempt | undefined,
  sub: Submission,
  job: SlurmJob | undefined,
): string {
  const slurm = job ? `Slurm ${job.state}${job.reason ? ` (${job.reason})` : ""}` : "";
  const parts: string[] = [];
  if (last?.ended !== undefined) {
    parts.push(
      last.exitCode === 0
        ? `its task exited 0 but its run is ${s.outcome?.state ?? "unfinished"}`
        : `exit code ${last.exitCode}${last.signal ? ` (${last.signal})` : ""}`,
    );
  } else if (last) {
    parts.push(
      `its task was cut off${slurm ? ` (${slurm}, exit code ${job!.exitCode ?? "?"})` : ""}`,
    );
  } else if (sub.executor === "slurm") {
    parts.push(`it never ran${slurm ? ` (${slurm})` : " (Slurm no longer knows the job)"}`);
  } else {
    parts.push("it never ran (the local sweep stopped before it)");
  }
  if (last?.ended !== undefined && slurm && job!.state !== "COMPLETED") parts.push(slurm);
  return parts.join("; ");
}

/** The length of the union of intervals, in seconds. */
export function unionSeconds(intervals: [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [start, end] = [-Infinity, -Infinity];
  for (const [a, b] of sorted) {
    if (a > end) {
      if (end > start) total += end - start;
      [start, end] = [a, b];
    } else end = Math.max(end, b);
  }
  if (end > start) total += end - start;
  return total / 1000;
}

function roundTimings(dir: string, record: SweepRecord, refs: StepRef[]): RoundTiming[] {
  const rounds = [...new Set(record.submissions.map((s) => s.round))].sort((a, b) => a - b);
  const timings: RoundTiming[] = [];
  for (const round of rounds) {
    const subs = record.submissions.filter((s) => s.round === round);
    const gather = readAttempts(dir, record, { kind: "gather" }).filter((a) => a.round === round)
      .pop();
    if (!gather?.ended) continue;
    const start = Math.min(...subs.map((s) => Date.parse(s.at)));
    const spans = refs.flatMap((r) =>
      readAttempts(dir, record, r).filter((a) => a.round === round && a.ended)
        .map((a): [number, number] => [Date.parse(a.started), Date.parse(a.ended!)])
    );
    const wall = (Date.parse(gather.ended) - start) / 1000;
    const busy = unionSeconds(spans);
    timings.push({
      round,
      executor: subs[0].executor,
      wallSeconds: wall,
      taskSeconds: busy,
      overheadSeconds: wall - busy,
    });
  }
  return timings;
}

/** A sweep's status as text: one line per step, failed ones with their log's end. */
export function formatStatus(s: SweepStatus): string {
  const { record } = s;
  const counts = new Map<StepState, number>();
  for (const st of s.steps.filter((x) => x.step.kind === "trial")) {
    counts.set(st.state, (counts.get(st.state) ?? 0) + 1);
  }
  const lines = [
    `sweep ${s.dir}: study ${record.spec.study} (preset ${record.spec.preset}), ` +
    `${record.trials.length} trials, executor ${record.spec.executor}; ` +
    [...counts].map(([k, v]) => `${v} ${k}`).join(", "),
    `study output: ${outDir(s.dir, record)}`,
    ...s.notes.map((n) => `note: ${n}`),
    "",
  ];
  const width = Math.max(...s.steps.map((x) => x.name.length), 7);
  for (const st of s.steps) {
    const where = [
      st.job ? `job ${st.job}` : "",
      st.slurmState && st.state !== "done" ? st.slurmState : "",
      st.reason && st.state === "pending" ? `(${st.reason})` : "",
      st.exitCode !== undefined && st.state === "failed" ? `exit ${st.exitCode}` : "",
      st.seconds !== undefined ? `${st.seconds.toFixed(1)} s` : "",
      st.attempts > 1 ? `${st.attempts} attempts` : "",
    ].filter(Boolean).join("  ");
    lines.push(`  ${st.name.padEnd(width)}  ${st.state.padEnd(13)} ${where}`.trimEnd());
    if (st.state === "failed") {
      if (st.ending) lines.push(`  ${"".padEnd(width)}  ended: ${st.ending}`);
      if (st.error) lines.push(`  ${"".padEnd(width)}  error: ${st.error}`);
      if (st.log) lines.push(`  ${"".padEnd(width)}  log ${join(s.dir, st.log)}:`);
      for (const l of st.logTail ?? []) lines.push(`  ${"".padEnd(width)}  | ${l}`);
    }
  }
  for (const t of s.timings) {
    lines.push(
      "",
      `round ${t.round} (${t.executor}): ${t.wallSeconds.toFixed(1)} s from submission to the ` +
        `gathered report; the steps' tasks ran ${t.taskSeconds.toFixed(1)} s of it; overhead ` +
        `(scheduler, dependencies, step runners) ${t.overheadSeconds.toFixed(1)} s`,
    );
  }
  return lines.join("\n");
}
