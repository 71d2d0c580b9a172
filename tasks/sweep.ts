/**
 * `deno task sweep`: a study's grid as trials, each one CLI call of the study's task, run on
 * this machine or as a Slurm job array, gathered into the study's report; its status; resuming
 * its unfinished or failed trials.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseConfigText } from "../lib/run/config.ts";
import { anySlurmFlag, SLURM_FLAGS, slurmFromFlags } from "../lib/sweep/flags.ts";
import { readSweep, type StepRef } from "../lib/sweep/record.ts";
import { logPath } from "../lib/sweep/slurm_executor.ts";
import { parseSweepSpec, type SweepSpecInput } from "../lib/sweep/spec.ts";
import { runStep, slurmIds } from "../lib/sweep/step.ts";
import { integerFlag, parseTaskArgs, runTask, UsageError } from "./cli.ts";
import type { SweepStudy } from "../lib/sweep/study.ts";

const spec = {
  name: "sweep",
  summary: "Runs a study's grid as a sweep: each trial (a point of the grid's axes) is one call " +
    "of the study's task with its own run directory, on this machine (--executor local, --jobs " +
    "at a time) or as one Slurm job array (--executor slurm), then a gather step writes the " +
    "study's report over all trials (failed ones listed with their exit code and log). " +
    "Subcommands: run [SPEC.yaml] (a spec file, or --study NAME for the study's own grid; task " +
    "arguments after --), status DIR, resume DIR (reruns only the trials that are not done), " +
    "wait DIR. A sweep directory holds sweep.json, logs/, steps/ and batch/.",
  options: {
    study: "run: the study whose own grid to sweep (without a spec file): swap | pipeline " +
      "(its grid: seeds)",
    preset: "run: the study's preset (default: the spec's, else smoke)",
    dir: "run: the sweep directory (default results/sweep-<study>-<preset>)",
    out: "run: the study's output directory (default <dir>/<study>)",
    executor: "run/resume: local | slurm (default: the spec's, else local)",
    jobs: "run/resume, local: trials at a time, sharing the cores (default 1)",
    round: "step/gather (run by the sweep's jobs): the round the step belongs to",
    ...SLURM_FLAGS,
  },
  switches: {
    wait: "run/resume, slurm: wait for the round to end, then print the status",
    json: "status: print the status as JSON",
  },
  examples: [
    "deno task sweep run --study swap --preset smoke -- --backend cpu",
    "deno task sweep run grid.yaml --executor slurm --partition gpu --account lab --time 02:00:00",
    "deno task sweep status results/sweep-swap-smoke",
    "deno task sweep resume results/sweep-swap-smoke --time 04:00:00",
    "deno task swap --preset small --executor slurm   # the same, from the swap task",
    "deno task pipeline --preset small --seeds 0,1,2 --executor slurm   # pipeline over seeds",
  ],
};

/** The registry of studies, loaded only where a study is needed: it loads TensorFlow.js. */
async function study(name: string): Promise<SweepStudy> {
  const { sweepStudy } = await import("../lib/sweep/studies.ts");
  return sweepStudy(name);
}

function say(line: string): void {
  console.error(line);
}

/** The executor settings given on the command line, over a spec's. */
function executorOverrides(
  options: Record<string, string | undefined>,
  base: SweepSpecInput,
): Pick<SweepSpecInput, "executor" | "jobs" | "slurm"> {
  const executor = options.executor ?? base.executor ?? "local";
  if (executor !== "local" && executor !== "slurm") {
    throw new UsageError(`--executor: expected local or slurm, got '${executor}'`);
  }
  const jobs = options.jobs === undefined ? base.jobs : integerFlag("jobs", options.jobs);
  if (executor === "local" && anySlurmFlag(options)) {
    throw new UsageError("the Slurm resource options need --executor slurm");
  }
  try {
    return { executor, jobs, slurm: slurmFromFlags(options, base.slurm) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function printStatus(dir: string, name: string, json: boolean): Promise<void> {
  const { sweepStatus, formatStatus } = await import("../lib/sweep/status.ts");
  const status = await sweepStatus(dir, await study(name));
  if (json) console.log(JSON.stringify({ ...status, record: undefined }, null, 1));
  else console.log(formatStatus(status));
}

/** `run [SPEC] [--study NAME]`: creates the sweep (or continues the same one) and starts it. */
async function run(
  positionals: string[],
  options: Record<string, string | undefined>,
  passthrough: string[],
  wait: boolean,
) {
  const { createSweep } = await import("../lib/sweep/sweep.ts");
  let input: SweepSpecInput;
  const file = positionals[1];
  if (file) {
    if (options.study) throw new UsageError("give a spec file or --study, not both");
    if (!existsSync(file)) throw new UsageError(`no such spec file: ${file}`);
    try {
      input = parseSweepSpec(parseConfigText(readFileSync(file, "utf8"), file), file);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  } else if (options.study) {
    input = { study: options.study };
  } else {
    throw new UsageError("sweep run: give a spec file (SPEC.yaml) or --study NAME");
  }
  input = {
    ...input,
    ...(options.preset ? { preset: options.preset } : {}),
    ...(passthrough.length ? { args: [...(input.args ?? []), ...passthrough] } : {}),
    ...executorOverrides(options, input),
  };
  const s = await study(input.study);
  const dir = options.dir ?? join("results", `sweep-${s.name}-${input.preset ?? "smoke"}`);
  try {
    await createSweep({ dir, spec: input, study: s, out: options.out });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  await round(dir, s, wait);
}

/**
 * Starts a round of the sweep in `dir`; a local round ends here, a Slurm round is waited for
 * only when asked. Prints the status at the end, and fails naming the trials not done.
 */
async function round(dir: string, s: SweepStudy, wait: boolean) {
  const { startRound, waitSweep } = await import("../lib/sweep/sweep.ts");
  const { formatStatus } = await import("../lib/sweep/status.ts");
  const result = await startRound({ dir, study: s, say });
  const record = readSweep(dir);
  if (record.spec.executor === "slurm" && result.round > 0 && !wait) {
    say(`submitted; follow it with: deno task sweep status ${dir}`);
    return;
  }
  const status = await waitSweep({ dir, study: s });
  console.log(formatStatus(status));
  const failed = status.steps.filter((x) => x.step.kind === "trial" && x.state !== "done");
  if (failed.length) {
    throw new Error(
      `${failed.length} trial(s) not done: ${failed.map((x) => x.name).join(", ")}; they are ` +
        `in the report's table of runs; deno task sweep resume ${dir} reruns them`,
    );
  }
}

/** `step DIR INDEX|prepare --round N`: one step, as a Slurm job runs it. */
async function step(positionals: string[], options: Record<string, string | undefined>) {
  const [, dir, which] = positionals;
  if (!dir || which === undefined) {
    throw new UsageError("sweep step: expected DIR and INDEX|prepare");
  }
  const round = Number(options.round);
  if (!Number.isInteger(round)) {
    throw new UsageError(`--round: expected an integer, got '${options.round}'`);
  }
  if (which !== "prepare" && !/^\d+$/.test(which)) {
    throw new UsageError(`sweep step: expected a trial index or prepare, got '${which}'`);
  }
  const ref: StepRef = which === "prepare"
    ? { kind: "prepare" }
    : { kind: "trial", index: Number(which) };
  const ids = slurmIds();
  const kind = ref.kind === "trial" ? "trials" : "prepare";
  // In a Slurm job the output already goes to the job's log; run by hand, to a log of its own.
  const log = ids
    ? { path: logPath(kind, ids), mode: "inherit" as const }
    : { path: join("logs", `${which}.manual-${Date.now()}.out`), mode: "write" as const };
  const attempt = await runStep(dir, ref, { log, round });
  Deno.exit(attempt.exitCode ?? 1);
}

/** `gather DIR --round N`: failed trials into the report, then the report. */
async function gather(positionals: string[], options: Record<string, string | undefined>) {
  const dir = positionals[1];
  if (!dir) throw new UsageError("sweep gather: expected DIR");
  const round = Number(options.round);
  if (!Number.isInteger(round)) {
    throw new UsageError(`--round: expected an integer, got '${options.round}'`);
  }
  const { gatherSweep } = await import("../lib/sweep/gather.ts");
  const ids = slurmIds();
  const log = ids
    ? { path: logPath("gather", ids), mode: "inherit" as const }
    : { path: join("logs", `gather.manual-${Date.now()}.out`), mode: "write" as const };
  const attempt = await gatherSweep({
    dir,
    study: await study(readSweep(dir).spec.study),
    round,
    log,
    say,
  });
  Deno.exit(attempt.exitCode ?? 1);
}

if (import.meta.main) {
  runTask(async () => {
    // Arguments after `--` are the study task's own, passed to every trial as they are.
    const cut = Deno.args.indexOf("--");
    const own = cut < 0 ? Deno.args : Deno.args.slice(0, cut);
    const passthrough = cut < 0 ? [] : Deno.args.slice(cut + 1);
    const { options, switches, positionals } = parseTaskArgs(spec, own);
    const command = positionals[0];
    switch (command) {
      case "run":
        return await run(positionals, options, passthrough, switches.wait);
      case "status": {
        const dir = positionals[1];
        if (!dir) throw new UsageError("sweep status: expected DIR");
        if (!existsSync(dir)) throw new UsageError(`no such sweep directory: ${dir}`);
        return await printStatus(dir, readSweep(dir).spec.study, switches.json);
      }
      case "resume":
      case "wait": {
        if (!positionals[1]) throw new UsageError(`sweep ${command}: expected DIR`);
        // The sweep's tasks run in the directory it was made in: its paths are absolute here.
        const dir = resolve(positionals[1]);
        const record = readSweep(dir);
        const s = await study(record.spec.study);
        if (command === "wait") {
          const { waitSweep } = await import("../lib/sweep/sweep.ts");
          const { formatStatus } = await import("../lib/sweep/status.ts");
          console.log(formatStatus(await waitSweep({ dir, study: s })));
          return;
        }
        const { createSweep } = await import("../lib/sweep/sweep.ts");
        // Executor options given to resume replace the sweep's (e.g. a longer --time).
        const overrides = executorOverrides(options, record.spec);
        await createSweep({
          dir,
          spec: { ...record.spec, ...overrides },
          study: s,
          out: resolve(dir, record.out),
          cwd: record.cwd,
        });
        return await round(dir, s, switches.wait);
      }
      case "step":
        return await step(positionals, options);
      case "gather":
        return await gather(positionals, options);
      default:
        throw new UsageError(
          `expected a subcommand: run, status, resume or wait (got ${
            command ?? "none"
          }); see --help`,
        );
    }
  });
}
