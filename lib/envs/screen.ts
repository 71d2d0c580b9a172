/**
 * {@linkcode ScreenObserver}: the per-frame part of an env config's observation pipeline
 * (grayscale, then area resize), for screens recorded elsewhere: Atari-HEAD's 210x160 RGB frames,
 * or our own recordings. The same conversions as {@linkcode AtariEnv}'s, so a model trained on
 * recorded frames sees what it sees when it plays. Frame skip and max-pooling are the recorder's
 * business; a perturbation is not applied. {@linkcode ScreenStack} adds the frame stack: what an
 * agent sees of a game played on raw screens.
 *
 * @module
 */

import { rgbToGray } from "./canvas.ts";
import type { FrameOptions } from "./atari.ts";
import { AreaResizer } from "./resize.ts";
import type { ObsShape } from "./types.ts";
import { pushFrame } from "./wrappers.ts";

/** Turns RGB screens of one size into observations (reusing its buffers: copy to keep one). */
export class ScreenObserver {
  /** `[height, width, channels]` of the observations. */
  readonly shape: ObsShape;
  readonly #gray: Uint8Array | null;
  readonly #resizer: AreaResizer | null;
  readonly #out: Uint8Array;

  constructor(
    readonly height: number,
    readonly width: number,
    opts: Pick<FrameOptions, "grayscale" | "resize">,
  ) {
    const channels = opts.grayscale ? 1 : 3;
    const [outH, outW] = opts.resize ?? [height, width];
    this.shape = [outH, outW, channels];
    this.#gray = opts.grayscale ? new Uint8Array(height * width) : null;
    this.#resizer = opts.resize ? new AreaResizer(height, width, outH, outW, channels) : null;
    this.#out = new Uint8Array(outH * outW * channels);
  }

  /** The observation of one `height x width x 3` RGB screen. */
  observe(rgb: Uint8Array): Uint8Array {
    if (rgb.length !== this.height * this.width * 3) {
      throw new Error(
        `ScreenObserver: expected a ${this.width}x${this.height} RGB screen ` +
          `(${this.height * this.width * 3} bytes), got ${rgb.length} bytes`,
      );
    }
    const frame = this.#gray ? rgbToGray(rgb, this.#gray) : rgb;
    if (!this.#resizer) {
      this.#out.set(frame);
      return this.#out;
    }
    return this.#resizer.resize(frame, this.#out);
  }
}

/**
 * Observations stacked as the `FrameStack` wrapper stacks them (channels last, oldest first): after
 * `reset` the stack holds k copies of a game's first observation, then `push` adds the newest.
 */
export class ObservationStack {
  /** The stack (reused: copy to keep one). */
  readonly stack: Uint8Array;
  readonly #channels: number;

  constructor(shape: ObsShape, readonly k: number) {
    const [h, w, c] = shape;
    this.#channels = c;
    this.stack = new Uint8Array(h * w * c * k);
  }

  /** Starts a game. */
  reset(obs: Uint8Array): Uint8Array {
    const c = this.#channels, k = this.k;
    const pixels = obs.length / c;
    for (let p = 0; p < pixels; p++) {
      for (let i = 0; i < k; i++) {
        for (let ch = 0; ch < c; ch++) this.stack[(p * k + i) * c + ch] = obs[p * c + ch];
      }
    }
    return this.stack;
  }

  /** Adds the newest observation. */
  push(obs: Uint8Array): Uint8Array {
    pushFrame(this.stack, obs, this.k, this.#channels);
    return this.stack;
  }
}

/**
 * What an agent trained on a frame pipeline sees of a game played on raw RGB screens: each
 * screen through a {@linkcode ScreenObserver}, then stacked by an {@linkcode ObservationStack}
 * (a game's first screen fills the stack, as the `FrameStack` wrapper does after `reset`).
 */
export class ScreenStack {
  /** `[height, width, channels * frameStack]` of the stacks. */
  readonly shape: ObsShape;
  readonly #observer: ScreenObserver;
  readonly #stack: ObservationStack;
  #fresh = true;

  constructor(
    height: number,
    width: number,
    opts: Pick<FrameOptions, "grayscale" | "resize"> & { frameStack: number },
  ) {
    this.#observer = new ScreenObserver(height, width, opts);
    this.#stack = new ObservationStack(this.#observer.shape, opts.frameStack);
    const [h, w, c] = this.#observer.shape;
    this.shape = [h, w, c * opts.frameStack];
  }

  /** Starts a game: the next screen fills the stack. */
  reset(): void {
    this.#fresh = true;
  }

  /** The stack after `rgb`, the game's newest screen (reused: copy to keep it). */
  push(rgb: Uint8Array): Uint8Array {
    const obs = this.#observer.observe(rgb);
    const stack = this.#fresh ? this.#stack.reset(obs) : this.#stack.push(obs);
    this.#fresh = false;
    return stack;
  }
}
