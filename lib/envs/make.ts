/**
 * Builds environments by id (`native:breakout`, `native:pong`, `ale:breakout`, `ale:pong`, any
 * `ale:<rom>`) with one wrapper stack, the same for training, evaluation and data collection,
 * and the same for native and real Atari games: the published JEPA-on-Breakout study evaluated
 * through different wrappers than it trained with, and its numbers suffered.
 *
 * @module
 */

import { AleFrames, KNOWN_ACTIONS, requireAle } from "./ale.ts";
import { RAM_DECODERS } from "./ale_state.ts";
import { AtariEnv, type FrameOptions } from "./atari.ts";
import { Breakout } from "./breakout.ts";
import { parsePerturbLevel, type PerturbLevel } from "./perturb.ts";
import { Pong } from "./pong.ts";
import type { Env, FrameSource, Game } from "./types.ts";
import { ClipReward, EpisodicLife, FireReset, FrameStack } from "./wrappers.ts";

/** Everything that defines an environment and its wrapper stack. */
export interface EnvConfig extends FrameOptions {
  /** `native:<game>` (our TypeScript games) or `ale:<game>` (real Atari, when available). */
  id: string;
  /** End the episode on every life lost (training only in CleanRL; see `evalEnvConfig`). */
  episodicLife: boolean;
  /** Press FIRE after reset in games that need it to start. */
  fireReset: boolean;
  /** Rewards replaced by their sign. */
  clipReward: boolean;
  /** Observations stacked along channels (1: no stacking). */
  frameStack: number;
}

/** CleanRL's `ppo_atari` stack on Breakout: skip 4 + max-pool, 84x84 gray, stack 4. */
export const CLEANRL_ATARI: Readonly<EnvConfig> = {
  id: "native:breakout",
  frameSkip: 4,
  maxPool: true,
  noopMax: 30,
  stickyActions: 0,
  grayscale: true,
  resize: [84, 84],
  perturbation: "clean",
  // ALE's default cap of 108,000 emulator frames, in agent steps.
  maxEpisodeSteps: 27_000,
  episodicLife: true,
  fireReset: true,
  clipReward: true,
  frameStack: 4,
};

/** Raw frames: 210x160 RGB, one emulator frame per step, no wrappers (for galleries, GIFs). */
export const RAW_FRAMES: Readonly<EnvConfig> = {
  ...CLEANRL_ATARI,
  frameSkip: 1,
  maxPool: false,
  noopMax: 0,
  grayscale: false,
  resize: null,
  episodicLife: false,
  fireReset: false,
  clipReward: false,
  frameStack: 1,
  maxEpisodeSteps: 108_000,
};

/**
 * The evaluation variant of a training config: the same frame pipeline, whole games (no
 * episodic life), raw scores (no clipping), and a chosen perturbation.
 */
export function evalEnvConfig(train: EnvConfig, perturbation: PerturbLevel = "clean"): EnvConfig {
  return { ...train, episodicLife: false, clipReward: false, perturbation };
}

const NATIVE_GAMES: Record<string, () => Game> = {
  breakout: () => new Breakout(),
  pong: () => new Pong(),
};

/**
 * The env ids that {@linkcode makeEnv} accepts: the native games, and real Atari games with
 * ground-truth state (any other `ale:<rom>` works too, without state, where ale-py is installed).
 */
export function envIds(): string[] {
  return [
    ...Object.keys(NATIVE_GAMES).map((g) => `native:${g}`),
    ...Object.keys(RAM_DECODERS).map((g) => `ale:${g}`),
  ];
}

/**
 * The minimal action set of an env id's game (the same for our native game and for ALE's),
 * without building an env; a game we know no action set of is an error naming it.
 */
export function gameActions(envId: string): readonly string[] {
  const { game } = parseEnvId(envId);
  const actions = KNOWN_ACTIONS[game];
  if (!actions) {
    throw new Error(
      `${envId}: no action set known for the game '${game}' (${
        Object.keys(KNOWN_ACTIONS).join(", ")
      })`,
    );
  }
  return actions;
}

/**
 * The observation shape `[h, w, c]` an env config gives (Atari's 210x160 screen through its
 * resize, gray or RGB, stacked), without building an env.
 */
export function envObsShape(config: EnvConfig): [number, number, number] {
  const [h, w] = config.resize ?? [210, 160];
  return [h, w, (config.grayscale ? 1 : 3) * config.frameStack];
}

/** Splits `kind:game` (a bare game name means `native:`). */
export function parseEnvId(id: string): { kind: string; game: string } {
  const [kind, game] = id.includes(":") ? id.split(":", 2) : ["native", id];
  return { kind, game };
}

/**
 * Checks an env config before anything is built or written: the env id (for `ale:` ids, that
 * ale-py is installed and has the ROM), the perturbation and the numeric options. Throws an
 * Error naming the field and what was expected.
 */
export function checkEnvConfig(config: EnvConfig): void {
  sourceFactory(config.id);
  parsePerturbLevel(config.perturbation);
  const positiveInts = ["frameSkip", "frameStack"] as const;
  for (const key of positiveInts) {
    if (!Number.isInteger(config[key]) || config[key] < 1) {
      throw new Error(`env.${key} must be an integer >= 1, got ${config[key]}`);
    }
  }
  for (const key of ["noopMax", "maxEpisodeSteps"] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 0) {
      throw new Error(`env.${key} must be an integer >= 0, got ${config[key]}`);
    }
  }
  if (!(config.stickyActions >= 0 && config.stickyActions < 1)) {
    throw new Error(`env.stickyActions must be in [0, 1), got ${config.stickyActions}`);
  }
  const r = config.resize;
  if (r !== null && !(r.length === 2 && r.every((v) => Number.isInteger(v) && v >= 1))) {
    throw new Error(
      `env.resize must be [height, width] of positive integers or null, got ${JSON.stringify(r)}`,
    );
  }
}

/** What builds the frame source of an env id; throws on an unknown id or a missing ale-py. */
function sourceFactory(id: string): () => Game | FrameSource {
  const { kind, game } = parseEnvId(id);
  if (kind === "ale") {
    requireAle(game);
    return () => new AleFrames(game);
  }
  const makeGame = kind === "native" ? NATIVE_GAMES[game] : undefined;
  if (!makeGame) {
    throw new Error(`unknown env '${id}' (valid: ${envIds().join(", ")}, or ale:<any ALE ROM>)`);
  }
  return makeGame;
}

/** Builds an env with the full wrapper stack of `config`, seeded with `seed`. */
export function makeEnv(config: EnvConfig, seed = 0): Env {
  checkEnvConfig(config);
  const { kind, game } = parseEnvId(config.id);
  let env: Env = new AtariEnv(`${kind}:${game}`, sourceFactory(config.id)(), config, seed);
  if (config.episodicLife) env = new EpisodicLife(env);
  if (config.fireReset && env.spec.actionMeanings[1] === "FIRE") env = new FireReset(env);
  if (config.clipReward) env = new ClipReward(env);
  if (config.frameStack > 1) env = new FrameStack(env, config.frameStack);
  return env;
}
