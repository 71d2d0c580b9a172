/**
 * Random Network Distillation (Burda et al. 2019): a fixed, randomly initialised target network
 * f and a trained predictor f_hat read the next observation; the predictor's error is the
 * intrinsic reward, large on observations unlike those seen so far:
 *
 *   x      = clip((o' - mu) / sigma, -5, 5)          observation normalised by running stats
 *   r_int  = ||f_hat(x) - f(x)||^2 / sigma_int       divided by a running std of r_int
 *
 * As in the paper: the observation statistics are a running mean and std per pixel of the newest
 * frame, updated with every frame the agent sees (`observeFrames`), and the intrinsic reward has
 * no mean subtracted. The paper divides by the running std of the intrinsic *returns*; here it is
 * the std of the rewards themselves, which an off-policy learner can compute per batch. Both
 * networks are the Nature CNN trunk with a linear output.
 *
 * Off-policy use (DQN): the reward is not stored in the replay buffer. Each batch's rewards come
 * from the predictor as it is when the batch is drawn (`predictorStep`, the errors before its
 * gradient step), so a frame stops paying once the predictor has learned it.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { initDense, initNatureCnn, natureCnn } from "../nn/cnn.ts";
import { linear } from "../nn/layers.ts";
import { namedParams, type Params } from "../nn/params.ts";
import type { Rng } from "../tensor/rng.ts";
import type { AdamW } from "../train/optim.ts";

/** What a checkpoint stores of a {@linkcode RunningStats}. */
export interface RunningStatsState {
  count: number;
  mean: number[];
  m2: number[];
}

/** Running mean and variance (Chan et al.'s parallel update), elementwise. */
export class RunningStats {
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  count = 0;

  constructor(readonly size: number) {
    this.mean = new Float64Array(size);
    this.m2 = new Float64Array(size);
  }

  /** Adds `n` samples (`values`: `[n, size]`). */
  update(values: ArrayLike<number>, n: number): void {
    for (let j = 0; j < this.size; j++) {
      let bMean = 0;
      for (let i = 0; i < n; i++) bMean += values[i * this.size + j];
      bMean /= n;
      let bM2 = 0;
      for (let i = 0; i < n; i++) bM2 += (values[i * this.size + j] - bMean) ** 2;
      const total = this.count + n;
      const delta = bMean - this.mean[j];
      this.mean[j] += (delta * n) / total;
      this.m2[j] += bM2 + (delta * delta * this.count * n) / total;
    }
    this.count += n;
  }

  /** The statistics, for a checkpoint (JSON numbers: doubles round-trip exactly). */
  state(): RunningStatsState {
    return { count: this.count, mean: Array.from(this.mean), m2: Array.from(this.m2) };
  }

  /** Puts back what {@linkcode state} saved; the sizes must agree. */
  restore(s: RunningStatsState): void {
    if (s.mean.length !== this.size || s.m2.length !== this.size) {
      throw new Error(`RunningStats: a state of ${s.mean.length} elements for ${this.size}`);
    }
    this.mean.set(s.mean);
    this.m2.set(s.m2);
    this.count = s.count;
  }

  /** The standard deviation of element j (1 before any sample). */
  std(j: number): number {
    return this.count > 1 ? Math.sqrt(this.m2[j] / this.count) : 1;
  }
}

/** The RND module: its two networks, the statistics, and its settings. */
export interface Rnd {
  target: Params;
  predictor: Params;
  obsStats: RunningStats;
  rewardStats: RunningStats;
  shape: [number, number, number];
}

/** A new RND module for single frames of `shape` (`[h, w, c]`), embedding width `width`. */
export function initRnd(
  rng: Rng,
  shape: [number, number, number],
  width = 512,
  widths?: readonly [number, number, number],
): Rnd {
  const [h, w, c] = shape;
  const net = (r: Rng, trainable: boolean): Params => {
    const p = {
      trunk: initNatureCnn(r.fork("trunk"), shape, width, widths),
      out: initDense(r.fork("out"), width, width, 1),
    };
    if (!trainable) { for (const [, v] of namedParams("x", p)) v.trainable = false; }
    return p;
  };
  return {
    target: net(rng.fork("target"), false),
    predictor: net(rng.fork("predictor"), true),
    obsStats: new RunningStats(h * w * c),
    rewardStats: new RunningStats(1),
    shape,
  };
}

/** `n` frames normalised by the running statistics and clipped to [-5, 5], as a tensor. */
function normalised(rnd: Rnd, frames: Uint8Array, n: number): tf.Tensor4D {
  const [h, w, c] = rnd.shape;
  const size = h * w * c;
  const x = new Float32Array(n * size);
  const { mean } = rnd.obsStats;
  for (let j = 0; j < size; j++) {
    const s = Math.max(rnd.obsStats.std(j), 1e-8);
    for (let i = 0; i < n; i++) {
      const v = (frames[i * size + j] - mean[j]) / s;
      x[i * size + j] = Math.max(-5, Math.min(5, v));
    }
  }
  return tf.tensor4d(x, [n, h, w, c]);
}

function embed(p: Params, x: tf.Tensor4D): tf.Tensor2D {
  return linear(p.out as Params, natureCnn(p.trunk as Params, x)) as tf.Tensor2D;
}

/** The per-frame squared prediction error `[n]` (a tensor: the predictor's loss reads it). */
export function rndError(rnd: Rnd, frames: Uint8Array, n: number): tf.Tensor1D {
  const x = normalised(rnd, frames, n);
  const diff = tf.sub(embed(rnd.predictor, x), embed(rnd.target, x));
  return tf.mean(tf.square(diff), 1) as tf.Tensor1D;
}

/** The observation statistics take in `n` frames the agent has seen. */
export function observeFrames(rnd: Rnd, frames: Uint8Array, n: number): void {
  rnd.obsStats.update(frames, n);
}

/**
 * Intrinsic rewards from prediction errors: each divided by the running std of the errors,
 * which takes them in first.
 */
export function intrinsicRewards(rnd: Rnd, errors: Float32Array): Float32Array {
  rnd.rewardStats.update(errors, errors.length);
  const s = Math.max(rnd.rewardStats.std(0), 1e-8);
  return errors.map((e) => e / s);
}

/**
 * One step of the predictor on `n` frames (the MSE to the target network's outputs); returns
 * each frame's error before the step, the novelty the frames had when they were drawn.
 */
export function predictorStep(
  rnd: Rnd,
  optimizer: AdamW,
  frames: Uint8Array,
  n: number,
  lr: number,
): Float32Array {
  const vars = rndTrainable(rnd);
  let errors: Float32Array = new Float32Array(0);
  const { value, grads } = tf.variableGrads(() => {
    const e = rndError(rnd, frames, n);
    errors = e.dataSync() as Float32Array;
    return tf.mean(e) as tf.Scalar;
  }, vars.map(([, v]) => v));
  const named: Record<string, tf.Tensor> = {};
  for (const [name, v] of vars) named[name] = grads[v.name];
  optimizer.apply(named, lr, 0);
  tf.dispose([value, ...Object.values(grads)]);
  return errors;
}

/** The predictor's variables (the target network is never trained). */
export function rndTrainable(rnd: Rnd): [string, tf.Variable][] {
  return namedParams("rnd/predictor", rnd.predictor);
}

/** Every variable of the module, by checkpoint name. */
export function rndParams(rnd: Rnd): [string, tf.Variable][] {
  return [...namedParams("rnd/target", rnd.target), ...rndTrainable(rnd)];
}
