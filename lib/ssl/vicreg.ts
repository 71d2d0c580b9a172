/**
 * VICReg's regularisers (Bardes, Ponce & LeCun 2022) on a batch of embeddings `z [B, D]`:
 *
 *   v(z) = (1/D) sum_j max(0, gamma - sqrt(Var(z_j) + eps))        (keep every dimension alive)
 *   c(z) = (1/D) sum_{i != j} C(z)_ij^2,  C = cov(z) (divided by B - 1)  (decorrelate dimensions)
 *
 * With the invariance (prediction) term the loss is `lambda inv + mu v + nu c`; the paper's
 * weights are 25 / 25 / 1, gamma 1, eps 1e-4 ({@linkcode VICREG_DEFAULTS}).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** VICReg's weights and constants. */
export interface VicregWeights {
  invariance: number;
  variance: number;
  covariance: number;
  /** Target standard deviation per dimension. */
  gamma: number;
  eps: number;
  /**
   * What v and c read: `pooled`, one embedding per sample (the paper's); `tokens`, every
   * position's token across the batch ({@linkcode vicregTokenTerms}).
   */
  over: "pooled" | "tokens";
}

/** The paper's values. */
export const VICREG_DEFAULTS: VicregWeights = {
  invariance: 25,
  variance: 25,
  covariance: 1,
  gamma: 1,
  eps: 1e-4,
  over: "pooled",
};

/** Each column (or position) of `x` `[B, ...]` minus its mean over the batch. */
function centred<T extends tf.Tensor>(x: T): T {
  return tf.sub(x, x.mean(0, true));
}

/** mean max(0, gamma - sqrt(Var + eps)) of batch-centred values `[B, ...]`. */
function varianceHinge(c: tf.Tensor, gamma: number, eps: number): tf.Scalar {
  const variance = tf.div(c.square().sum(0), Math.max(1, c.shape[0] - 1));
  return tf.relu(tf.sub(gamma, tf.sqrt(tf.add(variance, eps)))).mean() as tf.Scalar;
}

/** (1/D) sum_{i != j} C_ij^2 with C = rows^T rows / `norm`, rows `[R, D]` centred. */
function offDiagonalPenalty(rows: tf.Tensor2D, norm: number): tf.Scalar {
  const d = rows.shape[1];
  const cov = tf.div(tf.matMul(rows, rows, true, false), norm);
  const offDiagonal = tf.sub(cov.square().sum(), cov.square().mul(tf.eye(d)).sum());
  return tf.div(offDiagonal, d) as tf.Scalar;
}

/** The variance term v(z). */
export function vicregVariance(z: tf.Tensor2D, gamma = 1, eps = 1e-4): tf.Scalar {
  return tf.tidy(() => varianceHinge(centred(z), gamma, eps));
}

/** The covariance term c(z). */
export function vicregCovariance(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => offDiagonalPenalty(centred(z), Math.max(1, z.shape[0] - 1)));
}

/**
 * v and c over tokens `[B, N, D]`, each position centred over the batch:
 *
 *   v = mean_{n,j} max(0, gamma - sqrt(Var_b(t_bnj) + eps))
 *   c = (1/D) sum_{i != j} C_ij^2,  C = sum_n cov_b(t_bn)  / N      (within-position covariance)
 *
 * A token that is the same in every sample (the static background of an Atari screen) counts as
 * collapsed, so every position has to carry something of what changes between frames. Pooling
 * first instead averages that change away: a ball is one token in dozens.
 */
export function vicregTokenTerms(
  tokens: tf.Tensor3D,
  gamma = 1,
  eps = 1e-4,
): { variance: tf.Scalar; covariance: tf.Scalar } {
  return tf.tidy(() => {
    const [b, n, d] = tokens.shape;
    const c = centred(tokens);
    return {
      variance: varianceHinge(c, gamma, eps),
      covariance: offDiagonalPenalty(c.reshape([b * n, d]), n * Math.max(1, b - 1)),
    };
  });
}
