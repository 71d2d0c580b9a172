/**
 * Playing inside the world model: a {@linkcode NeuralGame} holds a stack of frames, maps each
 * pressed action to a code (the study's mapping: its classifier from the stack and the action)
 * and steps the model, whose predicted frame joins the stack. It starts from a real stack of a
 * held-out episode, as Genie's games start from a prompt frame.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../../data/reader.ts";
import { type LatentActionModel, predictWithCodes } from "../../models/latent_action.ts";
import { unpatchify, vitGrid } from "../../nn/vit.ts";
import type { Rng } from "../../tensor/rng.ts";
import { heldOutSequences, type LatentActionTrainConfig } from "../../train/latent_action.ts";
import { encodeGif } from "../../viz/gif.ts";
import { upscaleNearest } from "../../viz/png.ts";
import { type ActionMapping, codesForActions } from "./mapping.ts";

/** The world model as a game: `step(action)` returns the next frame (gray, `h x w` bytes). */
export class NeuralGame {
  readonly height: number;
  readonly width: number;
  #stack: Float32Array;
  readonly #tokens: number;
  readonly #pp: number;
  readonly #k: number;

  constructor(
    readonly model: LatentActionModel,
    readonly mapping: ActionMapping,
    readonly start: Float32Array,
  ) {
    const enc = model.cfg.encoder;
    [this.height, this.width] = enc.imageSize;
    this.#tokens = vitGrid(enc).tokens;
    this.#pp = enc.patch ** 2;
    this.#k = enc.channels;
    if (start.length !== this.#tokens * this.#pp * this.#k) {
      throw new Error(
        `NeuralGame: a start stack of ${start.length} values, expected ` +
          `${this.#tokens * this.#pp * this.#k}`,
      );
    }
    this.#stack = start.slice();
  }

  /** Back to the start stack; its newest frame. */
  reset(): Uint8Array {
    this.#stack = this.start.slice();
    return this.frame();
  }

  /** The newest frame of the stack. */
  frame(): Uint8Array {
    const newest = new Float32Array(this.#tokens * this.#pp);
    for (let i = 0; i < newest.length; i++) newest[i] = this.#stack[i * this.#k + this.#k - 1];
    return unpatchify(newest, 1, this.height, this.width, 1, this.model.cfg.encoder.patch);
  }

  /** One step with the game's action id `action`; the predicted frame. */
  step(action: number): Uint8Array {
    const k = this.#k;
    const stack = tf.tensor3d(this.#stack, [1, this.#tokens, this.#pp * k]);
    let next: Float32Array;
    try {
      const codes = codesForActions(this.model, this.mapping, stack, [action]);
      next = tf.tidy(() => predictWithCodes(this.model, stack, codes).dataSync() as Float32Array);
    } finally {
      stack.dispose();
    }
    const shifted = new Float32Array(this.#stack.length);
    for (let i = 0; i < next.length; i++) {
      for (let j = 0; j < k - 1; j++) shifted[i * k + j] = this.#stack[i * k + j + 1];
      shifted[i * k + k - 1] = Math.min(1, Math.max(0, next[i]));
    }
    this.#stack = shifted;
    return this.frame();
  }
}

/** A real stack to start from: the first stack of a held-out sequence. */
export function startStack(cfg: LatentActionTrainConfig, ds: Dataset): Float32Array {
  const { stacks } = heldOutSequences(cfg, ds, 1);
  const { tokens } = vitGrid(
    {
      imageSize: [ds.frameShape[0], ds.frameShape[1]],
      patch: cfg.encoder.patch,
      channels: cfg.stack,
    } as Parameters<typeof vitGrid>[0],
  );
  return stacks[0].slice(0, tokens * cfg.encoder.patch ** 2 * cfg.stack);
}

/** A GIF (2x) of `steps` steps of uniformly random actions in the model. */
export function randomPlayGif(game: NeuralGame, steps: number, rng: Rng): Uint8Array {
  const frames = [game.reset()];
  for (let t = 0; t < steps; t++) {
    frames.push(game.step(rng.int(game.mapping.actionMeanings.length)));
  }
  return encodeGif(
    frames.map((f) => upscaleNearest(f, game.width, game.height, 1, 2)),
    2 * game.width,
    2 * game.height,
    1,
    { delayMs: 70 },
  );
}
