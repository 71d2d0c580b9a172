/**
 * `deno task probe-bench`: the AtariARI-style probe benchmark (lib/studies/probe_bench/): every
 * encoder made on the same mixed-play games and probed for the state variables on held-out games,
 * over several seeds.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureDataset } from "../lib/data/ensure.ts";
import { checkEnvConfig, CLEANRL_ATARI } from "../lib/envs/make.ts";
import { progressBars } from "../lib/run/progress.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  benchVariables,
  checkBenchConfig,
  PROBE_BENCH_PRESETS,
  type ProbeBenchConfig,
  runProbeBench,
  writeBenchReport,
} from "../lib/studies/probe_bench/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkConfig, envSlug, parseTaskArgs, runTask } from "./cli.ts";

const spec = {
  name: "probe-bench",
  summary: "The AtariARI probe benchmark: per seed, collects games from a mix of random and " +
    "scripted play, makes every encoder on the training games (majority class, the oracle that calibrates the " +
    "probe, random CNN and " +
    "ViT, raw pixels, pixel autoencoder, ST-DIM, I-JEPA and its recipe ablations, V-JEPA stage " +
    "1, VICReg JEPA, supervised ceiling) and probes each for the game's state variables on the " +
    "held-out games (linear classifier F1 as AtariARI, ridge R^2 beside it). Writes " +
    "probe-bench.json, PROBE_BENCH.md and figures/probe_bench_f1.svg; --resume continues an " +
    "interrupted run (finished encoders are loaded, trainers resume from their checkpoints) " +
    "and, after a config change, remakes only the encoders and rows it changes.",
  presets: PROBE_BENCH_PRESETS,
  flags: {
    env: { key: "env", help: "env id: native:breakout | native:pong | ale:breakout | ale:pong" },
    seeds: { key: "seeds", help: "seeds as a list, e.g. [0,1,2]" },
    encoders: { key: "encoders", help: "encoders to run, e.g. [majority,random-vit,ijepa]" },
  },
  options: {
    out: "run directory (default results/probe-bench-<preset>-<env>)",
    data: "folder of the per-seed datasets (default data/probe-bench-<preset>-<env>)",
    backend: "tfjs backend (default JEPA_BACKEND or auto)",
  },
  switches: { resume: "continue the run in --out" },
  examples: [
    "deno task probe-bench                                 # smoke preset, a few minutes",
    "deno task probe-bench --preset small --resume         # 3 seeds on native:breakout",
    "deno task probe-bench --preset small --env ale:pong --resume",
    "deno task probe-bench --preset small --resume \\",
    "  --set 'artifacts=[{name: ppo-cnn, path: results/swap/cnn-s0/checkpoints}]'   # probe any encoder artifact too",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    const { config, preset, options, switches } = parseTaskArgs<ProbeBenchConfig>(spec);
    const env = { ...CLEANRL_ATARI, id: config.env };
    checkConfig(() => {
      checkEnvConfig(env);
      benchVariables(config.env);
      checkBenchConfig(config);
      for (const a of config.artifacts) {
        if (!existsSync(a.path)) throw new Error(`artifacts: ${a.path}: no such file or directory`);
      }
    });
    const backend = await initBackend({ backend: options.backend as "auto" | undefined });
    const slug = envSlug(config.env);
    const out = options.out ?? join("results", `probe-bench-${preset}-${slug}`);
    const run = await RunDir.open({
      task: "probe-bench",
      config,
      dir: out,
      resume: switches.resume,
      // Each encoder's rows are keyed by what made them: a changed config remakes only those.
      configChanges: "record",
      echo: (l) => console.error(l),
    });
    run.log(`backend ${backend.backend}; run ${run.dir}`);
    const dataRoot = options.data ?? join("data", `probe-bench-${preset}-${slug}`);
    const frames: number[] = [];
    let frameShape: readonly number[] = [];
    const result = await runProbeBench(run, config, async (seed) => {
      const ds = await ensureDataset(join(dataRoot, `s${seed}`), {
        seed,
        policy: config.data.policies,
        explore: config.data.explore,
        episodes: config.data.episodes,
        shardFrames: 4096,
        env,
      }, { log: (line) => run.log(line) });
      frames.push(ds.numFrames);
      frameShape = ds.frameShape;
      return ds;
    }, { log: (line) => run.log(line), onStep: progressBars({ show: ["loss"] }) });
    const md = await writeBenchReport(run, config, result, { preset, frames, frameShape });
    await run.finish();
    console.log(md);
  });
}
