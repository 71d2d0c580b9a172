/**
 * The exponential moving average that makes a JEPA's target encoder: after each optimiser
 * step, `target <- m * target + (1 - m) * online` (I-JEPA, V-JEPA, BYOL), one fused kernel per
 * variable on the native backend.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { AXPBY, axpbyFused, hasFusedKernel } from "../tensor/native/fused_ops.ts";

/** `target <- m * target + (1 - m) * online`, leaf by leaf (trees of the same shape). */
export function emaUpdate(
  target: [string, tf.Variable][],
  online: [string, tf.Variable][],
  m: number,
): void {
  const fused = hasFusedKernel(AXPBY);
  tf.tidy(() => {
    target.forEach(([name, t], i) => {
      const [onlineName, o] = online[i];
      if (onlineName !== name) throw new Error(`emaUpdate: ${name} paired with ${onlineName}`);
      t.assign(
        fused && t.dtype === "float32" && o.dtype === "float32"
          ? axpbyFused(t, o, m, 1 - m)
          : tf.add(tf.mul(t, m), tf.mul(o, 1 - m)),
      );
    });
  });
}
