/**
 * Parameter trees: a model's weights as a nested object of `tf.Variable`s. Everything that works
 * on "all weights" (EMA, optimisers, checkpoints, counts, weight-decay masks) walks the tree, so a
 * model is just functions over its tree. Initialisers draw from the project's seeded {@linkcode Rng}
 * in plain JS, which makes initial weights identical on every backend.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../tensor/rng.ts";

/** A nested object whose leaves are variables. */
export interface Params {
  [name: string]: tf.Variable | Params;
}

/** Leaves of a tree with their dotted paths, in a stable (insertion) order. */
export function flattenParams(tree: Params, prefix = ""): [string, tf.Variable][] {
  const out: [string, tf.Variable][] = [];
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v instanceof tf.Variable) out.push([path, v]);
    else out.push(...flattenParams(v, path));
  }
  return out;
}

/**
 * A model part's variables under their checkpoint names, `<group>/<dotted path>`
 * (`context/blocks.0.attn.wq`): the one naming every trainer and checkpoint uses, the slash
 * between the part and the tree, dots inside the tree.
 */
export function namedParams(group: string, tree: Params): [string, tf.Variable][] {
  return flattenParams(tree).map(([path, v]) => [`${group}/${path}`, v]);
}

/** Number of scalar parameters in a tree. */
export function countParams(tree: Params): number {
  return flattenParams(tree).reduce((n, [, v]) => n + v.size, 0);
}

/** Parameter counts per top-level subtree, and the total (for logs and reports). */
export function paramSummary(tree: Params): Record<string, number> {
  const summary: Record<string, number> = {};
  for (const [k, v] of Object.entries(tree)) {
    summary[k] = v instanceof tf.Variable ? v.size : countParams(v);
  }
  summary.total = countParams(tree);
  return summary;
}

/** Builds a new tree of the same shape with `fn` applied to every leaf. */
export function mapParams(
  tree: Params,
  fn: (v: tf.Variable, path: string) => tf.Variable,
  prefix = "",
): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k;
    out[k] = v instanceof tf.Variable ? fn(v, path) : mapParams(v, fn, path);
  }
  return out;
}

/**
 * A variable holding `t`'s values; `t` itself is disposed. (`tf.variable` shares `t`'s data and
 * leaves `t` counted as a tensor of its own: one leaked tensor per parameter otherwise, every time
 * a model or an optimiser is built.)
 */
export function variableOf(t: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

/** A trainable (or frozen) copy of a tree, e.g. the EMA target encoder. */
export function cloneParams(tree: Params, trainable = true): Params {
  return mapParams(tree, (v) => variableOf(v.clone(), trainable));
}

/** Disposes every variable of a tree. */
export function disposeParams(tree: Params): void {
  for (const [, v] of flattenParams(tree)) v.dispose();
}

/** Makes a variable from plain values. */
export function variable(values: Float32Array, shape: number[], trainable = true): tf.Variable {
  return variableOf(tf.tensor(values, shape, "float32"), trainable);
}

/** Zeros. */
export function zeros(shape: number[]): tf.Variable {
  return variableOf(tf.zeros(shape));
}

/** Ones. */
export function ones(shape: number[]): tf.Variable {
  return variableOf(tf.ones(shape));
}

/**
 * Truncated normal in [-2 std, 2 std] (as `timm`'s `trunc_normal_`, which I-JEPA and ViTs use),
 * by rejection.
 */
export function truncNormal(shape: number[], std: number, rng: Rng): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z: number;
    do z = rng.normal(); while (z < -2 || z > 2);
    values[i] = z * std;
  }
  return variable(values, shape);
}

/** Uniform in [-limit, limit]. */
export function uniform(shape: number[], limit: number, rng: Rng): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = rng.uniform(-limit, limit);
  return variable(values, shape);
}

/**
 * Orthogonal init (Saxe et al.), as CleanRL's `layer_init`: the `[fanIn..., fanOut]` weight,
 * seen as a `rows x cols` matrix with rows = product of all but the last dim, has orthonormal
 * rows or columns, times `gain`. QR of a Gaussian matrix by modified Gram-Schmidt, sign-fixed.
 */
export function orthogonal(shape: number[], gain: number, rng: Rng): tf.Variable {
  const cols = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  // Orthonormalise the k = min(rows, cols) vectors of length max(rows, cols).
  const tall = rows >= cols;
  const len = tall ? rows : cols;
  const k = tall ? cols : rows;
  const q: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const v = Float64Array.from({ length: len }, () => rng.normal());
    for (const u of q) {
      let dot = 0;
      for (let i = 0; i < len; i++) dot += u[i] * v[i];
      for (let i = 0; i < len; i++) v[i] -= dot * u[i];
    }
    let norm = 0;
    for (let i = 0; i < len; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < len; i++) v[i] /= norm;
    q.push(v);
  }
  const values = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      values[r * cols + c] = gain * (tall ? q[c][r] : q[r][c]);
    }
  }
  return variable(values, shape);
}
