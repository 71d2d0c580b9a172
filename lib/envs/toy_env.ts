/**
 * A toy {@linkcode Env} for testing RL code in seconds: each step shows a random bit as a tiny
 * image (its left or its right half white), and pays 1 for the action equal to the bit. An episode is
 * `length` steps; random play earns `length / 2`, a perfect policy `length`. It reports
 * `info.episode` on the last step, as the Atari envs do at a game's end.
 *
 * @module
 */

import type { AtariStepInfo } from "./atari.ts";
import type { Env, EnvSpec, ResetResult, StepResult } from "./types.ts";
import { Rng } from "../tensor/rng.ts";

/** See the module doc. */
export class SignalEnv implements Env {
  readonly spec: EnvSpec;
  readonly #obs: Uint8Array;
  #rng = new Rng(0);
  #bit = 0;
  #t = 0;
  #return = 0;

  constructor(readonly length = 8, size = 2) {
    this.spec = {
      id: "toy:signal",
      actionMeanings: ["ZERO", "ONE"],
      obsShape: [size, size, 1],
      stateKeys: ["bit"],
    };
    this.#obs = new Uint8Array(size * size);
  }

  reset(seed?: number): ResetResult {
    if (seed !== undefined) this.#rng = new Rng(seed);
    this.#t = 0;
    this.#return = 0;
    this.#draw();
    return { obs: this.#obs, info: this.#info() };
  }

  step(action: number): StepResult {
    const reward = action === this.#bit ? 1 : 0;
    this.#t++;
    this.#return += reward;
    this.#draw();
    const terminated = this.#t >= this.length;
    const info: AtariStepInfo = this.#info();
    if (terminated) info.episode = { return: this.#return, length: this.#t };
    return { obs: this.#obs, reward, terminated, truncated: false, info };
  }

  close(): void {}

  #draw(): void {
    this.#bit = this.#rng.int(2);
    // Both bits light some pixels: a ReLU trunk sees non-zero features either way.
    const [h, w] = this.spec.obsShape;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        this.#obs[y * w + x] = (x < w / 2) === (this.#bit === 0) ? 255 : 0;
      }
    }
  }

  #info(): AtariStepInfo {
    return { lives: 0, state: { bit: this.#bit }, episodeFrame: this.#t };
  }
}
