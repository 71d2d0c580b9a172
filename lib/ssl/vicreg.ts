/**
 * VICReg's regularisers (Bardes, Ponce & LeCun 2022) on a batch of embeddings `z [B, D]`:
 *
 *   v(z) = (1/D) sum_j max(0, gamma - sqrt(Var(z_j) + eps))        (keep every dimension alive)
 *   c(z) = (1/D) sum_{i != j} C(z)_ij^2,  C = cov(z) (divided by B - 1)  (decorrelate dimensions)
 *
 * With the invariance (prediction) term the loss is `lambda inv + mu v + nu c`; the paper's
 * weights are 25 / 25 / 1, gamma 1, eps 1e-4 ({@linkcode VICREG_DEFAULTS}).
 *
 * The paper does not regularise the representation `y` itself but its image through an
 * *expander* `z = h(y)`: two fully-connected layers with batch normalisation and ReLU, then a
 * linear layer ({@linkcode expander}). Decorrelating a wider `z` pushes information into every
 * direction of `y` without forcing `y` itself to be whitened (on a pooled, layer-normed ViT
 * output the terms applied directly drive a few directions up and leave the rest: low rank).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { initLinear, linear } from "../nn/layers.ts";
import { ones, type Params, zeros } from "../nn/params.ts";
import type { Rng } from "../tensor/rng.ts";

/** VICReg's weights and constants. */
export interface VicregWeights {
  invariance: number;
  variance: number;
  covariance: number;
  /** Target standard deviation per dimension. */
  gamma: number;
  eps: number;
}

/** The paper's values. */
export const VICREG_DEFAULTS: VicregWeights = {
  invariance: 25,
  variance: 25,
  covariance: 1,
  gamma: 1,
  eps: 1e-4,
};

/** The variance term v(z). */
export function vicregVariance(z: tf.Tensor2D, gamma = 1, eps = 1e-4): tf.Scalar {
  return tf.tidy(() => {
    const b = z.shape[0];
    const centred = tf.sub(z, z.mean(0, true));
    const variance = tf.div(centred.square().sum(0), Math.max(1, b - 1));
    return tf.relu(tf.sub(gamma, tf.sqrt(tf.add(variance, eps)))).mean() as tf.Scalar;
  });
}

/** The covariance term c(z). */
export function vicregCovariance(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [b, d] = z.shape;
    const centred = tf.sub(z, z.mean(0, true));
    const cov = tf.div(tf.matMul(centred, centred, true, false), Math.max(1, b - 1));
    const offDiagonal = tf.sub(cov.square().sum(), cov.square().mul(tf.eye(d)).sum());
    return tf.div(offDiagonal, d) as tf.Scalar;
  });
}

/**
 * VICReg's expander `dIn -> widths[0] -> ... -> widths[last]`: every layer but the last is
 * Linear, batch norm (batch statistics: the expander only exists in training), ReLU.
 * `widths = []` is the identity (the terms act on the representation itself).
 */
export function initExpander(rng: Rng, dIn: number, widths: readonly number[]): Params {
  const layers: Params = {};
  widths.forEach((w, i) => {
    const d = i === 0 ? dIn : widths[i - 1];
    layers[`fc${i}`] = initLinear(rng.fork(`fc${i}`), d, w, Math.sqrt(1 / d));
    if (i < widths.length - 1) layers[`bn${i}`] = { g: ones([w]), b: zeros([w]) };
  });
  return layers;
}

/** Batch norm over the batch axis of `x [B, D]`, with gain and bias. */
function batchNorm(p: Params, x: tf.Tensor2D, eps = 1e-5): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, 0, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, p.g as tf.Variable), p.b as tf.Variable) as tf.Tensor2D;
}

/** The expander's forward pass on `y [B, dIn]`. */
export function expander(p: Params, y: tf.Tensor2D): tf.Tensor2D {
  const depth = Object.keys(p).filter((k) => k.startsWith("fc")).length;
  let z = y;
  for (let i = 0; i < depth; i++) {
    z = linear(p[`fc${i}`] as Params, z) as tf.Tensor2D;
    if (i < depth - 1) z = tf.relu(batchNorm(p[`bn${i}`] as Params, z));
  }
  return z;
}
