/**
 * An ALE-style environment over one of our games: sticky actions, no-op starts, frame skip with
 * a max-pool over the last two frames, the visual perturbation, grayscale and area resize —
 * the per-frame part of the usual Atari preprocessing, fused for speed (the game draws the two
 * kept frames straight to gray when nothing needs RGB). The per-episode parts (fire reset,
 * episodic life, reward clipping, frame stack) are the wrappers in `wrappers.ts`.
 *
 * @module
 */

import { GrayCanvas, RgbCanvas, rgbToGray } from "./canvas.ts";
import { Perturber, type PerturbLevel } from "./perturb.ts";
import { AreaResizer } from "./resize.ts";
import type { Env, EnvSpec, Game, ResetResult, StepInfo, StepResult } from "./types.ts";
import { Rng } from "../tensor/rng.ts";

/** Per-frame preprocessing of {@linkcode AtariEnv}. */
export interface FrameOptions {
  /** Emulator frames per agent step (ALE v5 and CleanRL: 4). */
  frameSkip: number;
  /** Max over the last two frames of each skip (hides Atari sprite flicker). */
  maxPool: boolean;
  /** Up to this many NOOP frames at reset, drawn uniformly from 1..noopMax (0: none). */
  noopMax: number;
  /** Probability that the emulator repeats the previous action on a frame (ALE v5: 0.25). */
  stickyActions: number;
  /** Gray (1 channel, ALE's luma) or RGB observations. */
  grayscale: boolean;
  /** Output [height, width] by area resampling, or null to keep the game's frame size. */
  resize: [number, number] | null;
  /** Visual perturbation, applied to the RGB frame before grayscale. */
  perturbation: PerturbLevel;
  /** Agent steps after which an episode is truncated (0: never). */
  maxEpisodeSteps: number;
}

/** Full-game episode statistics, reported in `info.episode` on the step that ends a game. */
export interface EpisodeStats {
  /** Sum of unclipped rewards. */
  return: number;
  /** Agent steps. */
  length: number;
}

/** {@linkcode StepInfo} with the game's episode statistics when a game ends. */
export interface AtariStepInfo extends StepInfo {
  episode?: EpisodeStats;
}

/** The NOOP action id in ALE's action sets. */
export const NOOP = 0;

/** An {@linkcode Env} over a native {@linkcode Game} with ALE-style per-frame preprocessing. */
export class AtariEnv implements Env {
  readonly spec: EnvSpec;
  readonly #game: Game;
  readonly #opts: FrameOptions;
  #rng: Rng;
  readonly #perturber: Perturber;
  readonly #needRgb: boolean;
  readonly #canvasA: RgbCanvas | GrayCanvas;
  readonly #canvasB: RgbCanvas | GrayCanvas;
  readonly #gray: Uint8Array | null;
  readonly #resizer: AreaResizer | null;
  readonly #obs: Uint8Array;
  #lastAction = NOOP;
  #steps = 0;
  #frames = 0;
  #return = 0;

  constructor(id: string, game: Game, opts: FrameOptions, seed = 0) {
    if (!Number.isInteger(opts.frameSkip) || opts.frameSkip < 1) {
      throw new Error(`frameSkip must be an integer >= 1, got ${opts.frameSkip}`);
    }
    if (!(opts.stickyActions >= 0 && opts.stickyActions < 1)) {
      throw new Error(`stickyActions must be in [0, 1), got ${opts.stickyActions}`);
    }
    this.#game = game;
    this.#opts = opts;
    this.#rng = new Rng(seed);
    this.#perturber = new Perturber(opts.perturbation, this.#rng.fork("perturb"));
    this.#needRgb = this.#perturber.active || !opts.grayscale;
    const { width, height } = game;
    const makeCanvas = () =>
      this.#needRgb ? new RgbCanvas(width, height) : new GrayCanvas(width, height);
    this.#canvasA = makeCanvas();
    this.#canvasB = makeCanvas();
    this.#gray = this.#needRgb && opts.grayscale ? new Uint8Array(width * height) : null;
    const channels = opts.grayscale ? 1 : 3;
    const [outH, outW] = opts.resize ?? [height, width];
    this.#resizer = opts.resize ? new AreaResizer(height, width, outH, outW, channels) : null;
    this.#obs = new Uint8Array(outH * outW * channels);
    this.spec = {
      id,
      actionMeanings: game.actionMeanings,
      obsShape: [outH, outW, channels],
      stateKeys: game.stateKeys,
    };
  }

  reset(seed?: number): ResetResult {
    if (seed !== undefined) {
      this.#rng = new Rng(seed);
      this.#perturber.reseed(this.#rng.fork("perturb"));
    }
    this.#game.reset(this.#rng.uint32());
    this.#lastAction = NOOP;
    this.#steps = 0;
    this.#frames = 0;
    this.#return = 0;
    this.#perturber.newEpisode();
    const noops = this.#opts.noopMax > 0 ? 1 + this.#rng.int(this.#opts.noopMax) : 0;
    for (let i = 0; i < noops && !this.#game.gameOver(); i++) {
      this.#game.tick(NOOP);
      this.#frames++;
    }
    this.#game.draw(this.#canvasA);
    return { obs: this.#observe(false), info: this.#info() };
  }

  step(action: number): StepResult {
    const nActions = this.spec.actionMeanings.length;
    if (!Number.isInteger(action) || action < 0 || action >= nActions) {
      throw new Error(
        `${this.spec.id}: action ${action} is out of range (0..${nActions - 1}: ` +
          `${this.spec.actionMeanings.join(", ")})`,
      );
    }
    const { frameSkip, maxPool, stickyActions } = this.#opts;
    const game = this.#game;
    let reward = 0;
    let pooled = false;
    for (let k = 0; k < frameSkip; k++) {
      // ALE's sticky actions act per emulator frame.
      if (stickyActions === 0 || this.#rng.float() >= stickyActions) this.#lastAction = action;
      reward += game.tick(this.#lastAction);
      this.#frames++;
      if (game.gameOver()) break;
      if (maxPool && k === frameSkip - 2) {
        game.draw(this.#canvasB);
        pooled = true;
      }
    }
    game.draw(this.#canvasA);
    this.#steps++;
    this.#return += reward;
    const terminated = game.gameOver();
    const truncated = !terminated && this.#opts.maxEpisodeSteps > 0 &&
      this.#steps >= this.#opts.maxEpisodeSteps;
    const info: AtariStepInfo = this.#info();
    if (terminated || truncated) info.episode = { return: this.#return, length: this.#steps };
    return { obs: this.#observe(pooled), reward, terminated, truncated, info };
  }

  close(): void {}

  #info(): AtariStepInfo {
    return { lives: this.#game.lives(), state: this.#game.state(), episodeFrame: this.#frames };
  }

  /** Turns the drawn frame(s) into the observation: pool, perturb, gray, resize. */
  #observe(pooled: boolean): Uint8Array {
    const a = this.#canvasA.data;
    const b = pooled ? this.#canvasB.data : undefined;
    if (!this.#needRgb) {
      // Fast path: gray frames, max-pool fused into the resize.
      if (this.#resizer) return this.#resizer.resize(a, this.#obs, b);
      return maxInto(a, b, this.#obs);
    }
    if (b) maxInto(a, b, a);
    this.#perturber.apply(a);
    const frame = this.#gray ? rgbToGray(a, this.#gray) : a;
    if (this.#resizer) return this.#resizer.resize(frame, this.#obs);
    this.#obs.set(frame);
    return this.#obs;
  }
}

function maxInto(a: Uint8Array, b: Uint8Array | undefined, out: Uint8Array): Uint8Array {
  if (!b) {
    if (out !== a) out.set(a);
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i] = a[i] > b[i] ? a[i] : b[i];
  return out;
}
