/**
 * Matrix products: BatchMatMul and _FusedMatMul (bias + activation) on float32.
 *
 * Large products go to OpenBLAS' `cblas_sgemm` (on blocks split over the kernels' threads), one
 * call per batch entry, or one call for the whole batch when the batch folds into the rows
 * (`x @ w` of a linear layer on a rank-3 input). Many small products (attention's per-head matrices) go to kernels.c's
 * register-blocked kernel, one batch entry per thread: there OpenBLAS' per-call packing costs
 * more than the product.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import { applyActivationInPlace, BINARY_OPS, binaryValues } from "./elementwise.ts";
import { gemm, type NativeLibs } from "./ffi.ts";
import { alloc, allocZeroed } from "./pool.ts";
import { broadcastShape, f32, type NativeKernel, sizeOf } from "./util.ts";

/**
 * How batched small products are computed: kernels.c's register-blocked kernel (0) or OpenBLAS
 * per batch entry (1). Measured on attention-sized products (25-49 tokens, 48-64 per head, one
 * thread): OpenBLAS wins by 1.5-1.8x on `q @ k^T` (transposed B), the own kernel by up to 15%
 * on the rest. `setSmallGemmMode` (tests, benchmarks) overrides the choice.
 */
let forcedMode: 0 | 1 | undefined;

function smallGemmMode(transposeB: boolean): 0 | 1 {
  if (forcedMode !== undefined) return forcedMode;
  return transposeB ? 1 : 0;
}

/** For tests and benchmarks: forces one way of computing batched small products. */
export function setSmallGemmMode(mode: 0 | 1 | undefined): void {
  forcedMode = mode;
}

/** Below this many multiply-adds per batch entry, batched products use the small kernel. */
export const SMALL_GEMM_MACS = 1 << 18;

/** A product's dimensions: `[batch] (m x k) @ (k x n)`. */
export interface MatMulShape {
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  outShape: number[];
}

/** Dimensions of `op(a) @ op(b)` for tfjs' BatchMatMul, or undefined when unsupported. */
export function matMulShape(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulShape | undefined {
  const ra = aShape.length;
  const rb = bShape.length;
  if (ra < 2 || rb < 2) return undefined;
  const k = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  if (k !== kb) return undefined;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  const outer = broadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  if (!outer) return undefined;
  const batchA = sizeOf(aShape.slice(0, -2));
  const batchB = sizeOf(bShape.slice(0, -2));
  // tfjs' cpu kernel pairs batch entries modulo each side's count: equal counts or one of 1.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  return { batchA, batchB, m, n, k, outShape: [...outer, m, n] };
}

/** `out` ([rows, n] flat) plus `bias` ([n]) on every row, in place; `out` without a bias. */
function addRowBias(libs: NativeLibs, out: Float32Array, n: number, bias?: Float32Array) {
  if (!bias || out.length === 0) return out;
  const rows = { shape: [out.length / n, n], values: out };
  binaryValues(libs, BINARY_OPS.Add, rows, { shape: [n], values: bias }, out);
  return out;
}

/**
 * `C = op(A) @ op(B)` into a new Float32Array (`[batch, m, n]`), plus `rowBias` (`n` values) on
 * every row when given: OpenBLAS products start from the bias rather than from zeros.
 */
export function matMulValues(
  libs: NativeLibs,
  a: Float32Array,
  b: Float32Array,
  s: MatMulShape,
  transposeA: boolean,
  transposeB: boolean,
  rowBias?: Float32Array,
): Float32Array {
  const { batchA, batchB, m, n, k } = s;
  const batch = Math.max(batchA, batchB);
  if (batch * m * n === 0 || k === 0) {
    return addRowBias(libs, allocZeroed(batch * m * n), n, rowBias);
  }
  const out = alloc(batch * m * n);
  const flags = { transA: transposeA, transB: transposeB, bias: rowBias };
  // A batched A against one B folds into the rows: one big product.
  if (batchB === 1 && !transposeA) {
    gemm(libs, batch * m, n, k, a, b, out, flags);
    return out;
  }
  if (batch > 1 && m * n * k < SMALL_GEMM_MACS) {
    const aStride = batchA === 1 ? 0 : m * k;
    const bStride = batchB === 1 ? 0 : k * n;
    // op(A)[i, kk] and op(B)[kk, j] addresses as (row, column) strides.
    const [aRow, aCol] = transposeA ? [1, m] : [k, 1];
    const [bRow, bCol] = transposeB ? [1, k] : [n, 1];
    libs.k.nk_batch_matmul(
      batch,
      m,
      n,
      k,
      a,
      aStride,
      aRow,
      aCol,
      b,
      bStride,
      bRow,
      bCol,
      out,
      smallGemmMode(transposeB),
    );
    return addRowBias(libs, out, n, rowBias);
  }
  for (let i = 0; i < batch; i++) {
    const ai = batchA === 1 ? a : a.subarray(i * m * k);
    const bi = batchB === 1 ? b : b.subarray(i * k * n);
    gemm(libs, m, n, k, ai, bi, out.subarray(i * m * n), flags);
  }
  return out;
}

const batchMatMul: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const a = inputs.a as tf.TensorInfo;
  const b = inputs.b as tf.TensorInfo;
  const av = f32(backend, a);
  const bv = f32(backend, b);
  if (!av || !bv) return undefined;
  const transposeA = Boolean(attrs?.transposeA);
  const transposeB = Boolean(attrs?.transposeB);
  const s = matMulShape(a.shape, b.shape, transposeA, transposeB);
  if (!s) return undefined;
  const out = matMulValues(libs, av, bv, s, transposeA, transposeB);
  return backend.makeTensorInfo(s.outShape, "float32", out);
};

/** Whether `bias` is one value per column of `out`: `[n]`, or `[1, ..., 1, n]` of no higher rank. */
function isRowOf(bias: readonly number[], out: readonly number[]): boolean {
  const n = out[out.length - 1];
  return bias.length >= 1 && bias.length <= out.length && bias[bias.length - 1] === n &&
    bias.slice(0, -1).every((d) => d === 1);
}

/**
 * _FusedMatMul: the product with a per-column bias added in it (any other bias shape: added
 * after, broadcast, in place), then the activation in place.
 * PReLU hands its last step to the cpu kernel registered as `Prelu`.
 */
function fusedMatMul(prelu: (args: unknown) => tf.TensorInfo): NativeKernel {
  return ({ inputs, backend, attrs }, libs) => {
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const bias = inputs.bias as tf.TensorInfo | undefined;
    const preluWeights = inputs.preluActivationWeights as tf.TensorInfo | undefined;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return undefined;
    const biasValues = bias ? f32(backend, bias) : undefined;
    if (bias && !biasValues) return undefined;
    const transposeA = Boolean(attrs?.transposeA);
    const transposeB = Boolean(attrs?.transposeB);
    const activation = String(attrs?.activation ?? "linear");
    const s = matMulShape(a.shape, b.shape, transposeA, transposeB);
    if (!s) return undefined;
    let shape = s.outShape;
    // A bias of the output's last dim (a linear layer's) goes into the product itself.
    const rowBias = bias && isRowOf(bias.shape, shape) ? biasValues : undefined;
    let out = matMulValues(libs, av, bv, s, transposeA, transposeB, rowBias);
    if (bias && biasValues && !rowBias) {
      const withBias = binaryValues(libs, BINARY_OPS.Add, { shape, values: out }, {
        shape: bias.shape,
        values: biasValues,
      }, sizeOf(broadcastShape(shape, bias.shape) ?? []) === out.length ? out : undefined);
      if (!withBias) return undefined;
      shape = withBias.shape;
      out = withBias.values;
    }
    if (activation === "prelu") {
      if (!preluWeights) return undefined;
      const info = backend.makeTensorInfo(shape, "float32", out);
      const result = prelu({ inputs: { x: info, alpha: preluWeights }, backend });
      backend.disposeIntermediateTensorInfo(info);
      return result;
    }
    if (!applyActivationInPlace(libs, out, activation, Number(attrs?.leakyreluAlpha ?? 0.2))) {
      return undefined;
    }
    return backend.makeTensorInfo(shape, "float32", out);
  };
}

/** The matmul kernels; `prelu` is the cpu backend's Prelu kernel function. */
export function matMulKernels(
  prelu: (args: unknown) => tf.TensorInfo,
): Record<string, NativeKernel> {
  return { BatchMatMul: batchMatMul, _FusedMatMul: fusedMatMul(prelu) };
}
