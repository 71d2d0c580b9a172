/**
 * 2-D convolution (NHWC) and its two gradients as im2col + `cblas_sgemm`, blocked (`nk_conv`):
 *
 *   Conv2D:               y[rows, cout]   = cols(x)[rows, K] @ W[K, cout]
 *   Conv2DBackpropInput:  dx              = col2im(dy[rows, cout] @ W^T)
 *   Conv2DBackpropFilter: dW[K, cout]     = cols(x)^T @ dy
 *
 * with rows = (image, out y, out x) and K = (filter y, filter x, in channel), the filter's own
 * memory order. The batch goes through in blocks of whole images whose columns stay in cache,
 * each cut and multiplied by one pool task; the filter gradient sums fixed groups of blocks in a
 * fixed order, so the numbers do not depend on the thread count. A 1x1 stride-1 unpadded
 * convolution skips im2col. NCHW goes to the cpu kernels.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { gemm, type NativeLibs } from "./ffi.ts";
import { alloc, allocZeroed } from "./pool.ts";
import { f32, type NativeKernel } from "./util.ts";

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

function geometry(info: ConvInfo) {
  return [
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  ] as const;
}

function isPointwise(info: ConvInfo): boolean {
  const p = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 &&
    info.strideWidth === 1 && p.top === 0 && p.left === 0 && p.bottom === 0 && p.right === 0;
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap | undefined,
  dilations: number | [number, number],
): ConvInfo | undefined {
  const format = tf.backend_util.convertConv2DDataFormat(
    String(attrs?.dataFormat ?? "NHWC") as "NHWC" | "NCHW",
  );
  if (format !== "channelsLast") return undefined;
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs?.strides as number | [number, number],
    dilations,
    attrs?.pad as "valid" | "same" | number,
    attrs?.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    format,
  );
}

/** A convolution's product sizes: K (filter y, x, in channel), output rows per image, cout. */
function productDims(info: ConvInfo): { K: number; rowsPerImage: number; cout: number } {
  return {
    K: info.filterHeight * info.filterWidth * info.inChannels,
    rowsPerImage: info.outHeight * info.outWidth,
    cout: info.outChannels,
  };
}

/** What {@linkcode runConv} computes: see `nk_conv` in kernels.c. */
const enum ConvMode {
  Forward = 0,
  Filter = 1,
  Input = 2,
}

/**
 * A convolution's product on the native pool: blocks of whole images whose patches stay in cache,
 * cut and multiplied by one task each (`nk_conv`).
 */
function runConv(
  libs: NativeLibs,
  mode: ConvMode,
  info: ConvInfo,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
): void {
  const status = libs.k.nk_conv(
    mode,
    info.batchSize,
    ...geometry(info),
    info.outChannels,
    a,
    b,
    out,
  );
  if (status !== 0) throw new Error(`nk_conv failed (${status === -2 ? "out of memory" : status})`);
}

const conv2D: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  const xv = f32(backend, x);
  const wv = f32(backend, filter);
  if (!xv || !wv || x.shape.length !== 4) return undefined;
  const info = convInfo(
    x.shape,
    filter.shape,
    attrs,
    (attrs?.dilations ?? 1) as number | [number, number],
  );
  if (!info) return undefined;
  const { K, rowsPerImage, cout } = productDims(info);
  const size = info.batchSize * rowsPerImage * cout;
  if (size === 0 || K === 0) {
    return backend.makeTensorInfo(info.outShape, "float32", allocZeroed(size));
  }
  const out = alloc(size);
  // y[rows, cout] = cols[rows, K] @ W[K, cout]
  if (isPointwise(info)) gemm(libs, info.batchSize * rowsPerImage, cout, K, xv, wv, out);
  else runConv(libs, ConvMode.Forward, info, xv, wv, out);
  return backend.makeTensorInfo(info.outShape, "float32", out);
};

const conv2DBackpropInput: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const dy = inputs.dy as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  const dyv = f32(backend, dy);
  const wv = f32(backend, filter);
  const inputShape = attrs?.inputShape as number[] | undefined;
  if (!dyv || !wv || !inputShape || inputShape.length !== 4) return undefined;
  const info = convInfo(inputShape, filter.shape, attrs, 1);
  if (!info || info.outShape.some((d, i) => d !== dy.shape[i])) return undefined;
  const { K, rowsPerImage, cout } = productDims(info);
  const dx = allocZeroed(info.batchSize * info.inHeight * info.inWidth * info.inChannels);
  if (dx.length === 0 || dyv.length === 0 || K === 0) {
    return backend.makeTensorInfo(info.inShape, "float32", dx);
  }
  // dx = col2im(dy[rows, cout] @ W^T)
  if (isPointwise(info)) {
    gemm(libs, info.batchSize * rowsPerImage, K, cout, dyv, wv, dx, { transB: true });
  } else runConv(libs, ConvMode.Input, info, dyv, wv, dx);
  return backend.makeTensorInfo(info.inShape, "float32", dx);
};

const conv2DBackpropFilter: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const filterShape = attrs?.filterShape as number[] | undefined;
  if (!xv || !dyv || !filterShape || x.shape.length !== 4) return undefined;
  const info = convInfo(x.shape, filterShape, attrs, 1);
  if (!info || info.outShape.some((d, i) => d !== dy.shape[i])) return undefined;
  const { K, rowsPerImage, cout } = productDims(info);
  if (K * cout === 0 || info.batchSize * rowsPerImage === 0) {
    return backend.makeTensorInfo(filterShape.slice(), "float32", allocZeroed(K * cout));
  }
  const dw = alloc(K * cout);
  // dW[K, cout] = cols^T @ dy, summed over fixed groups of images
  if (isPointwise(info)) {
    gemm(libs, K, cout, info.batchSize * rowsPerImage, xv, dyv, dw, { transA: true });
  } else runConv(libs, ConvMode.Filter, info, xv, dyv, dw);
  return backend.makeTensorInfo(filterShape.slice(), "float32", dw);
};

/** The convolution kernels, by tfjs kernel name. */
export const CONV_KERNELS: Record<string, NativeKernel> = {
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
};
