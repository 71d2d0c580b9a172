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
): tf.Scalar {
  const { encoder: enc, predictor: pc } = model.cfg;
  const { tokens: n, patchDim } = vitGrid(enc);
  const d = enc.width;
  const kc = masks.contextCount;
  const kt = masks.targetCount;
  const m = masks.targets.length;

  // Targets: the target encoder sees every token; features are layer-normed, then the target
  // blocks are picked out, block-major (block j of sample i at row j * B + i). Off the gradient
  // tape (`noGrad`, PyTorch's `torch.no_grad()`): no gradient flows into the EMA encoder.
  const targets = noGrad(() => {
    const all = tf.tensor3d(patches, [b, n, patchDim]);
    const h = normalize(
      vitEncode(model.target, enc, all, tf.tensor3d(model.encoderPos, [1, n, d])),
    );
    const flat = h.reshape([b * n, d]);
    const rows = new Int32Array(m * b * kt);
    masks.targets.forEach((t, j) => {
      for (let i = 0; i < b * kt; i++) rows[j * b * kt + i] = Math.floor(i / kt) * n + t[i];
    });
    return tf.gather(flat, tf.tensor1d(rows, "int32")).reshape([m * b, kt, d]);
  });

  const ctx = tf.tensor3d(gatherTokens(patches, n, patchDim, masks.context, kc), [b, kc, patchDim]);
  const ctxPos = tf.tensor3d(gatherTokens(model.encoderPos, n, d, masks.context, kc), [b, kc, d]);
  const z = vitEncode(model.context, enc, ctx, ctxPos);

  const p = model.predictor;
  const ctxPredPos = gatherTokens(model.predictorPos, n, pc.width, masks.context, kc);
  const zp = tf.add(linear(p.embed as Params, z), tf.tensor3d(ctxPredPos, [b, kc, pc.width]));
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
  return smoothL1(pred, targets);
}
