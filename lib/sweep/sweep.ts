/**
 * A sweep's life: {@linkcode createSweep} resolves a spec against its study and writes
 * `sweep.json` (the same spec again continues the sweep); {@linkcode startRound} runs a round,
 * the first with every trial, a resume with only the trials that are not done (finished ones
 * are skipped, interrupted ones resume from their checkpoints as every task does), on the
 * spec's executor; {@linkcode waitSweep} waits for a submitted round to end;
 * {@linkcode submitGrid} is what a study's task does with `--executor slurm`.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { stableJson } from "../run/config.ts";
import { runLocal } from "./local.ts";
import {
  latestRound,
  readSweep,
  type Submission,
  sweepFile,
  type SweepRecord,
  writeSweep,
} from "./record.ts";
import { queuedJobs } from "./slurm.ts";
import { submitSlurm } from "./slurm_executor.ts";
import { argsForTrials, checkOwnedArgs } from "./flags.ts";
import {
  type AxisValue,
  expandTrials,
  type SlurmResources,
  type SweepSpec,
  type SweepSpecInput,
  type Trial,
} from "./spec.ts";
import { type SweepStatus, sweepStatus } from "./status.ts";
import type { SweepStudy } from "./study.ts";

/** A spec with its defaults filled in; throws naming the field that is wrong. */
export function resolveSpec(input: SweepSpecInput, study: SweepStudy, cwd: string): SweepSpec {
  const preset = input.preset ?? "smoke";
  const args = input.args ?? [];
  checkOwnedArgs(study.owned, args);
  const given = input.axes ?? study.defaultAxes({ preset, args, cwd });
  const axes = Object.fromEntries(
    [...study.axes, ...Object.keys(given).filter((a) => !study.axes.includes(a))]
      .filter((a) => a in given).map((a) => [a, given[a]]),
  );
  study.checkAxes(axes);
  return {
    study: study.name,
    preset,
    args,
    axes,
    executor: input.executor ?? "local",
    jobs: input.jobs ?? 1,
    slurm: input.slurm ?? {},
  };
}

/** Options of {@linkcode createSweep}. */
export interface CreateSweepOptions {
  /** The sweep directory (created). */
  dir: string;
  spec: SweepSpecInput;
  study: SweepStudy;
  /** The study's output directory (default `<dir>/<study>`), relative to `cwd` or absolute. */
  out?: string;
  /** Where the tasks run (default: here). */
  cwd?: string;
}

/**
 * Writes a new sweep's `sweep.json`, or returns the sweep already in `dir` when it is the same
 * grid (study, preset, arguments, axes, output directory): its executor settings are updated
 * to the spec's. Another grid in `dir` is an error naming what differs.
 */
export async function createSweep(o: CreateSweepOptions): Promise<SweepRecord> {
  const cwd = resolve(o.cwd ?? Deno.cwd());
  const dir = resolve(cwd, o.dir);
  const spec = resolveSpec(o.spec, o.study, cwd);
  const out = relative(dir, resolve(cwd, o.out ?? resolve(dir, spec.study))) || ".";
  const trials = expandTrials(spec.axes, { axisOrder: o.study.axes, name: o.study.trialName })
    .map((t) => ({ ...t, args: stepArgs(spec, o.study, "trial", t)! }));
  const grid = (s: SweepSpec, sweepOut: string) =>
    stableJson({ study: s.study, preset: s.preset, args: s.args, axes: s.axes, out: sweepOut });
  if (existsSync(sweepFile(dir))) {
    const existing = readSweep(dir);
    if (grid(existing.spec, existing.out) !== grid(spec, out)) {
      const changed = (["study", "preset", "args", "axes"] as const)
        .filter((k) => stableJson(existing.spec[k]) !== stableJson(spec[k]))
        .concat(existing.out !== out ? ["out"] as never[] : []);
      throw new Error(
        `${sweepFile(dir)}: holds another sweep (changed: ${changed.join(", ")}); choose ` +
          `another sweep directory, or resume this one as it is`,
      );
    }
    existing.spec = {
      ...existing.spec,
      executor: spec.executor,
      jobs: spec.jobs,
      slurm: spec.slurm,
    };
    await writeSweep(dir, existing);
    return existing;
  }
  const record: SweepRecord = {
    version: 1,
    spec,
    taskFile: o.study.taskFile,
    out,
    cwd,
    prepare: stepArgs(spec, o.study, "prepare"),
    trials,
    gather: stepArgs(spec, o.study, "gather")!,
    createdAt: new Date().toISOString(),
    submissions: [],
  };
  await writeSweep(dir, record);
  return record;
}

function stepArgs(
  spec: SweepSpec,
  study: SweepStudy,
  step: "prepare" | "trial" | "gather",
  trial?: Trial,
): string[] | null {
  const own = study.stepArgs(step, spec.axes, trial);
  return own === null ? null : ["--preset", spec.preset, ...spec.args, ...own];
}

/** What {@linkcode startRound} did. */
export interface RoundResult {
  /** The round started (0: nothing to do). */
  round: number;
  submissions: Submission[];
  /** The trials it runs, and those it skips as done. */
  trials: string[];
  skipped: string[];
}

/** Options of {@linkcode startRound}. */
export interface StartRoundOptions {
  /** The sweep directory. */
  dir: string;
  study: SweepStudy;
  say?: (line: string) => void;
}

/**
 * Starts a round of the sweep on its executor: prepare (unless it succeeded before), every
 * trial that is not done, and gather. Refuses while a step of the sweep is pending or running.
 * Local rounds run here and return when gathered; Slurm rounds return once submitted.
 */
export async function startRound(o: StartRoundOptions): Promise<RoundResult> {
  const dir = resolve(o.dir);
  const say = o.say ?? (() => {});
  const status = await sweepStatus(dir, o.study);
  for (const note of status.notes) say(`note: ${note}`);
  const active = status.steps.filter((s) => s.state === "pending" || s.state === "running");
  if (active.length) {
    throw new Error(
      `${dir}: ${
        active.map((s) => `${s.name} (${s.state}${s.job ? `, job ${s.job}` : ""})`)
          .join(", ")
      } not ended yet: wait for them (deno task sweep wait ${o.dir}) or cancel ` +
        `them (scancel JOBID) first`,
    );
  }
  const trials = status.steps.filter((s) => s.step.kind === "trial");
  const todo = trials.filter((s) => s.state !== "done");
  const gather = status.steps.find((s) => s.step.kind === "gather")!;
  const prepare = status.steps.find((s) => s.step.kind === "prepare");
  const record = readSweep(dir);
  const result = {
    trials: todo.map((s) => s.name),
    skipped: trials.filter((s) => s.state === "done").map((s) => s.name),
  };
  if (todo.length === 0 && gather.state === "done") {
    say(`all ${trials.length} trials are done and gathered: nothing to do`);
    return { round: 0, submissions: [], ...result };
  }
  const round = latestRound(record) + 1;
  const runPrepare = todo.length > 0 && prepare !== undefined && prepare.state !== "done";
  const indices = todo.map((s) => (s.step as { index: number }).index);
  if (result.skipped.length) {
    say(`skipping ${result.skipped.length} done: ${result.skipped.join(", ")}`);
  }
  say(`round ${round}: ${todo.length} trial(s)${runPrepare ? " after prepare" : ""}, then gather`);
  if (record.spec.executor === "local") {
    await runLocal({ dir, record, study: o.study, round, prepare: runPrepare, indices, say });
    return {
      round,
      submissions: readSweep(dir).submissions.filter((s) => s.round === round),
      ...result,
    };
  }
  const submissions = await submitSlurm({ dir, record, round, prepare: runPrepare, indices });
  for (const s of submissions) {
    say(`submitted ${s.step}: job ${s.jobId}${s.indices ? ` (array ${s.indices.join(",")})` : ""}`);
  }
  return { round, submissions, ...result };
}

/** Options of {@linkcode waitSweep}. */
export interface WaitOptions {
  dir: string;
  study: SweepStudy;
  /** Seconds between looks at the queue (default 1). */
  pollSeconds?: number;
  /** Give up after this many seconds (default: never). */
  timeoutSeconds?: number;
}

/**
 * Waits until no job of the sweep's latest round is queued or running (Slurm), then returns the
 * sweep's status. Polls `squeue` only, which is cheap for the scheduler.
 */
export async function waitSweep(o: WaitOptions): Promise<SweepStatus> {
  const dir = resolve(o.dir);
  const record = readSweep(dir);
  const round = latestRound(record);
  const ids = record.submissions.filter((s) => s.round === round && s.jobId).map((s) => s.jobId!);
  const start = Date.now();
  while (ids.length && (await queuedJobs(ids)).length > 0) {
    if (o.timeoutSeconds !== undefined && Date.now() - start > o.timeoutSeconds * 1000) {
      throw new Error(
        `${dir}: jobs ${ids.join(", ")} still queued or running after ${o.timeoutSeconds} s`,
      );
    }
    await new Promise((r) => setTimeout(r, (o.pollSeconds ?? 1) * 1000));
  }
  return await sweepStatus(dir, o.study);
}

/** Options of {@linkcode submitGrid}. */
export interface SubmitGridOptions {
  study: SweepStudy;
  preset: string;
  /** The study's output directory; the sweep's is `<out>/sweep`. */
  out: string;
  /** The task's command line (its sweep-owned options are dropped). */
  args: readonly string[];
  axes: Record<string, AxisValue[]>;
  slurm: SlurmResources;
  say: (line: string) => void;
}

/**
 * Hands a task's grid to the sweep layer as a Slurm sweep in `<out>/sweep`: prepare (where the
 * study has one), one array task per trial, the report over them, chained by dependencies.
 * Returns once submitted; the same call again (like `deno task sweep resume`) resubmits only
 * the trials that are not done.
 */
export async function submitGrid(o: SubmitGridOptions): Promise<void> {
  const dir = join(o.out, "sweep");
  await createSweep({
    dir,
    study: o.study,
    out: o.out,
    spec: {
      study: o.study.name,
      preset: o.preset,
      args: argsForTrials(o.study.owned, o.args),
      axes: o.axes,
      executor: "slurm",
      slurm: o.slurm,
    },
  });
  const result = await startRound({ dir, study: o.study, say: o.say });
  if (result.round > 0) {
    o.say(
      `the trials go to ${o.out}; follow them with: deno task sweep status ${dir} ` +
        `(deno task sweep wait ${dir} waits for the report)`,
    );
  }
}
