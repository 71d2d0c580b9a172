/**
 * Random Network Distillation (Burda et al. 2019): a fixed, randomly initialised target network
 * f and a trained predictor f_hat read the next observation; the predictor's error is the
 * intrinsic reward, large on observations unlike those seen so far:
 *
 *   x      = clip((o' - mu) / sigma, -5, 5)          observation normalised by running stats
 *   e      = ||f_hat(x) - f(x)||^2                   the predictor's error
 *   r_int  = e / sigma_R                             (`normalize: return`, the paper's)
 *            R_t = gamma_I R_{t-1} + e_t             the intrinsic return of the env stream,
 *                                                    sigma_R its running std
 *   r_int  = e / sigma_e                             (`normalize: reward`: the errors' own std)
 *
 * As in the paper: the observation statistics are a running mean and std per pixel of the newest
 * frame, updated with every frame the agent sees (`observeFrames`), and the intrinsic reward has
 * no mean subtracted. The return's std is larger than the reward's (about 7x for uncorrelated
 * errors at gamma_I 0.99), so the paper's intrinsic rewards are smaller: dividing by the errors'
 * own std left them at std 1 per step, and the intrinsic head's TD loss 100x the extrinsic one's
 * in the shared trunk (results/reference/dqn-exploration/README.md). The return runs on the
 * env's stream (`observeReturn`, one predictor pass per env step), never cut at game over. Both
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

/** How intrinsic rewards are scaled: see the module doc. */
export type RndNormalize = "return" | "reward";

/** The RND module: its two networks, the statistics, and its settings. */
export interface Rnd {
  target: Params;
  predictor: Params;
  obsStats: RunningStats;
  /** The errors' statistics (`normalize: reward`). */
  rewardStats: RunningStats;
  /** The env stream's intrinsic return R_t and its statistics (`normalize: return`). */
  intrinsicReturn: number;
  returnStats: RunningStats;
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
    intrinsicReturn: 0,
    returnStats: new RunningStats(1),
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
 * The env stream's newest frame (`[1, h, w, c]`, after {@linkcode observeFrames}): its error
 * joins the intrinsic return R_t = gamma R_{t-1} + e_t, and R_t the return's statistics.
 */
export function observeReturn(rnd: Rnd, frame: Uint8Array, gamma: number): void {
  const e = tf.tidy(() => rndError(rnd, frame, 1).dataSync()[0]);
  rnd.intrinsicReturn = gamma * rnd.intrinsicReturn + e;
  rnd.returnStats.update([rnd.intrinsicReturn], 1);
}

/**
 * Intrinsic rewards from prediction errors: each divided by the running std of the env stream's
 * intrinsic return (`return`), or of the errors, which then take the errors in first (`reward`).
 */
export function intrinsicRewards(
  rnd: Rnd,
  errors: Float32Array,
  normalize: RndNormalize = "reward",
): Float32Array {
  if (normalize === "reward") rnd.rewardStats.update(errors, errors.length);
  const stats = normalize === "reward" ? rnd.rewardStats : rnd.returnStats;
  const s = Math.max(stats.std(0), 1e-8);
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
