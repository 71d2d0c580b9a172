/**
 * V-JEPA-style masked-latent pretraining (stage 1 of the two-stage world model), on frame
 * stacks: a random 40% of the patch tokens are replaced by a learnable mask token, the online
 * encoder sees the whole token grid, an MLP predictor maps its output at every masked position to
 * the layer-normed features an EMA target encoder computes from the unmasked input, and the loss
 * is L1 over the masked positions only:
 *
 *   m_i ~ random subset of round(0.4 N) of the N patches
 *   e_i = m_i ? e_mask : W_patch x_i + b_patch        (then + pos_i)
 *   s_i = LN(f_target(x))_i                           (no gradient; f_target = EMA of f_online)
 *   s_hat_i = MLP(f_online(e)_i)
 *   loss = sum_i m_i |s_hat_i - s_i|_1 / (D sum_i m_i)
 *
 * Where I-JEPA drops the masked tokens from the encoder and lets a transformer predictor fill
 * them in, here the encoder itself carries the mask tokens, so a per-token MLP suffices as
 * predictor. The encoder is the same ViT as I-JEPA's (`lib/nn/vit.ts`).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { gelu, initLinear, linear, noGrad, normalize } from "../nn/layers.ts";
import { cloneParams, type Params, truncNormal } from "../nn/params.ts";
import { initVit, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { randomMask } from "../ssl/masks.ts";
import type { Rng } from "../tensor/rng.ts";

/** Shape of the stage-1 model. */
export interface VJepaConfig {
  encoder: VitConfig;
  /** The MLP predictor: `depth` hidden layers of `hidden` units with GELU. */
  predictor: { hidden: number; depth: number };
}

/** Online encoder, predictor (with the mask token) and EMA target encoder. */
export interface VJepaModel {
  cfg: VJepaConfig;
  online: Params;
  /** `maskToken [1, 1, D]` and the MLP layers `layers.0 ... layers.depth`. */
  predictor: Params;
  target: Params;
  /** Position table `[N, D]`. */
  pos: Float32Array;
}

/** Builds a model; the target starts as a copy of the online encoder. */
export function initVJepa(rng: Rng, cfg: VJepaConfig): VJepaModel {
  const { rows, cols } = vitGrid(cfg.encoder);
  const online = initVit(rng.fork("encoder"), cfg.encoder);
  const d = cfg.encoder.width;
  const { hidden, depth } = cfg.predictor;
  if (!(Number.isInteger(depth) && depth >= 1)) {
    throw new Error(`V-JEPA predictor: depth must be an integer >= 1, got ${depth}`);
  }
  const r = rng.fork("predictor");
  const layers: Params = {};
  for (let i = 0; i <= depth; i++) {
    layers[String(i)] = initLinear(
      r.fork(`layer/${i}`),
      i === 0 ? d : hidden,
      i === depth ? d : hidden,
    );
  }
  return {
    cfg,
    online,
    predictor: { maskToken: truncNormal([1, 1, d], 0.02, r.fork("mask")), layers },
    target: cloneParams(online, false),
    pos: sincos2d(d, rows, cols),
  };
}

/** The MLP predictor on `[..., D]` features. */
export function vjepaPredict(predictor: Params, z: tf.Tensor): tf.Tensor {
  const layers = predictor.layers as Params;
  const keys = Object.keys(layers);
  keys.forEach((k, i) => {
    z = linear(layers[k] as Params, z);
    if (i < keys.length - 1) z = gelu(z);
  });
  return z;
}

/** The size of a {@linkcode randomMaskBatch} and how much of it is masked. */
export interface RandomMaskBatchOptions {
  /** Samples `B` in the batch (one independent mask each). */
  batch: number;
  /** Tokens `N` per sample. */
  tokens: number;
  /** Fraction of each sample's tokens masked (`round(ratio * N)`), in (0, 1). */
  ratio: number;
}

/** A batch of random masks as `[B * N]` floats, 1 at masked tokens (`ratio` of them). */
export function randomMaskBatch(rng: Rng, opts: RandomMaskBatchOptions): Float32Array {
  const { batch: b, tokens: n, ratio } = opts;
  if (!(ratio > 0 && ratio < 1)) throw new Error(`mask ratio must be in (0, 1), got ${ratio}`);
  const out = new Float32Array(b * n);
  for (let i = 0; i < b; i++) {
    for (const t of randomMask(rng, n, ratio).masked) out[i * n + t] = 1;
  }
  return out;
}

/** Drops the CLS token, if any, from encoder output. */
function patchTokens(z: tf.Tensor3D, cls: boolean): tf.Tensor3D {
  return cls ? z.slice([0, 1, 0], [-1, -1, -1]) : z;
}

/**
 * The stage-1 loss for a batch. `patches` is `[B, N, patchDim]` (see `patchify`), `mask` is
 * `[B * N]` with 1 at masked tokens (see {@linkcode randomMaskBatch}).
 */
export function vjepaLoss(
  model: VJepaModel,
  patches: Float32Array,
  b: number,
  mask: Float32Array,
): tf.Scalar {
  const enc = model.cfg.encoder;
  const { tokens: n, patchDim } = vitGrid(enc);
  const d = enc.width;
  const x = tf.tensor3d(patches, [b, n, patchDim]);
  const pos = tf.tensor3d(model.pos, [1, n, d]);
  const target = noGrad(() =>
    normalize(patchTokens(vitEncode(model.target, enc, x, pos), enc.cls))
  );
  const m = tf.tensor3d(mask, [b, n, 1]);
  // The mask token replaces the patch embedding W x + b: with the masked patches zeroed the
  // embedding there is b alone, so adding (e_mask - b) at those positions (through the position
  // argument) gives e_mask exactly, and vitEncode needs no special path.
  const bias = ((model.online.patch as Params).b as tf.Variable).reshape([1, 1, d]);
  const swap = tf.mul(m, tf.sub(model.predictor.maskToken as tf.Variable, bias));
  const z = vitEncode(model.online, enc, tf.mul(x, tf.sub(1, m)) as tf.Tensor3D, tf.add(pos, swap));
  const pred = vjepaPredict(model.predictor, patchTokens(z, enc.cls));
  const err = tf.sum(tf.mul(tf.abs(tf.sub(pred, target)), m));
  return tf.div(err, tf.mul(tf.sum(m), d)) as tf.Scalar;
}
