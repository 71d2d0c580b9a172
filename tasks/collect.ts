/**
 * `deno task collect`: plays games with a behaviour policy and writes a dataset, or, with
 * `--format atari-head`, trials in Atari-HEAD's layout (from a scripted or random player, or a
 * trained agent with `--agent`).
 *
 * @module
 */

import { join } from "node:path";
import { recordTrials } from "../lib/data/atari_head/mod.ts";
import { collectDataset } from "../lib/data/collect.ts";
import { playerNames, recordingPlayer } from "../lib/rl/agent_policy.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkEnvConfig, CLEANRL_ATARI, type EnvConfig } from "../lib/envs/make.ts";
import type { PolicyName } from "../lib/envs/policies.ts";
import type { Presets } from "../lib/run/config.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  checkConfig,
  ENV_FLAG,
  envSlug,
  GAME_FLAG,
  integerFlag,
  parseTaskArgs,
  rejectBothEnvFlags,
  runTask,
  UsageError,
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
      "for real Atari); with --format atari-head the game folder of the trials (default " +
      "data/atari-head/<game>-<policy>-s<seed>)",
    "run-dir": "run directory for log and metrics (default results/collect-<time>)",
    format: "dataset (default) | atari-head: trials as Atari-HEAD ships them (<trial>.tar.bz2 " +
      "of 210x160 RGB PNG frames + <trial>.txt labels with ALE action ids), --episodes games each",
    trials: "atari-head: number of trials (default 1)",
    subject: "atari-head: the subject code in trial names (default from the policy: RND, SCR, PPO)",
    gaze: "atari-head: none (default, null gaze) | ball (a stand-in: one sample on the ball)",
    agent: "atari-head: a PPO checkpoint directory whose agent plays (instead of --policy)",
  },
  examples: [
    "deno task collect --game breakout --policy scripted --episodes 10",
    "deno task collect --env ale:breakout --policy random --episodes 5   # real Atari (ale-py)",
    "deno task collect --game pong --policy random --episodes 3 --perturb hard --out data/pong-hard",
    "deno task collect --format atari-head --policy scripted --trials 4 --episodes 2 --gaze ball",
    "deno task collect --format atari-head --agent results/swap-small-native-breakout/runs/cnn-s0/checkpoints",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    rejectBothEnvFlags(Deno.args);
    const { config, options } = parseTaskArgs(spec);
    checkConfig(() => checkEnvConfig(config.env));
    const format = options.format ?? "dataset";
    if (format === "atari-head") return await recordAtariHead(config, options);
    if (format !== "dataset") {
      throw new UsageError(`--format: expected dataset or atari-head, got '${format}'`);
    }
    for (const o of ["trials", "subject", "gaze", "agent"]) {
      if (options[o] !== undefined) throw new UsageError(`--${o} needs --format atari-head`);
    }
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

/** `--format atari-head`: trials from the policy or the agent, resumable trial by trial. */
async function recordAtariHead(
  config: CollectTaskConfig,
  options: Record<string, string | undefined>,
): Promise<void> {
  const trials = options.trials === undefined ? 1 : integerFlag("trials", options.trials);
  const gaze = options.gaze ?? "none";
  if (gaze !== "none" && gaze !== "ball") {
    throw new UsageError(`--gaze: expected none or ball, got '${gaze}'`);
  }
  const names = playerNames({ policy: config.policy, agent: options.agent ?? "" });
  const subject = options.subject ?? names.subject;
  const out = options.out ??
    join("data", "atari-head", `${envSlug(config.env.id)}-${names.name}-s${config.seed}`);
  const run = await RunDir.open({
    task: "collect",
    config: {
      ...config,
      format: "atari-head",
      trials,
      subject,
      gaze,
      agent: options.agent ?? null,
    },
    dir: options["run-dir"],
    echo: (line) => console.error(line),
  });
  if (options.agent) await initBackend({});
  const player = recordingPlayer({
    env: config.env,
    policy: config.policy,
    agent: options.agent ?? "",
  });
  run.log(
    `recording ${trials} trial(s) of ${config.episodes} games of ${config.env.id} (${player.name}) ` +
      `-> ${out}`,
  );
  const files = await recordTrials(
    out,
    { env: player.env, seed: config.seed, trials, episodes: config.episodes, subject, gaze },
    player.makePolicy,
    stepRecorder({
      metric: (r) => run.metric(r),
      fields: { kind: "episode" },
      then: progressBars(),
    }),
  );
  await run.finish();
  run.log(`wrote ${files.length} trial(s) to ${out}: ${files.map((f) => f.name).join(", ")}`);
}
