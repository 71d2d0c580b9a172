/**
 * What the native kernels share: reading a tensor's typed array from the backend, making
 * outputs, and turning shapes into the collapsed (shape, strides) pairs the C kernels take.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import type { NativeLibs } from "./ffi.ts";
import { alloc } from "./pool.ts";

/** The slice of the cpu backend's API the kernels use. */
export interface CpuLikeBackend {
  data: { get(dataId: tf.DataId): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.TypedArray): tf.TensorInfo;
  disposeIntermediateTensorInfo(info: tf.TensorInfo): void;
  incRef(dataId: tf.DataId): void;
}

/** A native kernel: returns undefined to hand the call to the stock cpu kernel. */
export type NativeKernel = (
  args: {
    inputs: tf.NamedTensorInfoMap;
    backend: CpuLikeBackend;
    attrs?: tf.NamedAttrMap;
  },
  libs: NativeLibs,
) => tf.TensorInfo | tf.TensorInfo[] | undefined;

/**
 * The values of a float32 tensor as a Float32Array, or undefined for any other dtype. The cpu
 * backend casts bool and int32 to float32 without copying (the tensor keeps its Uint8Array /
 * Int32Array storage): those are converted here.
 */
export function f32(backend: CpuLikeBackend, t: tf.TensorInfo): Float32Array | undefined {
  if (t.dtype !== "float32") return undefined;
  const values = backend.data.get(t.dataId).values;
  if (values instanceof Float32Array) return values;
  if (values instanceof Int32Array || values instanceof Uint8Array) return new Float32Array(values);
  return undefined;
}

/** The 4-byte typed array behind a float32 or int32 tensor (copies move them as raw words). */
export function words(
  backend: CpuLikeBackend,
  t: tf.TensorInfo,
): Float32Array | Int32Array | undefined {
  if (t.dtype === "float32") return f32(backend, t);
  const values = backend.data.get(t.dataId).values;
  if (t.dtype === "int32" && values instanceof Int32Array) return values;
  return undefined;
}

/** The Int32Array behind an int32 tensor. */
export function i32(backend: CpuLikeBackend, t: tf.TensorInfo): Int32Array | undefined {
  if (t.dtype !== "int32") return undefined;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Int32Array ? values : undefined;
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** A typed array of the same kind as `like`, with `n` elements (stale contents if recycled). */
export function sameKind(like: Float32Array | Int32Array, n: number): Float32Array | Int32Array {
  return like instanceof Float32Array ? alloc(n) : new Int32Array(n);
}

/**
 * Drops size-1 dims and merges neighbours that are contiguous in every operand: dims `i` and
 * `i + 1` merge when each operand's stride `s[i] == s[i + 1] * shape[i + 1]` (broadcast
 * operands, stride 0 in both, merge too). Returns at least one dim.
 */
export function collapse(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (
      last >= 0 &&
      strides.every((s, k) => outStrides[k][last] === s[d] * shape[d])
    ) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [1]) };
  return { shape: outShape, strides: outStrides };
}

/** Strides of `shape` read as broadcast to `outShape` (0 along broadcast dims). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const s = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((d, i) => {
    const j = i - offset;
    if (j < 0 || shape[j] === 1) return 0;
    if (shape[j] !== d) throw new Error(`shape ${shape} does not broadcast to ${outShape}`);
    return s[j];
  });
}

/** The broadcast shape of two shapes (numpy rules), or undefined when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Max rank of the C kernels' shape arguments. */
export const MAX_RANK = 8;

/** Normalises possibly negative axes and sorts them. */
export function parseAxes(axis: number | number[] | null | undefined, rank: number): number[] {
  const list = axis === null || axis === undefined
    ? Array.from({ length: rank }, (_, i) => i)
    : Array.isArray(axis)
    ? axis
    : [axis];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((x, y) => x - y);
}
