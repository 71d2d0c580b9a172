/**
 * The episode-level Atari wrappers of CleanRL / OpenAI Baselines, as {@linkcode Env}s wrapping
 * an {@linkcode Env}: fire reset, episodic life, reward clipping and frame stacking.
 *
 * @module
 */

import { NOOP } from "./atari.ts";
import type { Env, EnvSpec, ResetResult, StepResult } from "./types.ts";

/** Forwards everything to the inner env; subclasses override what they change. */
export class EnvWrapper implements Env {
  constructor(readonly inner: Env) {}
  get spec(): EnvSpec {
    return this.inner.spec;
  }
  reset(seed?: number): ResetResult {
    return this.inner.reset(seed);
  }
  step(action: number): StepResult {
    return this.inner.step(action);
  }
  prefetch(action: number): void {
    this.inner.prefetch?.(action);
  }
  close(): void {
    this.inner.close();
  }
}

/**
 * Presses FIRE (then action 2) after every reset, for games that wait for FIRE to serve.
 * Like Baselines' `FireResetEnv`, it resets again if either press ends the episode.
 */
export class FireReset extends EnvWrapper {
  constructor(inner: Env) {
    super(inner);
    const meanings = inner.spec.actionMeanings;
    if (meanings[1] !== "FIRE" || meanings.length < 3) {
      throw new Error(`FireReset: ${inner.spec.id} has no FIRE action at index 1 (${meanings})`);
    }
  }

  override reset(seed?: number): ResetResult {
    let result = this.inner.reset(seed);
    for (const action of [1, 2]) {
      const r = this.inner.step(action);
      if (r.terminated || r.truncated) result = this.inner.reset();
      else result = { obs: r.obs, info: r.info };
    }
    return result;
  }
}

/**
 * Ends an episode on every life lost (the value target sees a terminal state), while the game
 * itself goes on: `reset` after a life loss only steps NOOP. The real game end is `gameOver`.
 */
export class EpisodicLife extends EnvWrapper {
  #lives = 0;
  #gameOver = true;

  /** True when the last episode ended with the whole game, not just a life. */
  get gameOver(): boolean {
    return this.#gameOver;
  }

  override reset(seed?: number): ResetResult {
    let result: ResetResult;
    if (this.#gameOver || seed !== undefined) {
      result = this.inner.reset(seed);
    } else {
      const r = this.inner.step(NOOP);
      result = r.terminated || r.truncated ? this.inner.reset() : { obs: r.obs, info: r.info };
    }
    this.#gameOver = false;
    this.#lives = result.info.lives;
    return result;
  }

  override step(action: number): StepResult {
    const r = this.inner.step(action);
    this.#gameOver = r.terminated || r.truncated;
    const lives = r.info.lives;
    const lostLife = lives < this.#lives && lives > 0;
    this.#lives = lives;
    return lostLife ? { ...r, terminated: true } : r;
  }
}

/** Replaces rewards by their sign (-1, 0, 1). */
export class ClipReward extends EnvWrapper {
  override step(action: number): StepResult {
    const r = this.inner.step(action);
    return { ...r, reward: Math.sign(r.reward) };
  }
}

/**
 * Stacks the last `k` observations along the channel axis (channels-last, oldest first), as
 * tfjs convolutions expect. After a reset the stack holds k copies of the first frame.
 */
export class FrameStack extends EnvWrapper {
  readonly #spec: EnvSpec;
  readonly #stack: Uint8Array;
  readonly #channels: number;

  constructor(inner: Env, readonly k: number) {
    super(inner);
    if (!Number.isInteger(k) || k < 1) throw new Error(`FrameStack: k must be >= 1, got ${k}`);
    const [h, w, c] = inner.spec.obsShape;
    this.#channels = c;
    this.#spec = { ...inner.spec, obsShape: [h, w, c * k] };
    this.#stack = new Uint8Array(h * w * c * k);
  }

  override get spec(): EnvSpec {
    return this.#spec;
  }

  override reset(seed?: number): ResetResult {
    const r = this.inner.reset(seed);
    const { k } = this;
    const c = this.#channels;
    const stack = this.#stack;
    const pixels = r.obs.length / c;
    for (let p = 0; p < pixels; p++) {
      for (let i = 0; i < k; i++) {
        for (let ch = 0; ch < c; ch++) stack[(p * k + i) * c + ch] = r.obs[p * c + ch];
      }
    }
    return { obs: stack, info: r.info };
  }

  override step(action: number): StepResult {
    const r = this.inner.step(action);
    pushFrame(this.#stack, r.obs, this.k, this.#channels);
    return { ...r, obs: this.#stack };
  }
}

/** Shifts a channels-last stack of k frames by one and writes `frame` as the newest. */
export function pushFrame(stack: Uint8Array, frame: Uint8Array, k: number, c: number): void {
  if (k === 4 && c === 1 && stack.byteOffset % 4 === 0) {
    // Four gray frames per pixel are one little-endian uint32: shifting the stack is one
    // shift per pixel instead of four byte moves.
    const words = new Uint32Array(stack.buffer, stack.byteOffset, frame.length);
    for (let p = 0; p < frame.length; p++) words[p] = (words[p] >>> 8) | (frame[p] << 24);
    return;
  }
  const group = k * c;
  const pixels = frame.length / c;
  for (let p = 0; p < pixels; p++) {
    const base = p * group;
    stack.copyWithin(base, base + c, base + group);
    for (let ch = 0; ch < c; ch++) stack[base + group - c + ch] = frame[p * c + ch];
  }
}
