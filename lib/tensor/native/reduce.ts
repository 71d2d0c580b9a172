/**
 * Reductions (Sum, Mean, Max, Min, Prod over any axes) and Softmax on float32 tensors.
 *
 * The C kernel reduces the middle axis of `[outer, r, inner]`: reduced axes that form one run
 * after dropping size-1 dims go straight in; scattered ones are first moved to the end by a
 * native transpose. Every output is reduced by one thread in a fixed order, so results do not
 * depend on the thread count.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import type { NativeLibs } from "./ffi.ts";
import { transposeValues } from "./layout.ts";
import { alloc, release } from "./pool.ts";
import { f32, type NativeKernel, parseAxes, sizeOf } from "./util.ts";

/** Reduction op codes of kernels.c (`R_*`). */
export const REDUCE_OPS = { sum: 0, max: 1, min: 2, prod: 3 } as const;

/**
 * Reduces `values` of `shape` over `axes` (sorted, unique, non-negative). Returns the values of
 * the output without the reduced dims; `scale` multiplies sums (a mean).
 */
export function reduceValues(
  libs: NativeLibs,
  op: number,
  values: Float32Array,
  shape: readonly number[],
  axes: readonly number[],
  scale = 1,
): Float32Array {
  const reduced = new Set(axes);
  const outSize = sizeOf(shape.filter((_, i) => !reduced.has(i)));
  const r = sizeOf(axes.map((a) => shape[a]));
  const out = alloc(outSize);
  if (outSize === 0) return out;
  if (r === 0) {
    out.fill(op === REDUCE_OPS.sum ? 0 : op === REDUCE_OPS.prod ? 1 : NaN);
    return out;
  }
  // Runs of kept (K) / reduced (R) dims, size-1 dims dropped.
  const runs: { reduced: boolean; size: number; dims: number[] }[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const isReduced = reduced.has(i);
    const last = runs.at(-1);
    if (last && last.reduced === isReduced) {
      last.size *= d;
      last.dims.push(i);
    } else runs.push({ reduced: isReduced, size: d, dims: [i] });
  });
  const reducedRuns = runs.filter((x) => x.reduced);
  if (reducedRuns.length <= 1) {
    const at = runs.findIndex((x) => x.reduced);
    const before = at < 0 ? runs : runs.slice(0, at);
    const after = at < 0 ? [] : runs.slice(at + 1);
    const outer = before.reduce((p, x) => p * x.size, 1);
    const inner = after.reduce((p, x) => p * x.size, 1);
    libs.k.nk_reduce(op, outer, r, inner, values, out, scale);
    return out;
  }
  // Scattered reduced dims: move them last, then reduce rows.
  const kept = shape.map((_, i) => i).filter((i) => !reduced.has(i));
  const perm = [...kept, ...axes];
  const moved = transposeValues(libs, values, shape, perm);
  libs.k.nk_reduce(op, outSize, r, 1, moved, out, scale);
  release(moved); // a private temporary
  return out;
}

type ReduceKind = "sum" | "mean" | "max" | "min" | "prod";

function reduceKernel(kind: ReduceKind): NativeKernel {
  const op = kind === "mean" ? REDUCE_OPS.sum : REDUCE_OPS[kind];
  return ({ inputs, backend, attrs }, libs) => {
    const x = inputs.x as tf.TensorInfo;
    const values = f32(backend, x);
    if (!values) return undefined;
    const rank = x.shape.length;
    const axisAttr = (kind === "max" ? attrs?.reductionIndices : attrs?.axis) as
      | number
      | number[]
      | undefined;
    const axes = parseAxes(axisAttr, rank);
    if (axes.some((a) => a < 0 || a >= rank)) return undefined;
    const r = sizeOf(axes.map((a) => x.shape[a]));
    // max/min of nothing: leave tfjs' own answer to the cpu kernel (a mean of nothing is 0 there,
    // as here: it divides, then sums nothing).
    if (r === 0 && (kind === "max" || kind === "min")) return undefined;
    const out = reduceValues(libs, op, values, x.shape, axes, kind === "mean" ? 1 / r : 1);
    const outShape = attrs?.keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    return backend.makeTensorInfo(outShape, "float32", out);
  };
}

/** Softmax over the last axis (the only one tfjs supports). */
const softmax: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.logits as tf.TensorInfo;
  const values = f32(backend, x);
  if (!values) return undefined;
  const rank = x.shape.length;
  const dim = Number(attrs?.dim ?? -1);
  if (rank === 0 || (dim !== -1 && dim !== rank - 1)) return undefined;
  const cols = x.shape[rank - 1];
  const out = alloc(values.length);
  if (values.length > 0) libs.k.nk_softmax(values.length / cols, cols, values, out);
  return backend.makeTensorInfo(x.shape.slice(), "float32", out);
};

/** Every reduction kernel, by tfjs kernel name. */
export const REDUCE_KERNELS: Record<string, NativeKernel> = {
  Sum: reduceKernel("sum"),
  Mean: reduceKernel("mean"),
  Max: reduceKernel("max"),
  Min: reduceKernel("min"),
  Prod: reduceKernel("prod"),
  Softmax: softmax,
};
