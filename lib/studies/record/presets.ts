/**
 * The recording study's config (`deno task record`): which player records how many whole games
 * of which game, how often its actions are replaced by random ones, how many games play at once,
 * and the videos written beside the dataset.
 *
 * @module
 */

import { checkEnvConfig, CLEANRL_ATARI, type EnvConfig, evalEnvConfig } from "../../envs/make.ts";
import type { Presets } from "../../run/config.ts";

/** Everything a recording does. */
export interface RecordConfig {
  /** Seeds every game by its index, so a resumed recording plays the games it would have. */
  seed: number;
  /**
   * The game, and for random play the wrapper stack it plays through (frame skip, max-pool,
   * no-op starts, fire reset, sticky actions). With an agent only `env.id` (native or real
   * Atari) and `env.maxEpisodeSteps` (the cap on a game) come from here; the rest is the
   * agent's own training stack with evaluation settings (whole games, raw rewards).
   */
  env: EnvConfig;
  /** A DQN or PPO checkpoint directory whose agent plays; "" for uniform random play. */
  agent: string;
  /** Whole games to record (the seed project's `--total_videos`). */
  games: number;
  /**
   * Chance, in percent, that the action of an agent step is replaced by a uniformly random one
   * (the seed project's `--percent_random`): actions the state does not predict, for a world
   * model to learn their effect from.
   */
  percentRandom: number;
  /** DQN agents: the greedy policy's own epsilon (CleanRL evaluates DQN at 0.05). */
  epsilon: number;
  /** Games played at once; the policy's forward pass is batched over them. */
  batch: number;
  /** A GIF per game: every `stride`-th screen, upscaled `scale` times (nearest neighbour). */
  gif: { enabled: boolean; stride: number; scale: number };
  /** An MP4 per game, every screen, where ffmpeg is installed. */
  mp4: boolean;
}

const base: RecordConfig = {
  seed: 0,
  env: evalEnvConfig(CLEANRL_ATARI),
  agent: "",
  games: 4,
  percentRandom: 15,
  epsilon: 0.05,
  batch: 16,
  // Every other screen: encoding a GIF costs more than playing the game it shows.
  gif: { enabled: true, stride: 2, scale: 1 },
  mp4: true,
};

/** Presets: smoke for tests and notebooks, small as the seed project's bulk run, full for more. */
export const RECORD_PRESETS: Presets<RecordConfig> = {
  smoke: base,
  small: { ...base, games: 100 },
  full: { ...base, games: 1000 },
};

/** Checks a config before anything is loaded or written; throws naming the key and the problem. */
export function checkRecordConfig(cfg: RecordConfig): void {
  checkEnvConfig(cfg.env);
  const positiveInts = {
    games: cfg.games,
    batch: cfg.batch,
    "gif.stride": cfg.gif.stride,
    "gif.scale": cfg.gif.scale,
  };
  for (const [key, value] of Object.entries(positiveInts)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${key} must be an integer >= 1, got ${value}`);
    }
  }
  if (!(cfg.percentRandom >= 0 && cfg.percentRandom <= 100)) {
    throw new Error(`percentRandom must be a number in [0, 100], got ${cfg.percentRandom}`);
  }
  if (!(cfg.epsilon >= 0 && cfg.epsilon <= 1)) {
    throw new Error(`epsilon must be a number in [0, 1], got ${cfg.epsilon}`);
  }
  if (typeof cfg.agent !== "string") {
    throw new Error(`agent must be a checkpoint directory or "" (random play), got ${cfg.agent}`);
  }
}
