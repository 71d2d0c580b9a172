/**
 * Losses of the self-supervised objectives, written with `minimum`/`abs` forms so every backend
 * has their gradients (tfjs has none for `less` / `greater`).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** Smooth L1 (Huber with beta = 1), mean over all elements: I-JEPA's loss. */
export function smoothL1(pred: tf.Tensor, target: tf.Tensor, beta = 1): tf.Scalar {
  const a = tf.abs(tf.sub(pred, target));
  const q = tf.minimum(a, beta);
  // 0.5 q^2 / beta inside the quadratic zone, plus the linear part beyond it.
  return tf.mean(tf.add(tf.div(tf.mul(0.5, tf.square(q)), beta), tf.sub(a, q)));
}

/** Mean absolute error. */
export function l1(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.mean(tf.abs(tf.sub(pred, target)));
}

/** Mean squared error. */
export function mse(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.mean(tf.square(tf.sub(pred, target)));
}
