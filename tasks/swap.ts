/**
 * `deno task swap`: the encoder-swap grid (PPO with a CNN trained end to end, frozen I-JEPA,
 * frozen autoencoder, frozen random-init and fine-tuned I-JEPA encoders, several seeds), its
 * evaluation under visual perturbations, and the report. Re-running it skips finished runs and
 * resumes interrupted ones.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { checkEnvConfig } from "../lib/envs/make.ts";
import {
  checkSwapConfig,
  ensureEncoders,
  gridRuns,
  gridStatus,
  recordFailure,
  runSwap,
  SWAP_PRESETS,
  type SwapConfig,
  writeSwapReport,
} from "../lib/studies/swap/mod.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  checkConfig,
  ENV_FLAG,
  envSlug,
  executorOption,
  integerFlag,
  parseTaskArgs,
  rejectBothEnvFlags,
  runTask,
  UsageError,
} from "./cli.ts";
import { progressBars } from "../lib/run/progress.ts";
import { SLURM_FLAGS, slurmFromFlags, submitGrid, sweepStudy } from "../lib/sweep/mod.ts";

const spec = {
  name: "swap",
  summary:
    "Trains PPO agents on an Atari game with five encoders (cnn end to end; frozen I-JEPA, " +
    "autoencoder and random-init ViTs; fine-tuned I-JEPA), several seeds each, evaluates every " +
    "agent at the perturbation levels clean, color_jitter, noise, mild, hard, and writes the " +
    "robustness table (Parquet + markdown), figures, saliency maps and a GIF into one swap " +
    "directory. Encoders are pretrained there unless --jepa/--ae give checkpoints. Finished runs " +
    "are skipped and interrupted ones resume, so the same command continues a stopped grid.",
  presets: SWAP_PRESETS,
  flags: {
    env: ENV_FLAG,
    steps: { key: "ppo.totalSteps", help: "env steps per run" },
    seeds: {
      key: "seeds",
      help: "training seeds, comma-separated (e.g. 0,1,2)",
      parse: (t: string) => t.split(",").map(Number),
    },
    conditions: {
      key: "conditions",
      help: "conditions, comma-separated: cnn,jepa_frozen,ae_frozen,random_frozen,jepa_finetune",
      parse: (t: string) => t.split(",").map((s) => s.trim()),
    },
    jepa: { key: "pretrain.jepa", help: "I-JEPA pretraining checkpoint dir (default: pretrain)" },
    ae: { key: "pretrain.ae", help: "autoencoder pretraining checkpoint dir (default: pretrain)" },
  },
  options: {
    out: "swap directory (default results/swap-<preset>-<env>; the same dir continues a grid)",
    jobs: "runs trained at once, each in its own process with its share of the cores' threads " +
      "(default 1; 2 uses both cores of a 2-core machine, one each)",
    only: "train and evaluate only these runs, e.g. cnn-s0,jepa_frozen-s1 (no report; --jobs " +
      "uses it for its workers)",
    backend:
      "tfjs backend: auto | tensorflow | webgpu | native | wasm | cpu (default JEPA_BACKEND or auto)",
    executor: "local (default: this machine, --jobs at a time) | slurm (the grid as a Slurm job " +
      "array, one run per task, gathered into the report; see deno task sweep)",
    ...SLURM_FLAGS,
  },
  switches: {
    resume: "continue the grid in --out (also what happens without it: finished runs are " +
      "skipped, interrupted ones resume from their last checkpoint)",
    "encoders-only": "only pretrain the encoders the grid needs into --out (a sweep's first " +
      "step, so that its runs share them)",
    "report-only": "no training: evaluate the runs in --out that lack a current evaluation and " +
      "write the report from whatever runs are there (a sweep's gather step)",
  },
  examples: [
    "deno task swap --preset smoke",
    "deno task swap --preset small --env native:breakout",
    "deno task swap --preset small --env ale:breakout --jepa results/small-ijepa/checkpoints " +
    "--ae results/small-ae/checkpoints",
    "deno task swap --preset small --conditions cnn --seeds 0   # one run of the grid",
    "deno task swap --preset small --jobs 2   # two runs at a time",
    "deno task swap --preset small --executor slurm --partition cpu --time 02:00:00",
  ],
};

/** Throws naming the failed runs among `runs` (all of the grid when not given). */
function failIfRunsFailed(config: SwapConfig, dir: string, runs?: string[]): void {
  const failed = gridStatus(config, dir)
    .filter((r) => r.state === "failed" && (!runs || runs.includes(r.run)));
  if (failed.length) {
    throw new Error(
      `${failed.length} run(s) failed: ${
        failed.map((r) => `${r.run} (${r.failure!.error})`).join("; ")
      }. They are in the report's table of runs; the same command retries them from their ` +
        `last checkpoints.`,
    );
  }
}

/**
 * `--jobs N`: pretrains the encoders here, then trains and evaluates the unfinished runs in up
 * to N worker processes (this same task with `--only RUN`, the same config and directory), so a
 * grid uses every core; the report is written after the workers, from their files.
 */
async function runWorkers(config: SwapConfig, run: RunDir, jobs: number): Promise<void> {
  await ensureEncoders(config, run.dir, { log: (line) => run.log(line) });
  const pending = gridRuns(config, run.dir).filter((r) => !r.complete).map((r) => r.name);
  run.log(`${pending.length} runs to do, ${jobs} at a time`);
  // The workers get this command line, without --jobs, with --out pinned to this directory.
  const args: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    const a = Deno.args[i];
    if (a === "--jobs" || a === "--out") i++;
    else if (!a.startsWith("--jobs=") && !a.startsWith("--out=")) args.push(a);
  }
  // The cores are shared out: each worker's native backend gets its share of threads (unless
  // JEPA_NATIVE_THREADS says otherwise), so no worker's threads wait on another's cores.
  const threads = Deno.env.get("JEPA_NATIVE_THREADS") ||
    String(Math.max(1, Math.floor(navigator.hardwareConcurrency / jobs)));
  const worker = async () => {
    for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
      run.log(`worker: ${name}`);
      const status = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename!, ...args, "--out", run.dir, "--only", name],
        env: { JEPA_NATIVE_THREADS: threads },
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
      // A worker that dies (killed, out of memory) leaves no failed.json of its own.
      if (!status.success && !existsSync(join(run.dir, "runs", name, "failed.json"))) {
        await recordFailure(
          join(run.dir, "runs", name),
          name,
          `its worker process exited with code ${status.code}${
            status.signal ? ` (signal ${status.signal})` : ""
          }`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
}

if (import.meta.main) {
  runTask(async () => {
    rejectBothEnvFlags(Deno.args);
    const { config, options, preset, switches } = parseTaskArgs(spec);
    checkConfig(() => {
      checkEnvConfig(config.env);
      checkSwapConfig(config);
    });
    const out = options.out ?? join("results", `swap-${preset}-${envSlug(config.env.id)}`);
    const executor = executorOption(options);
    // One step of a sweep's grid goes alone: each mode is a different step.
    const modes = ["encoders-only", "report-only"].filter((m) => switches[m]);
    const given = [...modes, ...["only", "jobs"].filter((o) => options[o] !== undefined)];
    if (modes.length && given.length > 1) {
      throw new UsageError(`--${given.join(" and --")}: --${modes[0]} goes alone`);
    }
    if (executor === "slurm") {
      if (given.length) {
        throw new UsageError(
          `--executor slurm runs the whole grid as a sweep: without --${given.join(", --")}`,
        );
      }
      try {
        return await submitGrid({
          study: sweepStudy("swap"),
          preset,
          out,
          args: Deno.args,
          axes: { conditions: config.conditions, seeds: config.seeds },
          slurm: slurmFromFlags(options),
          say: (l) => console.error(l),
        });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const run = await RunDir.open({
      task: "swap",
      config,
      dir: out,
      resume: true,
      // Each run guards its own config (runs/<name>/config.json): the grid may grow (more
      // conditions or seeds) in the same directory, and a run whose config changed is refused.
      configChanges: "record",
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; swap directory ${run.dir}`);
    const only = options.only?.split(",").map((s) => s.trim());
    const jobs = options.jobs === undefined ? 1 : integerFlag("jobs", options.jobs);
    if (switches["encoders-only"]) {
      await ensureEncoders(config, run.dir, { log: (line) => run.log(line) });
      return;
    }
    if (jobs > 1 && !only) {
      await runWorkers(config, run, jobs);
    }
    const evals = await runSwap(config, run.dir, {
      log: (line) => run.log(line),
      // A resumed run's bar starts at its checkpoint, so its rate and ETA are this session's.
      onStep: progressBars({ show: ["meanReturn", "sps"] }),
    }, { only, evalOnly: switches["report-only"] });
    // A worker (of --jobs, or a sweep's trial) says by its exit code whether its runs failed.
    if (only) return failIfRunsFailed(config, run.dir, only);
    const report = await writeSwapReport(config, run.dir, evals, (l) => run.log(l));
    console.log(report.table);
    run.log(`report: ${join(run.dir, "REPORT.md")}`);
    failIfRunsFailed(config, run.dir);
  });
}
