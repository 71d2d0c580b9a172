/**
 * `deno task record`: bulk gameplay recording (the seed project's `record_videos.py --bulk
 * --total_videos N --percent_random P`): whole games played by random play or a trained DQN or
 * PPO agent, written as a project dataset of 210x160 RGB screens plus a GIF and an MP4 per game;
 * a killed recording run again continues with the next unfinished game.
 *
 * @module
 */

import { join } from "node:path";
import { progressBars, stepRecorder } from "../lib/run/progress.ts";
import { RunDir } from "../lib/run/run_dir.ts";
import {
  checkRecordConfig,
  readCheckpointInfo,
  RECORD_PRESETS,
  recordGames,
} from "../lib/studies/record/mod.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  checkConfig,
  ENV_FLAG,
  envSlug,
  GAME_FLAG,
  parseTaskArgs,
  rejectBothEnvFlags,
  runTask,
} from "./cli.ts";

const spec = {
  name: "record",
  summary: "Records whole games played by random play or a trained agent (a DQN or PPO " +
    "checkpoint), with a share of its actions replaced by random ones, as a project dataset: " +
    "the full 210x160 RGB screen of every agent step with the action taken, reward, flags, " +
    "lives and ground-truth state (read like any dataset of deno task collect), plus a GIF per " +
    "game and, where ffmpeg is installed, an MP4. The agent acts on its own training " +
    "observations (gray, resized, stacked) of each screen; games play in parallel with one " +
    "batched forward pass. Games are written one by one: the same command after a kill " +
    "continues with the next unfinished game. Prints the frames per second.",
  presets: RECORD_PRESETS,
  flags: {
    agent: {
      key: "agent",
      help: "a DQN or PPO checkpoint directory whose agent plays (default: random play)",
    },
    games: { key: "games", help: "whole games to record (the seed's --total_videos)" },
    "percent-random": {
      key: "percentRandom",
      help: "percent of actions replaced by uniformly random ones, 0-100 (the seed's " +
        "--percent_random)",
    },
    env: ENV_FLAG,
    game: GAME_FLAG,
    epsilon: { key: "epsilon", help: "DQN agents: their own epsilon-greedy epsilon" },
    batch: {
      key: "batch",
      help: "games played at once (one batched forward pass); each holds its screens until it " +
        "is written, about 100 KB per step, and no new game starts beyond 2 GiB held",
    },
    seed: { key: "seed", help: "random seed (each game is seeded by its index)" },
  },
  options: {
    out: "dataset directory (default data/record-<game>-<player>-s<seed>, player: random, " +
      "ppo or dqn)",
    "run-dir": "run directory: config, log, metrics and videos/ (default " +
      "results/record-<game>-<player>-s<seed>)",
    backend: "tfjs backend for an agent (default JEPA_BACKEND or auto)",
  },
  switches: { "no-gif": "write no GIFs", "no-mp4": "write no MP4s" },
  examples: [
    "deno task record --games 20",
    "deno task record --preset small --agent results/swap-small-native-breakout/runs/cnn-s0/" +
    "checkpoints --percent-random 15",
    "deno task record --agent results/dqn-small/runs/epsilon-s0/checkpoints --games 1000 " +
    "--percent-random 20 --no-gif",
    "deno task record --env ale:breakout --games 5   # real Atari (ale-py)",
  ],
};

if (import.meta.main) {
  runTask(async () => {
    rejectBothEnvFlags(Deno.args);
    const { config, options, switches } = parseTaskArgs(spec);
    if (switches["no-gif"]) config.gif.enabled = false;
    if (switches["no-mp4"]) config.mp4 = false;
    checkConfig(() => checkRecordConfig(config));
    let player = "random";
    checkConfig(() => {
      if (config.agent) player = readCheckpointInfo(config.agent).kind;
    });
    const name = `record-${envSlug(config.env.id)}-${player}-s${config.seed}`;
    const out = options.out ?? join("data", name);
    const run = await RunDir.open({
      task: "record",
      config: { ...config, out },
      dir: options["run-dir"] ?? join("results", name),
      resume: true,
      // The dataset checks what decides its contents; batch or videos may change between runs.
      configChanges: "record",
      echo: (line) => console.error(line),
    });
    if (config.agent) {
      const report = await initBackend({ backend: options.backend });
      run.log(`backend ${report.backend}`);
    }
    run.log(
      `recording ${config.games} games of ${config.env.id} (${player}, ` +
        `${config.percentRandom}% random actions, ${config.batch} at once) -> ${out}`,
    );
    const videoDir = join(run.dir, "videos");
    const summary = await recordGames(config, {
      out,
      videoDir,
      log: (line) => run.log(line),
      onStep: stepRecorder({
        metric: (r) => run.metric(r),
        fields: { kind: "game" },
        then: progressBars({ show: ["return", "length", "framesPerSec"] }),
      }),
    });
    await run.finish();
    if (summary.games > 0) {
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      run.log(
        `recorded ${summary.games} games (${summary.frames} frames) in ` +
          `${summary.seconds.toFixed(1)}s: ${summary.framesPerSec.toFixed(0)} frames/s ` +
          `(${(summary.framesPerSec * summary.frameSkip).toFixed(0)} emulator frames/s); ` +
          `mean return ${mean(summary.returns).toFixed(1)}, mean length ` +
          `${mean(summary.lengths).toFixed(0)} steps`,
      );
    }
    run.log(`dataset ${out}; videos ${videoDir}`);
  });
}
