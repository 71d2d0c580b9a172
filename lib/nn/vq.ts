/**
 * Vector quantisation (van den Oord et al. 2017, VQ-VAE): each encoder output z_e is replaced by
 * its nearest codebook vector, with the straight-through estimator carrying the decoder's
 * gradient back to the encoder:
 *
 *   k    = argmin_j ||z_e - c_j||^2
 *   z_q  = c_k
 *   out  = z_e + sg(z_q - z_e)                  (forward: z_q; backward: identity to z_e)
 *   L_cb = ||sg(z_e) - z_q||^2                  moves the codes toward the encoder outputs
 *   L_c  = ||z_e - sg(z_q)||^2                  commitment, weighted by beta (0.25)
 *
 * Codes the encoder stops choosing never move again (dead codes); {@linkcode CodeUsage} tracks
 * an exponential moving average of how often each is chosen and resets the unused ones to
 * encoder outputs of the current batch, as the seed project and most VQ-VAE recipes do.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { noGrad } from "./layers.ts";
import { variable } from "./params.ts";
import type { Rng } from "../tensor/rng.ts";

/** What {@linkcode quantize} returns. */
export interface Quantized {
  /** `[B]` the chosen code of each row. */
  indices: Int32Array;
  /** `[B, D]` z_q forward, the straight-through gradient backward. */
  quantized: tf.Tensor2D;
  codebookLoss: tf.Scalar;
  commitmentLoss: tf.Scalar;
}

/** A tensor's value as a constant: no gradient flows through it. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return noGrad(() => x.clone());
}

/** The nearest code of each row of `ze` `[B, D]` in `codebook` `[K, D]` (squared L2). */
export function nearestCodes(codebook: tf.Tensor2D, ze: tf.Tensor2D): Int32Array {
  return tf.tidy(() => {
    const d = tf.add(
      tf.sub(tf.sum(tf.square(ze), 1, true), tf.mul(2, tf.matMul(ze, codebook, false, true))),
      tf.sum(tf.square(codebook), 1).reshape([1, -1]),
    );
    return tf.argMin(d, 1).dataSync() as Int32Array;
  });
}

/** Quantises `ze` `[B, D]` with `codebook` `[K, D]` (the module doc's equations). */
export function quantize(codebook: tf.Variable, ze: tf.Tensor2D): Quantized {
  const indices = nearestCodes(codebook as tf.Tensor2D, noGrad(() => ze.clone()));
  const zq = tf.gather(codebook, tf.tensor1d(indices, "int32")) as tf.Tensor2D;
  const zeConst = stopGradient(ze);
  const zqConst = stopGradient(zq);
  return {
    indices,
    quantized: tf.add(ze, tf.sub(zqConst, zeConst)) as tf.Tensor2D,
    codebookLoss: tf.mean(tf.square(tf.sub(zq, zeConst))),
    commitmentLoss: tf.mean(tf.square(tf.sub(ze, zqConst))),
  };
}

/**
 * How often each code is chosen, and the reset of codes nobody chooses. The shares live in a
 * (non-trainable) variable, so a checkpoint holds them and a resumed run resets the same codes.
 */
export class CodeUsage {
  /** `[K]` EMA of each code's share of the rows of a batch. */
  readonly share: tf.Variable;

  constructor(readonly size: number, readonly decay = 0.99) {
    this.share = variable(new Float32Array(size).fill(1 / size), [size], false);
  }

  /** Takes in one batch's chosen codes. */
  update(indices: ArrayLike<number>): void {
    const counts = new Float32Array(this.size);
    for (let i = 0; i < indices.length; i++) counts[indices[i]] += 1 / indices.length;
    const share = this.share.dataSync() as Float32Array;
    const next = share.map((v, k) => this.decay * v + (1 - this.decay) * counts[k]);
    tf.tidy(() => this.share.assign(tf.tensor1d(next)));
  }

  /** Codes whose share fell below `threshold` (a fraction of the uniform share 1/K). */
  dead(threshold: number): number[] {
    const floor = threshold / this.size;
    const share = this.share.dataSync();
    return [...share.keys()].filter((k) => share[k] < floor);
  }

  /**
   * Resets `codes` in `codebook` to rows of `ze` (`[B, D]` values) drawn with `rng`, each given
   * the uniform share again so it has time to be chosen.
   */
  reset(codebook: tf.Variable, codes: number[], ze: Float32Array, rng: Rng): void {
    if (codes.length === 0) return;
    const [K, D] = codebook.shape;
    const b = ze.length / D;
    const values = codebook.dataSync().slice() as Float32Array;
    const share = this.share.dataSync().slice() as Float32Array;
    for (const k of codes) {
      const row = rng.int(b);
      values.set(ze.subarray(row * D, (row + 1) * D), k * D);
      share[k] = 1 / this.size;
    }
    tf.tidy(() => {
      codebook.assign(tf.tensor2d(values, [K, D]));
      this.share.assign(tf.tensor1d(share));
    });
  }

  dispose(): void {
    this.share.dispose();
  }
}

/** Share of codes used and the perplexity exp(H) of the code histogram of `indices`. */
export function codebookStats(indices: ArrayLike<number>, size: number): {
  used: number;
  perplexity: number;
} {
  const counts = new Float64Array(size);
  for (let i = 0; i < indices.length; i++) counts[indices[i]]++;
  let h = 0;
  for (const c of counts) {
    if (c > 0) h -= (c / indices.length) * Math.log(c / indices.length);
  }
  return { used: counts.filter((c) => c > 0).length / size, perplexity: Math.exp(h) };
}

/**
 * The median distance between two codes of `codebook` (`[K, D]` values), relative to the codes'
 * mean norm: about 1.4 for independent random codes, near 0 for a collapsed codebook whose codes
 * sit on one point. Usage and perplexity miss that collapse: codes a hair apart are chosen by
 * noise, evenly, yet tell the decoder nothing.
 */
export function codebookSpread(codebook: Float32Array, size: number): number {
  const d = codebook.length / size;
  const dists: number[] = [];
  let norms = 0;
  for (let i = 0; i < size; i++) {
    let n = 0;
    for (let k = 0; k < d; k++) n += codebook[i * d + k] ** 2;
    norms += Math.sqrt(n);
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (codebook[i * d + k] - codebook[j * d + k]) ** 2;
      dists.push(Math.sqrt(s));
    }
  }
  dists.sort((a, b) => a - b);
  const mid = dists.length >> 1;
  const median = dists.length % 2 ? dists[mid] : (dists[mid - 1] + dists[mid]) / 2;
  return median / (norms / size);
}
