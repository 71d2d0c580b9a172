/**
 * Data movement on 4-byte tensors (float32, int32): Transpose, Slice, Concat, SplitV, PadV2,
 * GatherV2 and UnsortedSegmentSum (the gradient of gather). All but the last two are one
 * strided copy in kernels.c (`nk_copy`), which tiles the copy when the source's contiguous dim
 * is not the destination's.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import type { NativeLibs } from "./ffi.ts";
import { UNARY } from "./elementwise.ts";
import { allocZeroed } from "./pool.ts";
import {
  collapse,
  f32,
  i32,
  MAX_RANK,
  type NativeKernel,
  sameKind,
  sizeOf,
  stridesOf,
  words,
} from "./util.ts";

/**
 * Copies the block `shape` from `src` (strides `ss`) into `dst` (strides `ds`); the arrays may
 * be subarrays that start at the block's first element. Returns false when the collapsed rank
 * is beyond the C kernel's.
 */
export function stridedCopy(
  libs: NativeLibs,
  shape: readonly number[],
  src: Float32Array | Int32Array,
  ss: readonly number[],
  dst: Float32Array | Int32Array,
  ds: readonly number[],
): boolean {
  if (sizeOf(shape) === 0) return true;
  // Order dims by destination stride (outermost first) so the innermost is dst-contiguous.
  const order = shape.map((_, i) => i).sort((a, b) => ds[b] - ds[a]);
  const c = collapse(order.map((i) => shape[i]), [
    order.map((i) => ss[i]),
    order.map((i) => ds[i]),
  ]);
  if (c.shape.length > MAX_RANK) return false;
  libs.k.nk_copy(
    c.shape.length,
    Int32Array.from(c.shape),
    src,
    Int32Array.from(c.strides[0]),
    dst,
    Int32Array.from(c.strides[1]),
  );
  return true;
}

/** `values` of `shape` transposed by `perm` into a new array of the same kind. */
export function transposeValues<T extends Float32Array | Int32Array>(
  libs: NativeLibs,
  values: T,
  shape: readonly number[],
  perm: readonly number[],
): T {
  const outShape = perm.map((p) => shape[p]);
  const out = sameKind(values, values.length) as T;
  const xs = stridesOf(shape);
  if (!stridedCopy(libs, outShape, values, perm.map((p) => xs[p]), out, stridesOf(outShape))) {
    throw new Error(`native transpose: rank ${shape.length} beyond ${MAX_RANK} after merging`);
  }
  return out;
}

const transpose: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const values = words(backend, x);
  const perm = attrs?.perm as number[] | undefined;
  if (!values || !perm || perm.length !== x.shape.length) return undefined;
  const outShape = perm.map((p) => x.shape[p]);
  const xs = stridesOf(x.shape);
  const out = sameKind(values, values.length);
  if (!stridedCopy(libs, outShape, values, perm.map((p) => xs[p]), out, stridesOf(outShape))) {
    return undefined;
  }
  return backend.makeTensorInfo(outShape, x.dtype, out);
};

/** Copies x[begin : begin + size] into a new contiguous array. */
function sliceValues(
  libs: NativeLibs,
  values: Float32Array | Int32Array,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): Float32Array | Int32Array | undefined {
  const xs = stridesOf(shape);
  const offset = begin.reduce((s, b, i) => s + b * xs[i], 0);
  const out = sameKind(values, sizeOf(size));
  if (out.length === 0) return out;
  if (!stridedCopy(libs, size, values.subarray(offset), xs, out, stridesOf(size))) {
    return undefined;
  }
  return out;
}

const slice: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const values = words(backend, x);
  if (!values) return undefined;
  const rank = x.shape.length;
  const beginAttr = attrs?.begin as number | number[];
  const sizeAttr = attrs?.size as number | number[];
  const beginList = typeof beginAttr === "number" ? [beginAttr] : beginAttr ?? [];
  const sizeList = typeof sizeAttr === "number" ? [sizeAttr] : sizeAttr ?? [];
  // tfjs' slice_util.parseSliceParams: missing begins are 0, size -1 is "to the end".
  const begin = x.shape.map((_, i) => beginList[i] ?? 0);
  const size = x.shape.map((d, i) => {
    const s = sizeList[i];
    return s === undefined || s === -1 ? d - begin[i] : s;
  });
  if (begin.some((b, i) => b < 0 || b + size[i] > x.shape[i]) || size.length !== rank) {
    return undefined;
  }
  const out = sliceValues(libs, values, x.shape, begin, size);
  return out ? backend.makeTensorInfo(size, x.dtype, out) : undefined;
};

const splitV: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const values = words(backend, x);
  if (!values) return undefined;
  const rank = x.shape.length;
  let axis = Number(attrs?.axis ?? 0);
  if (axis < 0) axis += rank;
  const splits = attrs?.numOrSizeSplits as number | number[];
  let sizes: number[];
  if (typeof splits === "number") {
    if (x.shape[axis] % splits !== 0) return undefined;
    sizes = Array(splits).fill(x.shape[axis] / splits);
  } else {
    sizes = [...splits];
    const missing = sizes.indexOf(-1);
    if (missing >= 0) {
      sizes[missing] = x.shape[axis] - sizes.reduce((s, v) => (v === -1 ? s : s + v), 0);
    }
  }
  if (sizes.reduce((s, v) => s + v, 0) !== x.shape[axis]) return undefined;
  const outs: tf.TensorInfo[] = [];
  let at = 0;
  for (const n of sizes) {
    const begin = x.shape.map((_, i) => (i === axis ? at : 0));
    const size = x.shape.map((d, i) => (i === axis ? n : d));
    const out = sliceValues(libs, values, x.shape, begin, size);
    if (!out) {
      outs.forEach((t) => backend.disposeIntermediateTensorInfo(t));
      return undefined;
    }
    outs.push(backend.makeTensorInfo(size, x.dtype, out));
    at += n;
  }
  return outs;
};

const concat: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const list = Object.values(inputs) as tf.TensorInfo[];
  if (list.length === 0) return undefined;
  const dtype = list[0].dtype;
  const rank = list[0].shape.length;
  let axis = Number(attrs?.axis ?? 0);
  if (axis < 0) axis += rank;
  const arrays: (Float32Array | Int32Array)[] = [];
  for (const t of list) {
    const v = words(backend, t);
    if (!v || t.dtype !== dtype || t.shape.length !== rank) return undefined;
    if (t.shape.some((d, i) => i !== axis && d !== list[0].shape[i])) return undefined;
    arrays.push(v);
  }
  const outShape = list[0].shape.slice();
  outShape[axis] = list.reduce((s, t) => s + t.shape[axis], 0);
  const out = sameKind(arrays[0], sizeOf(outShape));
  const os = stridesOf(outShape);
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    const shape = list[i].shape;
    if (sizeOf(shape) > 0) {
      if (!stridedCopy(libs, shape, arrays[i], stridesOf(shape), out.subarray(at * os[axis]), os)) {
        return undefined;
      }
    }
    at += shape[axis];
  }
  return backend.makeTensorInfo(outShape, dtype, out);
};

const padV2: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const values = f32(backend, x);
  const paddings = attrs?.paddings as [number, number][] | undefined;
  if (!values || !paddings || paddings.length !== x.shape.length) return undefined;
  const outShape = x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
  const out = allocZeroed(sizeOf(outShape));
  const value = Number(attrs?.constantValue ?? 0);
  if (value !== 0 && out.length > 0) libs.k.nk_unary(UNARY.fill, out.length, out, out, value, 0);
  const os = stridesOf(outShape);
  const offset = paddings.reduce((s, [before], i) => s + before * os[i], 0);
  if (!stridedCopy(libs, x.shape, values, stridesOf(x.shape), out.subarray(offset), os)) {
    return undefined;
  }
  return backend.makeTensorInfo(outShape, "float32", out);
};

const gatherV2: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const indices = inputs.indices as tf.TensorInfo;
  const values = words(backend, x);
  const idx = i32(backend, indices);
  if (!values || !idx || Number(attrs?.batchDims ?? 0) !== 0) return undefined;
  let axis = Number(attrs?.axis ?? 0);
  if (axis < 0) axis += x.shape.length;
  if (axis < 0 || axis >= x.shape.length) return undefined;
  const outer = sizeOf(x.shape.slice(0, axis));
  const dim = x.shape[axis];
  const sliceSize = sizeOf(x.shape.slice(axis + 1));
  const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  const out = sameKind(values, sizeOf(outShape));
  if (idx.length > 0) {
    const bad = libs.k.nk_gather(outer, dim, sliceSize, values, idx.length, idx, out);
    if (bad < 0) {
      throw new Error(
        `GatherV2: the index value ${idx[-bad - 1]} is not in [0, ${dim - 1}]`,
      );
    }
  }
  return backend.makeTensorInfo(outShape, x.dtype, out);
};

const unsortedSegmentSum: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const segmentIds = inputs.segmentIds as tf.TensorInfo;
  const values = f32(backend, x);
  const ids = i32(backend, segmentIds);
  const numSegments = Number(attrs?.numSegments);
  if (!values || !ids || !(numSegments >= 0)) return undefined;
  const r = segmentIds.shape.length;
  if (segmentIds.shape.some((d, i) => x.shape[i] !== d)) return undefined;
  const innerShape = x.shape.slice(r);
  const inner = sizeOf(innerShape);
  const out = allocZeroed(numSegments * inner);
  if (ids.length > 0 && inner > 0) {
    libs.k.nk_unsorted_segment_sum(ids.length, inner, values, ids, numSegments, out);
  }
  return backend.makeTensorInfo([numSegments, ...innerShape], "float32", out);
};

/** Every data-movement kernel, by tfjs kernel name. */
export const LAYOUT_KERNELS: Record<string, NativeKernel> = {
  Transpose: transpose,
  Slice: slice,
  SplitV: splitV,
  Concat: concat,
  PadV2: padV2,
  GatherV2: gatherV2,
  UnsortedSegmentSum: unsortedSegmentSum,
};
