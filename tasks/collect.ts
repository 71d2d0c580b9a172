/**
 * `deno task collect`: plays games with a behaviour policy and writes a dataset.
 *
 * @module
 */

import { join } from "node:path";
import { collectDataset } from "../lib/data/collect.ts";
import { checkEnvConfig, CLEANRL_ATARI, type EnvConfig } from "../lib/envs/make.ts";
import type { PolicyName } from "../lib/envs/policies.ts";
import type { Presets } from "../lib/run/config.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  checkConfig,
  ENV_FLAG,
  envSlug,
  GAME_FLAG,
  parseTaskArgs,
  rejectBothEnvFlags,
  runTask,
} from "./cli.ts";
import { progressBars, stepRecorder } from "../lib/run/progress.ts";

/** The collect task's config. */
export interface CollectTaskConfig {
  seed: number;
  policy: PolicyName;
  episodes: number;
  shardFrames: number;
  env: EnvConfig;
}

const base: CollectTaskConfig = {
  seed: 0,
  policy: "scripted",
  episodes: 2,
  shardFrames: 4096,
  env: {
    ...CLEANRL_ATARI,
    frameStack: 1,
    episodicLife: false,
    clipReward: false,
    fireReset: false,
  },
};

/** Presets: smoke for tests and notebooks, small for probes, full for pretraining. */
export const COLLECT_PRESETS: Presets<CollectTaskConfig> = {
  smoke: base,
  small: { ...base, episodes: 20 },
  full: { ...base, episodes: 200 },
};

const spec = {
  name: "collect",
  summary: "Plays whole games with a behaviour policy and writes a dataset: uint8 frame shards " +
    "(after the frame pipeline: skip 4, max-pool, perturbation, 84x84 gray by default), a Parquet " +
    "table of every step (action, reward, flags, lives, ground-truth state) and a checksummed " +
    "manifest. The dataset appears atomically; the run's log and per-episode metrics go to " +
    "results/<run-id>/.",
  presets: COLLECT_PRESETS,
  flags: {
    env: ENV_FLAG,
    game: GAME_FLAG,
    policy: { key: "policy", help: "behaviour policy: random | scripted (ball tracking)" },
    episodes: { key: "episodes", help: "number of whole games to play" },
    perturb: { key: "env.perturbation", help: "clean | color_jitter | noise | mild | hard" },
    seed: { key: "seed", help: "random seed (env, policy)" },
  },
  options: {
    out: "dataset directory (default data/<game>-<policy>-<perturb>-s<seed>; ale-<game>-... " +
      "for real Atari)",
    "run-dir": "run directory for log and metrics (default results/collect-<time>)",
  },
  examples: [
    "deno task collect --game breakout --policy scripted --episodes 10",
    "deno task collect --env ale:breakout --policy random --episodes 5   # real Atari (ale-py)",
    "deno task collect --game pong --policy random --episodes 3 --perturb hard --out data/pong-hard",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    rejectBothEnvFlags(Deno.args);
    const { config, options } = parseTaskArgs(spec);
    checkConfig(() => checkEnvConfig(config.env));
    const out = options.out ??
      join(
        "data",
        `${envSlug(config.env.id)}-${config.policy}-${config.env.perturbation}-s${config.seed}`,
      );
    const run = await RunDir.open({
      task: "collect",
      config,
      dir: options["run-dir"],
      echo: (line) => console.error(line),
    });
    run.log(
      `collecting ${config.episodes} episodes of ${config.env.id} (${config.policy}) -> ${out}`,
    );
    const summary = await collectDataset(
      out,
      config,
      stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "episode" },
        then: progressBars(),
      }),
    );
    await run.finish();
    const mean = summary.returns.reduce((a, b) => a + b, 0) / summary.returns.length;
    run.log(
      `wrote ${summary.steps} frames in ${summary.seconds.toFixed(1)}s to ${out}; ` +
        `mean return ${mean.toFixed(1)}, mean length ${
          (summary.lengths.reduce((a, b) => a + b, 0) / summary.lengths.length).toFixed(0)
        } steps`,
    );
  });
}
