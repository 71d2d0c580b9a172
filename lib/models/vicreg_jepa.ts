/**
 * A JEPA on transitions `(s_t, a_t, s_t+1)` held up by VICReg instead of (only) an EMA target,
 * after the seed project that compared it with a pixel encoder-decoder:
 *
 *   z_t     = pool(f(s_t))                       online ViT, mean of the final tokens
 *   zbar    = sg(pool(fbar(s_t+1)))              EMA target encoder, no gradient
 *   z_hat   = z_t + g([z_t, onehot(a_t)])        action-conditioned MLP predictor of the change
 *   loss    = lambda MSE(z_hat, zbar) + mu v(z_t) + nu c(z_t)      (VICReg terms on z_t)
 *
 * or, with `over: "tokens"`, v and c on the online tokens of s_t, each position across the batch
 * (`vicregTokenTerms`).
 *
 * The predictor predicts the change of the embedding: consecutive frames differ in a few pixels,
 * so "no change" is the right starting point and the MLP only has to learn what the action and
 * the ball's motion add. With mu = nu = 0 it is a plain EMA JEPA on pooled embeddings, the
 * ablation that shows what the VICReg terms prevent (collapse: a falling embedding std).
 *
 * The terms act on the embeddings themselves, not through VICReg's expander (an MLP with batch
 * norm): tried on the small preset, the expander's batch norm left the embedding's scale and
 * offset free, and predictions in the embedding space drifted by hundreds of target variances.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { initMlp, mlp, noGrad } from "../nn/layers.ts";
import { cloneParams, type Params } from "../nn/params.ts";
import { initVit, pool, sincos2d, type VitConfig, vitEncode, vitGrid } from "../nn/vit.ts";
import { mse } from "../ssl/losses.ts";
import {
  vicregCovariance,
  vicregTokenTerms,
  vicregVariance,
  type VicregWeights,
} from "../ssl/vicreg.ts";
import type { Rng } from "../tensor/rng.ts";

/** The model's shape. */
export interface VicregJepaConfig {
  encoder: VitConfig;
  /** Hidden width of the predictor MLP. */
  hidden: number;
  numActions: number;
}

/** Online encoder and predictor (trained) and the EMA target encoder. */
export interface VicregJepa {
  cfg: VicregJepaConfig;
  online: Params;
  predictor: Params;
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
    target: cloneParams(online, false),
    pos: sincos2d(d, rows, cols),
  };
}

/** The final tokens `[B, N, width]` of patches `[B, N, patchDim]` under `params`. */
function encodeTokens(model: VicregJepa, params: Params, patches: tf.Tensor3D): tf.Tensor3D {
  const n = patches.shape[1];
  const pos = tf.tensor3d(model.pos, [1, n, model.cfg.encoder.width]);
  return vitEncode(params, model.cfg.encoder, patches, pos);
}

/** Pooled embeddings `[B, width]` of patches `[B, N, patchDim]` under `params`. */
export function embedPatches(
  model: VicregJepa,
  params: Params,
  patches: tf.Tensor3D,
): tf.Tensor2D {
  return pool(encodeTokens(model, params, patches), model.cfg.encoder.cls);
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
  const tokens = encodeTokens(model, model.online, now);
  const z = pool(tokens, model.cfg.encoder.cls);
  const target = noGrad(() => embedPatches(model, model.target, next));
  const invariance = mse(predictEmbedding(model, z, actions), target);
  const { variance, covariance } = w.over === "tokens"
    ? vicregTokenTerms(tokens, w.gamma, w.eps)
    : { variance: vicregVariance(z, w.gamma, w.eps), covariance: vicregCovariance(z) };
  const total = tf.addN([
    tf.mul(invariance, w.invariance),
    tf.mul(variance, w.variance),
    tf.mul(covariance, w.covariance),
  ]) as tf.Scalar;
  return { total, invariance, variance, covariance };
}
