/**
 * `deno task pipeline`: data -> I-JEPA -> autoencoder control -> probes -> world model -> planning
 * -> report, into one run directory; a re-run redoes only the phases whose inputs changed (see
 * lib/pipeline/runner.ts). With `--seeds`, one such run per seed and a summary over them
 * (lib/pipeline/seeds.ts), here or as a Slurm job array (`--executor slurm`).
 *
 * @module
 */

import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import {
  checkPipelineConfig,
  PIPELINE_PRESETS,
  type PipelineConfig,
  pipelinePhases,
} from "../lib/pipeline/pipeline.ts";
import { hasWorldModel } from "../lib/pipeline/world_model_phases.ts";
import { runPipeline } from "../lib/pipeline/runner.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import type { RunInfo } from "../lib/pipeline/report.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  clearSeedOutcome,
  seedRunDir,
  writeSeedOutcome,
  writeSeedsSummary,
} from "../lib/pipeline/seeds.ts";
import {
  checkConfig,
  color,
  envSlug,
  executorOption,
  parseTaskArgs,
  runTask,
  UsageError,
} from "./cli.ts";
import { progressBars } from "../lib/run/progress.ts";
import { SLURM_FLAGS, slurmFromFlags, submitGrid, sweepStudy } from "../lib/sweep/mod.ts";

const spec = {
  name: "pipeline",
  summary: "Runs the whole study into one run directory: collect a dataset, pretrain I-JEPA " +
    "and the autoencoder control, probe them (and a random-init encoder) for the game state, " +
    "train the V-JEPA 2-style world model (stage 1, stage 2 and its action-blind control) on " +
    "its own dataset and evaluate it, plan with it toward goal frames (Breakout only), and " +
    "write REPORT.md with figures. Re-running the same command skips the phases that are " +
    "current and resumes an interrupted one from its checkpoint; after a config change only the " +
    "affected phases run again. `smoke` takes minutes on a 2-core CPU, `small` gives the " +
    "meaningful comparison, `full` is sized for a GPU. With --seeds, one such run per seed and " +
    "SEEDS.md over them (mean ± std), here or as a Slurm job array (--executor slurm).",
  presets: PIPELINE_PRESETS,
  flags: {
    env: { key: "env", help: "env id: native:breakout (default) | ale:breakout (needs ale-py)" },
    seed: { key: "seed", help: "random seed of every phase" },
  },
  options: {
    out: "run directory (default results/pipeline-<preset>-<env>-s<seed>; with --seeds " +
      "results/pipeline-<preset>-<env>-seeds, one run per seed in s<seed>/)",
    only: "stop after this phase: data | ijepa | ae | probe | worldmodel | plan | report",
    seeds: "a seed sweep: one run per seed (comma-separated, e.g. 0,1,2) into <out>/s<seed>/, " +
      "then SEEDS.md and seeds.json over them (mean ± std; failed seeds listed)",
    "only-seed": "with --seeds: run only this seed's pipeline, no summary (a sweep's trial)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
    executor: "local (default: here, seed after seed) | slurm (the seeds as a Slurm job array, " +
      "then the summary; see deno task sweep)",
    ...SLURM_FLAGS,
  },
  switches: {
    "summary-only": "with --seeds: no training, write SEEDS.md from the seed runs in --out (a " +
      "sweep's gather step)",
  },
  examples: [
    "deno task pipeline                      # smoke preset, native Breakout",
    "deno task pipeline --preset small       # the reference sizes (hours on 2 cores)",
    "deno task pipeline --preset small --set probe.rows=1000   # redoes probe and report only",
    "deno task pipeline --set plan.planner.samples=128          # redoes plan and report only",
    "deno task pipeline --preset small --seeds 0,1,2             # three seeds and SEEDS.md",
    "deno task pipeline --preset small --seeds 0,1,2 --executor slurm --partition cpu " +
    "--time 08:00:00",
  ],
};

/** Parses `--seeds` (and `--only-seed`, which must be one of them); throws a UsageError. */
function parseSeeds(text: string, flag: string): number[] {
  const seeds = text.split(",").map((t) => t.trim()).filter((t) => t !== "").map(Number);
  if (!seeds.length || !seeds.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new UsageError(`--${flag}: expected integers >= 0, comma-separated, got '${text}'`);
  }
  if (new Set(seeds).size !== seeds.length) {
    throw new UsageError(`--${flag}: a seed is given twice in '${text}'`);
  }
  return seeds;
}

/** Runs the pipeline of `config` into `out`; returns the report's path, if it got that far. */
async function runOne(
  config: PipelineConfig,
  preset: string,
  out: string,
  backend: string,
  only: string | undefined,
): Promise<string | undefined> {
  const info: RunInfo = {
    preset,
    config,
    backend,
    machine: {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${Deno.build.os}-${Deno.build.arch}`,
      deno: Deno.version.deno,
    },
    startedAt: new Date().toISOString(),
  };
  await Deno.mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, "pipeline.json"), JSON.stringify(info, null, 2) + "\n");
  console.error(`pipeline (${preset}, ${config.env}, seed ${config.seed}, ${backend}) -> ${out}`);
  if (!hasWorldModel(config.env)) {
    console.error(`no worldmodel and plan phases: they need Breakout, not ${config.env}`);
  }
  const outcome = await runPipeline(
    out,
    pipelinePhases(config, progressBars({ prefix: "  ", show: ["loss", "meanReturn", "steps"] })),
    {
      log: (line) => console.error(color("dim", line)),
      onPhase: (name, action) => {
        if (action !== "done") console.error(color("bold", `== ${name}: ${action}`));
      },
    },
    { only },
  );
  console.log(
    `ran ${outcome.ran.join(", ") || "nothing"}; skipped ${
      outcome.skipped.join(", ") || "nothing"
    }`,
  );
  const report = outcome.records.report?.outputs?.report as string | undefined;
  if (report) console.log(`report: ${report}`);
  return report;
}

/**
 * The seed sweep here: each of `seeds` (or `onlySeed`) in turn into `<out>/s<seed>/`, recording
 * how each ended, then (without `onlySeed`) the summary. A failed seed does not stop the others;
 * the call fails at the end naming them.
 */
async function runSeeds(
  config: PipelineConfig,
  preset: string,
  out: string,
  seeds: number[],
  opts: { backend: string; only?: string; onlySeed?: number },
): Promise<void> {
  const failed: string[] = [];
  for (const seed of opts.onlySeed === undefined ? seeds : [opts.onlySeed]) {
    const dir = seedRunDir(out, seed);
    await Deno.mkdir(dir, { recursive: true });
    clearSeedOutcome(dir);
    try {
      await runOne({ ...config, seed }, preset, dir, opts.backend, opts.only);
      await writeSeedOutcome(dir, { state: "done" });
    } catch (err) {
      const error = (err as Error).message;
      await writeSeedOutcome(dir, { state: "failed", error });
      console.error(color("bold", `seed ${seed} failed: ${error}`));
      failed.push(`s${seed} (${error})`);
    }
  }
  if (opts.onlySeed === undefined) await summarize(config, preset, out, seeds);
  if (failed.length) {
    throw new Error(
      `${failed.length} seed run(s) failed: ${failed.join("; ")}. The same command resumes ` +
        "them from their last checkpoints.",
    );
  }
}

async function summarize(
  config: PipelineConfig,
  preset: string,
  out: string,
  seeds: number[],
): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const summary = await writeSeedsSummary(out, seeds, `${preset}, ${config.env}`);
  const states = summary.seeds.map((r) => `s${r.seed} ${r.state}`).join(", ");
  console.log(`seeds: ${states}\nsummary: ${join(out, "SEEDS.md")}`);
}

if (import.meta.main) {
  runTask(async () => {
    const { config, preset, options, switches } = parseTaskArgs<PipelineConfig>(spec);
    checkConfig(() => checkPipelineConfig(config));
    const executor = executorOption(options);
    const seeds = options.seeds === undefined ? undefined : parseSeeds(options.seeds, "seeds");
    if (seeds && Deno.args.some((a) => a === "--seed" || a.startsWith("--seed="))) {
      throw new UsageError("--seed and --seeds: give the seeds of a sweep with --seeds alone");
    }
    const onlySeed = options["only-seed"] === undefined
      ? undefined
      : parseSeeds(options["only-seed"], "only-seed")[0];
    for (
      const [given, what] of [[onlySeed !== undefined, "--only-seed"], [
        switches["summary-only"],
        "--summary-only",
      ]] as const
    ) {
      if (given && !seeds) throw new UsageError(`${what} needs --seeds (the sweep's seeds)`);
    }
    if (onlySeed !== undefined && !seeds!.includes(onlySeed)) {
      throw new UsageError(`--only-seed ${onlySeed}: not one of --seeds ${seeds!.join(",")}`);
    }
    if (onlySeed !== undefined && switches["summary-only"]) {
      throw new UsageError("--only-seed and --summary-only: one step at a time");
    }
    const sweep = seeds !== undefined || executor === "slurm";
    const out = options.out ?? join(
      "results",
      `pipeline-${preset}-${envSlug(config.env)}-${sweep ? "seeds" : `s${config.seed}`}`,
    );
    if (executor === "slurm") {
      if (onlySeed !== undefined || switches["summary-only"]) {
        throw new UsageError(
          "--executor slurm runs the whole sweep: without --only-seed, " +
            "--summary-only",
        );
      }
      try {
        return await submitGrid({
          study: sweepStudy("pipeline"),
          preset,
          out,
          args: Deno.args,
          axes: { seeds: seeds ?? [config.seed] },
          slurm: slurmFromFlags(options),
          say: (l) => console.error(l),
        });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    if (switches["summary-only"]) return await summarize(config, preset, out, seeds!);
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    if (seeds) {
      return await runSeeds(config, preset, out, seeds, {
        backend: backend.backend,
        only: options.only,
        onlySeed,
      });
    }
    await runOne(config, preset, out, backend.backend, options.only);
  });
}
