/**
 * `x @ w` with a gradient whose products suit the backend ({@linkcode dense}), and the two
 * gradient products on their own ({@linkcode denseInputGrad}, {@linkcode denseWeightGrad}) for
 * ops that end in the same product (the im2col convolution of `conv.ts`).
 *
 * The form is chosen when the gradient is computed: on the wasm backend a `matMul` with a
 * transposed-operand flag runs 5-10x slower than an explicit transpose and a plain product, so
 * there the operand is transposed first; elsewhere (cpu, the OpenBLAS `native` backend, GPUs)
 * the flags cost nothing and an explicit transpose would, so the gradient is the same pair of
 * flagged products as tfjs' own `matMul` gradient (same values, to the bit).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/**
 * How the gradient products are formed. `auto` (default): explicit transposes on wasm, flags
 * elsewhere; `true` / `false` force one form (tests compare them on one backend).
 */
export const DENSE_OPTS: { explicitTransposes: "auto" | boolean } = { explicitTransposes: "auto" };

function explicitTransposes(): boolean {
  const mode = DENSE_OPTS.explicitTransposes;
  return mode === "auto" ? tf.getBackend() === "wasm" : mode;
}

/** `dy @ w^T`: the gradient of `x @ w` in `x`. */
export function denseInputGrad(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (explicitTransposes()) return tf.matMul(dy, tf.transpose(w));
  return tf.matMul(dy, w, false, true);
}

/**
 * `x^T @ dy`: the gradient of `x @ w` in `w`. With explicit transposes, `(dy^T @ x)^T` or
 * `x^T @ dy`, whichever transposes fewer values.
 */
export function denseWeightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  if (!explicitTransposes()) return tf.matMul(x, dy, true, false);
  const [n, k] = x.shape;
  const o = dy.shape[1];
  if (n * o + k * o < n * k) return tf.transpose(tf.matMul(tf.transpose(dy), x));
  return tf.matMul(tf.transpose(x), dy);
}

/** `x @ w`, differentiable in both, its gradient formed as the module doc says. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(
    (a: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save) => {
      const xa = a as tf.Tensor2D;
      const wb = b as tf.Tensor2D;
      (save as tf.GradSaveFunc)([xa, wb]);
      return {
        value: tf.matMul(xa, wb),
        gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => [
          denseInputGrad(dy as tf.Tensor2D, sw as tf.Tensor2D),
          denseWeightGrad(sx as tf.Tensor2D, dy as tf.Tensor2D),
        ],
      };
    },
  );
  return op(x, w) as tf.Tensor2D;
}
