/**
 * A JEPA on transitions `(s_t, a_t, s_t+1)` held up by VICReg instead of (only) an EMA target,
 * after the seed project that compared it with a pixel encoder-decoder:
 *
 *   z_t     = pool(f(s_t))                       online ViT, mean of the final tokens
 *   zbar    = sg(pool(fbar(s_t+1)))              EMA target encoder, no gradient
 *   z_hat   = z_t + g([z_t, onehot(a_t)])        action-conditioned MLP predictor of the change
 *   h                                            VICReg's expander (lib/ssl/vicreg.ts)
 *   loss    = lambda MSE(h(z_hat), h(zbar)) + mu v(h(z_t)) + nu c(h(z_t))
 *
 * The predictor predicts the change of the embedding: consecutive frames differ in a few pixels,
 * so "no change" is the right starting point and the MLP only has to learn what the action and
 * the ball's motion add. All three terms act on the expander's outputs, as in the paper: its
 * batch norm makes them blind to the representation's overall scale, so the invariance term
 * cannot be won by shrinking the representation while the expander scales it back up for the
 * variance term. With mu = nu = 0 and no expander (`h` the identity) it is a plain EMA JEPA on
 * pooled embeddings, the ablation that shows what the VICReg terms prevent (collapse: a falling
 * embedding std and effective rank).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { initMlp, mlp } from "../nn/layers.ts";
import { cloneParams, type Params } from "../nn/params.ts";
import { initVit, pool, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { mse } from "../ssl/losses.ts";
import {
  expander,
  initExpander,
  vicregCovariance,
  vicregVariance,
  type VicregWeights,
} from "../ssl/vicreg.ts";
import type { Rng } from "../tensor/rng.ts";

/** The model's shape. */
export interface VicregJepaConfig {
  encoder: VitConfig;
  /** Hidden width of the predictor MLP. */
  hidden: number;
  /** Widths of VICReg's expander (`[]`: the terms act on the embedding itself). */
  expander: readonly number[];
  numActions: number;
}

/** Online encoder, predictor and expander (trained) and the EMA target encoder. */
export interface VicregJepa {
  cfg: VicregJepaConfig;
  online: Params;
  predictor: Params;
  expander: Params;
  target: Params;
  pos: Float32Array;
}

/** Builds a model; the target starts as a copy of the online encoder. */
export function initVicregJepa(rng: Rng, cfg: VicregJepaConfig): VicregJepa {
  const { rows, cols } = vitGrid(cfg.encoder);
  const d = cfg.encoder.width;
  const online = initVit(rng.fork("encoder"), cfg.encoder);
  return {
    cfg,
    online,
    predictor: initMlp(rng.fork("predictor"), d + cfg.numActions, cfg.hidden, d),
    expander: initExpander(rng.fork("expander"), d, cfg.expander),
    target: cloneParams(online, false),
    pos: sincos2d(d, rows, cols),
  };
}

/** Pooled embeddings `[B, width]` of patches `[B, N, patchDim]` under `params`. */
export function embedPatches(
  model: VicregJepa,
  params: Params,
  patches: tf.Tensor3D,
): tf.Tensor2D {
  const n = patches.shape[1];
  const pos = tf.tensor3d(model.pos, [1, n, model.cfg.encoder.width]);
  return pool(vitEncode(params, model.cfg.encoder, patches, pos), model.cfg.encoder.cls);
}

/** Predicted next embeddings `[B, width]` from embeddings `[B, width]` and one-hot actions. */
export function predictEmbedding(model: VicregJepa, z: tf.Tensor2D, actions: tf.Tensor2D) {
  return tf.add(z, mlp(model.predictor, tf.concat([z, actions], 1))) as tf.Tensor2D;
}

/** The loss's terms, unweighted, and their weighted sum. */
export interface VicregTerms {
  total: tf.Scalar;
  invariance: tf.Scalar;
  variance: tf.Scalar;
  covariance: tf.Scalar;
}

/** The loss of a batch: `now`, `next` patches `[B, N, patchDim]`, `actions` one-hot `[B, A]`. */
export function vicregJepaLoss(
  model: VicregJepa,
  now: tf.Tensor3D,
  next: tf.Tensor3D,
  actions: tf.Tensor2D,
  w: VicregWeights,
): VicregTerms {
  const z = embedPatches(model, model.online, now);
  const target = tf.tidy(() => embedPatches(model, model.target, next));
  const h = (y: tf.Tensor2D) => expander(model.expander, y);
  const invariance = mse(h(predictEmbedding(model, z, actions)), h(target));
  const expanded = h(z);
  const variance = vicregVariance(expanded, w.gamma, w.eps);
  const covariance = vicregCovariance(expanded);
  const total = tf.addN([
    tf.mul(invariance, w.invariance),
    tf.mul(variance, w.variance),
    tf.mul(covariance, w.covariance),
  ]) as tf.Scalar;
  return { total, invariance, variance, covariance };
}
