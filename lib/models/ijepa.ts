/**
 * I-JEPA (Assran et al. 2023) on game frames: a context encoder sees the context tokens, a
 * narrow predictor fills in mask tokens at the target positions, and the loss is the smooth L1
 * distance to the layer-normed features of an EMA target encoder that saw the whole image:
 *
 *   s_y = LN(f_target(x))[targets]            (no gradient)
 *   s_hat = g(f_context(x[context]), pos[targets])
 *   loss = smoothL1(s_hat, s_y)
 *
 * @module
 */

import { vicregCovariance, vicregVariance } from "../ssl/vicreg.ts";
import * as tf from "@tensorflow/tfjs";
import {
  blocks,
  initBlocks,
  initLayerNorm,
  initLinear,
  layerNorm,
  linear,
  noGrad,
  normalize,
} from "../nn/layers.ts";
import { cloneParams, type Params, truncNormal } from "../nn/params.ts";
import { gatherTokens, initVit, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import type { BatchMasks } from "../ssl/masks.ts";
import { smoothL1 } from "../ssl/losses.ts";
import type { Rng } from "../tensor/rng.ts";

/** The narrow transformer that predicts target features. */
export interface PredictorConfig {
  width: number;
  depth: number;
  heads: number;
  mlpRatio: number;
}

/** An I-JEPA model's shape. */
export interface IJepaConfig {
  encoder: VitConfig;
  predictor: PredictorConfig;
}

/** Trainable context encoder and predictor, and the EMA target encoder (not trainable). */
export interface IJepaModel {
  cfg: IJepaConfig;
  context: Params;
  predictor: Params;
  target: Params;
  /** Position tables `[N, width]` of the encoder and the predictor. */
  encoderPos: Float32Array;
  predictorPos: Float32Array;
}

/** Builds a model; the target starts as a copy of the context encoder. */
export function initIJepa(rng: Rng, cfg: IJepaConfig): IJepaModel {
  const { rows, cols } = vitGrid(cfg.encoder);
  const context = initVit(rng.fork("encoder"), cfg.encoder);
  const p = cfg.predictor;
  const r = rng.fork("predictor");
  const predictor: Params = {
    embed: initLinear(r.fork("embed"), cfg.encoder.width, p.width),
    maskToken: truncNormal([1, 1, p.width], 0.02, r.fork("mask")),
    blocks: initBlocks(r.fork("blocks"), p.depth, p.width, p.mlpRatio),
    norm: initLayerNorm(p.width),
    proj: initLinear(r.fork("proj"), p.width, cfg.encoder.width),
  };
  return {
    cfg,
    context,
    predictor,
    target: cloneParams(context, false),
    encoderPos: sincos2d(cfg.encoder.width, rows, cols),
    predictorPos: sincos2d(p.width, rows, cols),
  };
}

/**
 * The I-JEPA loss for a batch. `patches` is `[B, N, patchDim]` (see `patchify`), `masks` a batch
 * of multi-block masks with equal counts.
 */
export function ijepaLoss(
  model: IJepaModel,
  patches: Float32Array,
  b: number,
  masks: BatchMasks,
  opts: IJepaLossOptions = {},
): tf.Scalar {
  const reg = opts.regulariser;
  const { encoder: enc, predictor: pc } = model.cfg;
  const { tokens: n, patchDim } = vitGrid(enc);
  const d = enc.width;
  const kt = masks.targetCount;
  const m = masks.targets.length;
  const targets = ijepaTargets(model, patches, b, masks, opts.centerTargets);

  const { patches: ctxPatches, index: ctxIndex, count: kx } = contextInput(
    patches,
    masks,
    { b, n, patchDim },
    opts.pastAtTargets,
  );
  const ctx = tf.tensor3d(ctxPatches, [b, kx, patchDim]);
  const ctxPos = tf.tensor3d(gatherTokens(model.encoderPos, n, d, ctxIndex, kx), [b, kx, d]);
  const z = vitEncode(model.context, enc, ctx, ctxPos);

  const p = model.predictor;
  const ctxPredPos = gatherTokens(model.predictorPos, n, pc.width, ctxIndex, kx);
  const zp = tf.add(linear(p.embed as Params, z), tf.tensor3d(ctxPredPos, [b, kx, pc.width]));
  const targetPos = new Float32Array(m * b * kt * pc.width);
  masks.targets.forEach((t, j) =>
    targetPos.set(gatherTokens(model.predictorPos, n, pc.width, t, kt), j * b * kt * pc.width)
  );
  const queries = tf.add(p.maskToken as tf.Variable, tf.tensor3d(targetPos, [m * b, kt, pc.width]));
  const x = tf.concat([tf.concat(Array(m).fill(zp), 0), queries], 1) as tf.Tensor3D;
  // Only the mask tokens' outputs are read: the last block computes those alone (the same
  // values; it skips the context tokens' attention output, MLP and norm).
  const y = layerNorm(p.norm as Params, blocks(p.blocks as Params, x, pc.heads, undefined, kt));
  const pred = linear(p.proj as Params, y);
  const loss = smoothL1(pred, targets);
  if (!reg || (reg.variance === 0 && reg.covariance === 0)) return loss;
  // VICReg's variance and covariance terms on each sample's mean context token.
  const pooled = tf.mean(z, 1) as tf.Tensor2D;
  return tf.addN([
    loss,
    tf.mul(reg.variance, vicregVariance(pooled)),
    tf.mul(reg.covariance, vicregCovariance(pooled)),
  ]) as tf.Scalar;
}

/**
 * What the context encoder reads, per sample: the context block's patches, then (with
 * `pastAtTargets`) the patches of every position some target block covers (`targetTokens`'
 * padded union) with the stack's newest frame zeroed. `patches` `[B, count, patchDim]` (pixels
 * in (y, x, channel) order, channels oldest .. newest frame) and their token `index`
 * (`[B * count]`).
 */
export function contextInput(
  patches: Float32Array,
  masks: BatchMasks,
  { b, n, patchDim }: { b: number; n: number; patchDim: number },
  pastAtTargets?: PastAtTargets,
): { patches: Float32Array; index: Int32Array; count: number } {
  const kc = masks.contextCount;
  if (!pastAtTargets) {
    return {
      patches: gatherTokens(patches, n, patchDim, masks.context, kc),
      index: masks.context,
      count: kc,
    };
  }
  const { tokens } = targetTokens(masks, b, n);
  const past = tokens.length / b;
  const count = kc + past;
  const index = new Int32Array(b * count);
  for (let i = 0; i < b; i++) {
    index.set(masks.context.subarray(i * kc, (i + 1) * kc), i * count);
    index.set(tokens.subarray(i * past, (i + 1) * past), i * count + kc);
  }
  const out = gatherTokens(patches, n, patchDim, index, count);
  const { channels, newestChannels } = pastAtTargets;
  for (let i = 0; i < b; i++) {
    for (let t = kc; t < count; t++) {
      const base = (i * count + t) * patchDim;
      for (let px = 0; px < patchDim; px += channels) {
        out.fill(0, base + px + channels - newestChannels, base + px + channels);
      }
    }
  }
  return { patches: out, index, count };
}

/**
 * Predicting the present from the past: besides its context block, the context encoder sees the
 * target positions with their newest frame blanked (the older frames of the stack kept), so a
 * target is the region one frame later than what the context shows there. A ball inside a target
 * block is otherwise unpredictable from the context, and the EMA target learns to leave it out;
 * seen one frame earlier, where it goes next follows from its motion.
 */
export interface PastAtTargets {
  /** Channels of a stack (the encoder's input), and of its newest frame (the last ones). */
  channels: number;
  newestChannels: number;
}

/** What the I-JEPA loss adds to the paper's. */
export interface IJepaLossOptions {
  /** The context also sees the target positions one frame earlier ({@linkcode PastAtTargets}). */
  pastAtTargets?: PastAtTargets;
  /** VICReg's variance and covariance terms on the pooled context output. */
  regulariser?: PooledRegulariser;
  /** Predict each target token's departure from the batch's mean at its position (see `ijepaTargets`). */
  centerTargets?: boolean;
}

/**
 * Weights of VICReg's variance and covariance terms (Bardes et al. 2022) added to the I-JEPA
 * loss on the context encoder's pooled output, as C-JEPA (Mo & Tong 2024) adds them: from
 * scratch on a small data set the EMA target drifts toward features that do not depend on the
 * frame, and the prediction becomes trivial; the variance hinge keeps every dimension varying
 * across frames and the covariance term spreads them.
 */
export interface PooledRegulariser {
  variance: number;
  covariance: number;
}

/**
 * The loss' targets `s_y`, `[M * B, kt, width]`: the layer-normed target-encoder features of
 * each target block, block-major (block j of sample i at row j * B + i). The target encoder sees
 * every token, and its last block computes the tokens some target block reads alone (the same
 * values; see `vitEncode`). Off the gradient tape (`noGrad`, PyTorch's `torch.no_grad()`): no
 * gradient flows into the EMA encoder, and nothing is kept for one.
 *
 * `center`: the targets become what is particular to each frame,
 *
 *   s_y[i, n] = (h[i, n] - mean_j h[j, n]) / std(h - mean_j h)     (mean over the batch)
 *
 * On Atari nine patches in ten are static background whose features a predictor places by
 * position alone; centred per position, those targets are ~0, and the loss, rescaled to unit
 * size over the batch, is about the ball, the paddle and the bricks. It also removes the
 * collapsed solution's zero loss: a target encoder whose output depends on position alone leaves
 * a residual that the rescaling blows up again. The target encoder then reads every token.
 */
export function ijepaTargets(
  model: IJepaModel,
  patches: Float32Array,
  b: number,
  masks: BatchMasks,
  center = false,
): tf.Tensor3D {
  const enc = model.cfg.encoder;
  const { tokens: n, patchDim } = vitGrid(enc);
  const d = enc.width;
  const { tokens, rows } = center ? allTokens(masks, b, n) : targetTokens(masks, b, n);
  return noGrad(() => {
    const all = tf.tensor3d(patches, [b, n, patchDim]);
    const pos = tf.tensor3d(model.encoderPos, [1, n, d]);
    let h = normalize(vitEncode(model.target, enc, all, pos, center ? undefined : tokens));
    if (center) {
      const dev = tf.sub(h, tf.mean(h, 0, true));
      h = tf.div(dev, tf.add(tf.sqrt(tf.mean(tf.square(dev))), 1e-6));
    }
    const picked = tf.gather(h.reshape([-1, d]), tf.tensor1d(rows, "int32"));
    return picked.reshape([masks.targets.length * b, masks.targetCount, d]) as tf.Tensor3D;
  });
}

/** Where each target block's tokens sit in the `[B * N]` rows of every token of every sample. */
function allTokens(
  masks: BatchMasks,
  b: number,
  n: number,
): { tokens: Int32Array; rows: Int32Array } {
  const kt = masks.targetCount;
  const rows = new Int32Array(masks.targets.length * b * kt);
  masks.targets.forEach((t, j) => {
    for (let r = 0; r < b * kt; r++) rows[j * b * kt + r] = Math.floor(r / kt) * n + t[r];
  });
  return { tokens: new Int32Array(0), rows };
}

/**
 * The tokens some target block reads, per sample, padded with the sample's first other tokens
 * to the batch's largest count k: `tokens` (`[B * k]`), and where each target block's tokens sit
 * among them: `rows` (`[M * B * kt]`, block-major, indices into `[B * k]`).
 */
export function targetTokens(
  masks: BatchMasks,
  b: number,
  n: number,
): { tokens: Int32Array; rows: Int32Array } {
  const kt = masks.targetCount;
  const perSample = Array.from({ length: b }, (_, i) => {
    const read = new Set<number>();
    for (const t of masks.targets) for (let j = 0; j < kt; j++) read.add(t[i * kt + j]);
    return [...read];
  });
  const k = Math.max(0, ...perSample.map((s) => s.length));
  const tokens = new Int32Array(b * k);
  const slot = new Int32Array(b * n);
  perSample.forEach((read, i) => {
    const chosen = new Set(read);
    for (let t = 0; chosen.size < k; t++) chosen.add(t);
    [...chosen].forEach((t, j) => {
      tokens[i * k + j] = t;
      slot[i * n + t] = i * k + j;
    });
  });
  const rows = new Int32Array(masks.targets.length * b * kt);
  masks.targets.forEach((t, j) => {
    for (let r = 0; r < b * kt; r++) rows[j * b * kt + r] = slot[Math.floor(r / kt) * n + t[r]];
  });
  return { tokens, rows };
}
