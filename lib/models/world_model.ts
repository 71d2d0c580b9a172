/**
 * The action-conditioned world model (stage 2), after V-JEPA 2-AC: a transformer predictor over
 * the latents of a frozen encoder. Each step t of a sequence contributes an action token and the
 * latent tokens of its frame (every patch token, as V-JEPA 2-AC, or one pooled token), and
 * attention is block-causal: a token sees the tokens of its own step and of earlier steps. The
 * outputs at step t's latent tokens predict the latents of frame t+1.
 *
 *   s_t = LN(f(x_t))                                   frozen encoder, per token, no affine
 *   u_t = [W_a onehot(a_t) + b_a ; W_s s_t + p_space] + p_time(t)
 *   s_hat_{t+1} = W_o LN(P(u_0 .. u_t))[latent tokens of step t]
 *   (with `residual`: s_hat_{t+1} = s_t + sigma * W_o LN(...), sigma the typical change)
 *
 * Loss on a window of T+1 frames (T = 8 steps), as in V-JEPA 2-AC:
 *
 *   L_tf   = 1/T sum_{t<T} |P(s_0..s_t, a_0..a_t) - s_{t+1}|_1                teacher forcing
 *   L_roll = 1/k sum_{j=1..k} |s_hat_j - s_j|_1,  s_hat_j = P(s_0, s_hat_1..s_hat_{j-1}; a_0..a_{j-1})
 *   L = w_tf L_tf + w_roll L_roll                        (0.7 / 0.3; k = 4)
 *
 * where |.|_1 is the mean absolute error over tokens and channels (or, as an option, smooth L1),
 * and the rollout keeps its gradient through the fed-back predictions. The action-blind control is the same network
 * trained with every action token blanked (the one-hot input all zeros, so only `b_a` remains).
 *
 * Rollouts longer than T steps slide a window of the last T steps, so the time embedding never
 * sees an index it was not trained on.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../data/reader.ts";
import { frameStackBatches } from "../data/batches.ts";
import { blocks, initBlocks, initLayerNorm, initLinear, layerNorm, linear } from "../nn/layers.ts";
import { type Params, truncNormal, variableOf } from "../nn/params.ts";
import { sincos2d } from "../nn/vit.ts";
import { l1, smoothL1 } from "../ssl/losses.ts";
import type { Rng } from "../tensor/rng.ts";
import type { OnStep } from "../run/progress.ts";
import { embeddingShape, embedFrames, type FrozenEncoder } from "./encoder.ts";

/** How frames become predictor tokens. */
export type LatentTokens = "patch" | "pooled";

/** The predictor transformer. */
export interface WorldModelConfig {
  /** `patch`: every patch token of a frame (V-JEPA 2-AC); `pooled`: their mean, one token. */
  tokens: LatentTokens;
  width: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  /** Steps per training window (T); also the longest context a rollout feeds the predictor. */
  steps: number;
  /**
   * Predict the change of each latent token, in units of its typical change:
   * s_hat_{t+1} = s_t + sigma * W_o ..., with sigma [N, D] the mean |s_{t+1} - s_t| of the
   * training rows. Consecutive latents of a frozen encoder differ by about 1% of their scale
   * (most of a Breakout frame stands still), far less than one Adam step moves a plain output
   * layer; predicting the scaled change starts the model near the copy-last baseline and lets
   * the optimiser resolve what does move.
   */
  residual: boolean;
}

/** What the predictor is built around: the latents' shape and the action set. */
export interface LatentSpec {
  /** Latent tokens per frame (N: the encoder's patches, or 1 pooled). */
  tokens: number;
  /** Latent width (the encoder's, D). */
  dim: number;
  /** Patch grid of the encoder (for the spatial positions of patch tokens). */
  rows: number;
  cols: number;
  numActions: number;
}

/** A world model's parameters and constants. */
export interface WorldModel {
  cfg: WorldModelConfig;
  spec: LatentSpec;
  /** `action`, `latent` (input projections), `time [T, W]`, `blocks`, `norm`, `out`. */
  params: Params;
  /** Spatial position table `[N, W]` (zeros for one pooled token). */
  space: Float32Array;
  /**
   * Constants measured on the training data, checkpointed but not trained: `deltaScale [N, D]`,
   * the mean |s_{t+1} - s_t| per token and channel (see {@linkcode deltaScale}).
   */
  stats: Params;
}

/** Builds a predictor. */
export function initWorldModel(rng: Rng, cfg: WorldModelConfig, spec: LatentSpec): WorldModel {
  if (cfg.width % cfg.heads !== 0) {
    throw new Error(`world model: width ${cfg.width} is not divisible by ${cfg.heads} heads`);
  }
  if (cfg.tokens === "patch" && spec.tokens !== spec.rows * spec.cols) {
    throw new Error(
      `world model: ${spec.tokens} patch tokens for a ${spec.rows}x${spec.cols} grid`,
    );
  }
  const w = cfg.width;
  return {
    cfg,
    spec,
    params: {
      action: initLinear(rng.fork("action"), spec.numActions, w),
      latent: initLinear(rng.fork("latent"), spec.dim, w),
      time: truncNormal([cfg.steps, w], 0.02, rng.fork("time")),
      blocks: initBlocks(rng.fork("blocks"), cfg.depth, w, cfg.mlpRatio),
      norm: initLayerNorm(w),
      out: initLinear(rng.fork("out"), w, spec.dim),
    },
    stats: { deltaScale: variableOf(tf.ones([spec.tokens, spec.dim]), false) },
    space: cfg.tokens === "patch"
      ? sincos2d(w, spec.rows, spec.cols)
      : new Float32Array(spec.tokens * w),
  };
}

/**
 * The additive block-causal mask `[L, L]` for `steps` steps of `perStep` tokens each: 0 where
 * token i may attend to token j (j's step <= i's step), -1e9 elsewhere.
 */
export function blockCausalMask(steps: number, perStep: number): Float32Array {
  const n = steps * perStep;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const si = Math.floor(i / perStep);
    for (let j = 0; j < n; j++) if (Math.floor(j / perStep) > si) out[i * n + j] = -1e9;
  }
  return out;
}

/** One-hot actions `[B * t, A]`; action -1 (none) and a blind model give zero rows. */
export function actionOneHot(actions: ArrayLike<number>, numActions: number, blind = false) {
  const out = new Float32Array(actions.length * numActions);
  if (blind) return out;
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i];
    if (a >= numActions) throw new Error(`action ${a} outside the ${numActions} actions`);
    if (a >= 0) out[i * numActions + a] = 1;
  }
  return out;
}

/**
 * Next-step predictions: `s [B, t, N, D]` latents of steps 0..t-1 and `a [B, t, A]` their
 * one-hot actions give `[B, t, N, D]`, the predicted latents of steps 1..t. `t <= cfg.steps`.
 */
export function predictNext(model: WorldModel, s: tf.Tensor4D, a: tf.Tensor3D): tf.Tensor4D {
  const [b, t, n, d] = s.shape;
  const { width: w, heads } = model.cfg;
  if (t > model.cfg.steps) {
    throw new Error(`world model: ${t} steps, trained for ${model.cfg.steps}`);
  }
  if (n !== model.spec.tokens || d !== model.spec.dim) {
    throw new Error(
      `world model: latents [${n}, ${d}], expected [${model.spec.tokens}, ${model.spec.dim}]`,
    );
  }
  const p = model.params;
  const lat = tf.add(linear(p.latent as Params, s), tf.tensor4d(model.space, [1, 1, n, w]));
  const act = linear(p.action as Params, a).reshape([b, t, 1, w]);
  const time = (p.time as tf.Variable).slice([0, 0], [t, w]).reshape([1, t, 1, w]);
  const x = tf.add(tf.concat([act, lat], 2), time)
    .reshape([b, t * (n + 1), w]) as tf.Tensor3D;
  const mask = tf.tensor2d(blockCausalMask(t, n + 1), [t * (n + 1), t * (n + 1)]);
  const y = layerNorm(p.norm as Params, blocks(p.blocks as Params, x, heads, mask));
  const latentOut = y.reshape([b, t, n + 1, w]).slice([0, 0, 1, 0], [-1, -1, n, -1]);
  const out = linear(p.out as Params, latentOut) as tf.Tensor4D;
  if (!model.cfg.residual) return out;
  return tf.add(s, tf.mul(out, (model.stats.deltaScale as tf.Variable).reshape([1, 1, n, d])));
}

/** Loss weights and rollout length of stage 2. */
export interface WorldModelLossConfig {
  /** Autoregressive rollout steps k (<= T). */
  rollout: number;
  teacherWeight: number;
  rolloutWeight: number;
  /**
   * `l1` (V-JEPA 2-AC's), or `smoothL1` with threshold `beta` (I-JEPA's loss; quadratic for
   * errors under beta). L1 regresses to the median: where a token changes in fewer than half of
   * the cases that the predictor cannot yet tell apart (a patch the paddle may or may not cross),
   * the L1-optimal change is zero, and a young predictor settles on copying its input. The
   * quadratic zone regresses to the mean instead, which keeps such changes in the gradient.
   */
  kind: "l1" | "smoothL1";
  beta: number;
}

/** The per-step distance of the stage-2 loss. */
function distance(cfg: WorldModelLossConfig, pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return cfg.kind === "smoothL1" ? smoothL1(pred, target, cfg.beta) : l1(pred, target);
}

/** The parts of the stage-2 loss, as tensors (see the module doc). */
export function worldModelLoss(
  model: WorldModel,
  s: tf.Tensor4D,
  a: tf.Tensor3D,
  cfg: WorldModelLossConfig,
): { loss: tf.Scalar; teacher: tf.Scalar; rollout: tf.Scalar } {
  const [, len] = s.shape;
  const T = len - 1;
  if (!(cfg.rollout >= 0 && cfg.rollout <= T)) {
    throw new Error(`world model: rollout ${cfg.rollout} must be within the ${T} steps`);
  }
  const inputs = s.slice([0, 0, 0, 0], [-1, T, -1, -1]);
  const targets = s.slice([0, 1, 0, 0], [-1, T, -1, -1]);
  const acts = a.slice([0, 0, 0], [-1, T, -1]);
  const teacher = distance(cfg, predictNext(model, inputs, acts), targets);
  let rollout = tf.scalar(0);
  if (cfg.rollout > 0) {
    let context = s.slice([0, 0, 0, 0], [-1, 1, -1, -1]);
    const errors: tf.Scalar[] = [];
    for (let j = 1; j <= cfg.rollout; j++) {
      const pred = predictNext(model, context, a.slice([0, 0, 0], [-1, j, -1]));
      const next = pred.slice([0, j - 1, 0, 0], [-1, 1, -1, -1]);
      errors.push(distance(cfg, next, s.slice([0, j, 0, 0], [-1, 1, -1, -1])));
      context = tf.concat([context, next], 1);
    }
    rollout = tf.div(tf.addN(errors), errors.length);
  }
  const loss = tf.add(tf.mul(cfg.teacherWeight, teacher), tf.mul(cfg.rolloutWeight, rollout));
  return { loss: loss as tf.Scalar, teacher, rollout };
}

/**
 * Rolls the model out: from the context latents `s [B, c, N, D]` with their actions
 * `contextActions [B, c, A]` (the last one is the first action taken), then `future [B, H-1, A]`
 * (actions of the following steps), predicts the latents of the next H steps `[B, H, N, D]`,
 * feeding each prediction back. The predictor sees at most the last `cfg.steps` steps.
 */
export function rollout(
  model: WorldModel,
  s: tf.Tensor4D,
  contextActions: tf.Tensor3D,
  future: tf.Tensor3D | null,
): tf.Tensor4D {
  return tf.tidy(() => {
    const T = model.cfg.steps;
    const horizon = 1 + (future ? future.shape[1] : 0);
    let states = s;
    let acts = contextActions;
    const out: tf.Tensor4D[] = [];
    for (let h = 0; h < horizon; h++) {
      const len = states.shape[1];
      const from = Math.max(0, len - T);
      const pred = predictNext(
        model,
        states.slice([0, from, 0, 0], [-1, len - from, -1, -1]),
        acts.slice([0, from, 0], [-1, len - from, -1]),
      );
      const next = pred.slice([0, len - from - 1, 0, 0], [-1, 1, -1, -1]);
      out.push(next);
      if (h + 1 < horizon) {
        states = tf.concat([states, next], 1);
        acts = tf.concat([acts, future!.slice([0, h, 0], [-1, 1, -1])], 1);
      }
    }
    return tf.concat(out, 1) as tf.Tensor4D;
  });
}

/** The latent spec of a frozen encoder under a token mode. */
export function latentSpec(
  enc: FrozenEncoder,
  tokens: LatentTokens,
  numActions: number,
): LatentSpec {
  const { rows, cols, tokens: n, tokenWidth } = embeddingShape(enc.cfg);
  return { tokens: tokens === "patch" ? n : 1, dim: tokenWidth, rows, cols, numActions };
}

/**
 * Latents `[count, N, D]` of frame stacks `[count, H, W, C]` (uint8): the frozen encoder's
 * grid (a ViT's output tokens, CLS dropped; a CNN's last feature map, `embedFrames` with
 * "tokens"), or its mean for `pooled`, layer-normed without affine.
 */
export function encodeLatents(
  enc: FrozenEncoder,
  frames: Uint8Array,
  count: number,
  tokens: LatentTokens,
): Float32Array {
  const { tokens: n, tokenWidth: d } = embeddingShape(enc.cfg);
  const grid = embedFrames(enc, frames, count, 128, "tokens");
  if (tokens === "patch") return normalizeRows(grid, count * n, d);
  const pooled = new Float32Array(count * d);
  for (let i = 0; i < count; i++) {
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < d; j++) pooled[i * d + j] += grid[(i * n + t) * d + j] / n;
    }
  }
  return normalizeRows(pooled, count, d);
}

/** Each `d`-wide row to zero mean and unit variance (the `normalize` of the targets). */
function normalizeRows(x: Float32Array, rows: number, d: number, eps = 1e-6): Float32Array {
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * d, (r + 1) * d);
    let mean = 0;
    for (let j = 0; j < d; j++) mean += row[j];
    mean /= d;
    let variance = 0;
    for (let j = 0; j < d; j++) variance += (row[j] - mean) ** 2;
    const scale = 1 / Math.sqrt(variance / d + eps);
    for (let j = 0; j < d; j++) row[j] = (row[j] - mean) * scale;
  }
  return x;
}

/**
 * The latents of every row of a dataset, `[numFrames, N, D]` (row i: the stack of `stack`
 * frames ending at row i). A frozen encoder's latents never change, so a world model computes
 * them once rather than at every step. `onStep` hears each encoded batch (loop "latents", in
 * rows).
 */
export function latentTable(
  enc: FrozenEncoder,
  ds: Dataset,
  stack: number,
  tokens: LatentTokens,
  onStep?: OnStep,
): Float32Array {
  const { tokens: n, tokenWidth } = embeddingShape(enc.cfg);
  const perFrame = (tokens === "patch" ? n : 1) * tokenWidth;
  const [h, w, c] = ds.frameShape;
  if (h !== enc.cfg.imageSize[0] || w !== enc.cfg.imageSize[1] || c * stack !== enc.cfg.channels) {
    throw new Error(
      `the encoder takes ${enc.cfg.imageSize.join("x")}x${enc.cfg.channels} stacks, the dataset ` +
        `gives ${h}x${w}x${c * stack} (${stack} frames of ${ds.frameShape.join("x")})`,
    );
  }
  const out = new Float32Array(ds.numFrames * perFrame);
  let done = 0;
  for (const batch of frameStackBatches(ds, { batchSize: 256, stack, seed: 0 })) {
    const k = batch.shape[0];
    const z = encodeLatents(enc, batch.frames, k, tokens);
    for (let i = 0; i < k; i++) {
      out.set(z.subarray(i * perFrame, (i + 1) * perFrame), batch.indices[i] * perFrame);
    }
    done += k;
    onStep?.({ loop: "latents", step: done, total: ds.numFrames, values: {} });
  }
  return out;
}

/** Rows of a latent table: `[rows.length, N, D]` as one array. */
export function gatherLatents(table: Float32Array, rows: ArrayLike<number>, perFrame: number) {
  const out = new Float32Array(rows.length * perFrame);
  for (let i = 0; i < rows.length; i++) {
    out.set(table.subarray(rows[i] * perFrame, (rows[i] + 1) * perFrame), i * perFrame);
  }
  return out;
}

/**
 * Mean |s_{t+1} - s_t| per token and channel `[N, D]` over consecutive rows of the given
 * episode spans (floored at a tenth of the overall mean, so no channel's scale is zero).
 */
export function deltaScale(
  table: Float32Array,
  spans: { start: number; length: number }[],
  perFrame: number,
): Float32Array {
  const sum = new Float64Array(perFrame);
  let count = 0;
  for (const { start, length } of spans) {
    for (let r = start; r + 1 < start + length; r++) {
      const a = r * perFrame;
      const b = a + perFrame;
      for (let j = 0; j < perFrame; j++) sum[j] += Math.abs(table[b + j] - table[a + j]);
      count++;
    }
  }
  const mean = Float32Array.from(sum, (v) => v / Math.max(1, count));
  const floor = 0.1 * mean.reduce((a, b) => a + b, 0) / perFrame || 1e-3;
  return mean.map((v) => Math.max(v, floor));
}
