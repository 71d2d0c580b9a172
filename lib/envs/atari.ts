/**
 * An ALE-style environment over a {@linkcode FrameSource} (one of our games, or real Atari through
 * `ale.ts`): sticky actions, no-op starts, frame skip with a max-pool over the last two frames,
 * the visual perturbation, grayscale and area resize — the per-frame part of the usual Atari
 * preprocessing, fused for speed (native games draw the two kept frames straight to gray when
 * nothing needs RGB; ALE renders them with its own `getScreenGrayscale`). The per-episode parts
 * (fire reset, episodic life, reward clipping, frame stack) are the wrappers in `wrappers.ts`.
 *
 * @module
 */

import { GrayCanvas, RgbCanvas, rgbToGray } from "./canvas.ts";
import { Perturber, type PerturbLevel } from "./perturb.ts";
import { AreaResizer } from "./resize.ts";
import type {
  AdvanceResult,
  Env,
  EnvSpec,
  FrameBuffer,
  FrameSource,
  Game,
  GameState,
  ResetResult,
  StepInfo,
  StepResult,
} from "./types.ts";
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

/**
 * A native {@linkcode Game} as a {@linkcode FrameSource}: ticks frame by frame and draws only the
 * frames asked for.
 */
export class GameFrames implements FrameSource {
  readonly actionMeanings: readonly string[];
  readonly stateKeys: readonly string[];
  readonly height: number;
  readonly width: number;
  readonly #result: AdvanceResult = { reward: 0, frames: 0, pooled: false };

  constructor(readonly game: Game) {
    this.actionMeanings = game.actionMeanings;
    this.stateKeys = game.stateKeys;
    this.height = game.height;
    this.width = game.width;
  }

  reset(seed: number): void {
    this.game.reset(seed);
  }

  advance(
    actions: ArrayLike<number>,
    frames: number,
    last: FrameBuffer,
    prev: FrameBuffer | null,
  ): AdvanceResult {
    const game = this.game;
    let reward = 0;
    let played = 0;
    let pooled = false;
    for (let k = 0; k < frames; k++) {
      reward += game.tick(actions[k]);
      played++;
      if (game.gameOver()) break;
      if (prev && k === frames - 2) {
        game.draw(prev);
        pooled = true;
      }
    }
    game.draw(last);
    // One result object, reused: this runs once per agent step on the hot path.
    const result = this.#result;
    result.reward = reward;
    result.frames = played;
    result.pooled = pooled;
    return result;
  }

  lives(): number {
    return this.game.lives();
  }

  gameOver(): boolean {
    return this.game.gameOver();
  }

  state(): GameState {
    return this.game.state();
  }

  close(): void {}
}

/** An {@linkcode Env} over a {@linkcode FrameSource} with ALE-style per-frame preprocessing. */
export class AtariEnv implements Env {
  readonly spec: EnvSpec;
  readonly #source: FrameSource;
  readonly #opts: FrameOptions;
  #rng: Rng;
  readonly #perturber: Perturber;
  readonly #needRgb: boolean;
  readonly #canvasA: RgbCanvas | GrayCanvas;
  readonly #canvasB: RgbCanvas | GrayCanvas;
  readonly #gray: Uint8Array | null;
  readonly #resizer: AreaResizer | null;
  readonly #obs: Uint8Array;
  /** The emulator action of each frame of a step (or of the no-op start). */
  readonly #frameActions: Uint8Array;
  #lastAction = NOOP;
  /** The action of a prefetched step (its frame actions are drawn and sent), or -1. */
  #prefetched = -1;
  #steps = 0;
  #frames = 0;
  #return = 0;

  /** `source`: a native {@linkcode Game} (wrapped in {@linkcode GameFrames}) or a frame source. */
  constructor(id: string, source: Game | FrameSource, opts: FrameOptions, seed = 0) {
    if (!Number.isInteger(opts.frameSkip) || opts.frameSkip < 1) {
      throw new Error(`frameSkip must be an integer >= 1, got ${opts.frameSkip}`);
    }
    if (!(opts.stickyActions >= 0 && opts.stickyActions < 1)) {
      throw new Error(`stickyActions must be in [0, 1), got ${opts.stickyActions}`);
    }
    this.#source = "advance" in source ? source : new GameFrames(source);
    this.#opts = opts;
    this.#rng = new Rng(seed);
    this.#perturber = new Perturber(opts.perturbation, this.#rng.fork("perturb"));
    this.#needRgb = this.#perturber.active || !opts.grayscale;
    const { width, height } = this.#source;
    const makeCanvas = () =>
      this.#needRgb ? new RgbCanvas(width, height) : new GrayCanvas(width, height);
    this.#canvasA = makeCanvas();
    this.#canvasB = makeCanvas();
    this.#gray = this.#needRgb && opts.grayscale ? new Uint8Array(width * height) : null;
    const channels = opts.grayscale ? 1 : 3;
    const [outH, outW] = opts.resize ?? [height, width];
    this.#resizer = opts.resize ? new AreaResizer(height, width, outH, outW, channels) : null;
    this.#obs = new Uint8Array(outH * outW * channels);
    this.#frameActions = new Uint8Array(Math.max(opts.frameSkip, opts.noopMax));
    this.spec = {
      id,
      actionMeanings: this.#source.actionMeanings,
      obsShape: [outH, outW, channels],
      stateKeys: this.#source.stateKeys,
    };
  }

  reset(seed?: number): ResetResult {
    if (seed !== undefined) {
      this.#rng = new Rng(seed);
      this.#perturber.reseed(this.#rng.fork("perturb"));
    }
    this.#source.reset(this.#rng.uint32());
    this.#lastAction = NOOP;
    this.#prefetched = -1;
    this.#steps = 0;
    this.#frames = 0;
    this.#return = 0;
    this.#perturber.newEpisode();
    const noops = this.#opts.noopMax > 0 ? 1 + this.#rng.int(this.#opts.noopMax) : 0;
    this.#frameActions.fill(NOOP, 0, noops);
    const played = this.#source.advance(this.#frameActions, noops, this.#canvasA, null);
    this.#frames += played.frames;
    return { obs: this.#observe(false), info: this.#info() };
  }

  step(action: number): StepResult {
    if (this.#prefetched >= 0) {
      if (action !== this.#prefetched) {
        throw new Error(`${this.spec.id}: step(${action}) after prefetch(${this.#prefetched})`);
      }
      this.#prefetched = -1;
    } else {
      this.#checkAction(action);
      this.#drawFrameActions(action);
    }
    const { frameSkip, maxPool } = this.#opts;
    const actions = this.#frameActions;
    const source = this.#source;
    const { reward, frames, pooled } = source.advance(
      actions,
      frameSkip,
      this.#canvasA,
      maxPool ? this.#canvasB : null,
    );
    this.#frames += frames;
    this.#steps++;
    this.#return += reward;
    const terminated = source.gameOver();
    const truncated = !terminated && this.#opts.maxEpisodeSteps > 0 &&
      this.#steps >= this.#opts.maxEpisodeSteps;
    const info: AtariStepInfo = this.#info();
    if (terminated || truncated) info.episode = { return: this.#return, length: this.#steps };
    return { obs: this.#observe(pooled), reward, terminated, truncated, info };
  }

  prefetch(action: number): void {
    const source = this.#source;
    if (!source.prefetch) return;
    this.#checkAction(action);
    this.#drawFrameActions(action);
    const { frameSkip, maxPool } = this.#opts;
    source.prefetch(this.#frameActions, frameSkip, this.#canvasA, maxPool ? this.#canvasB : null);
    this.#prefetched = action;
  }

  close(): void {
    this.#source.close();
  }

  #checkAction(action: number): void {
    const nActions = this.spec.actionMeanings.length;
    if (!Number.isInteger(action) || action < 0 || action >= nActions) {
      throw new Error(
        `${this.spec.id}: action ${action} is out of range (0..${nActions - 1}: ` +
          `${this.spec.actionMeanings.join(", ")})`,
      );
    }
  }

  /**
   * The emulator's action on each frame of a step: ALE's sticky actions act per frame. Drawn
   * here, not inside ALE, so that native and real games share one random stream; always one
   * draw per frame of the skip, also for frames a game-over cuts short.
   */
  #drawFrameActions(action: number): void {
    const { frameSkip, stickyActions } = this.#opts;
    const actions = this.#frameActions;
    for (let k = 0; k < frameSkip; k++) {
      if (stickyActions === 0 || this.#rng.float() >= stickyActions) this.#lastAction = action;
      actions[k] = this.#lastAction;
    }
  }

  #info(): AtariStepInfo {
    const source = this.#source;
    return { lives: source.lives(), state: source.state(), episodeFrame: this.#frames };
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
  let i = 0;
  if ((a.byteOffset | b.byteOffset | out.byteOffset) % 4 === 0) {
    // Two frames of one step are mostly the same: compare four bytes at a time and take the
    // bytewise max only where they differ (the byte loop alone took most of an RGB step).
    const words = out.length >>> 2;
    const a32 = new Uint32Array(a.buffer, a.byteOffset, words);
    const b32 = new Uint32Array(b.buffer, b.byteOffset, words);
    const out32 = new Uint32Array(out.buffer, out.byteOffset, words);
    // In place (the RGB path pools into the screen itself) an equal word is already there.
    const inPlace = out === a;
    for (let w = 0; w < words; w++) {
      const x = a32[w];
      if (x === b32[w]) {
        if (!inPlace) out32[w] = x;
        continue;
      }
      for (let j = w * 4; j < w * 4 + 4; j++) out[j] = a[j] > b[j] ? a[j] : b[j];
    }
    i = words * 4;
  }
  for (; i < out.length; i++) out[i] = a[i] > b[i] ? a[i] : b[i];
  return out;
}
