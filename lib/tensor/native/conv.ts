/**
 * 2-D convolution (NHWC) and its two gradients as im2col + `cblas_sgemm`:
 *
 *   Conv2D:               y[rows, cout]   = cols(x)[rows, K] @ W[K, cout]
 *   Conv2DBackpropInput:  dx              = col2im(dy[rows, cout] @ W^T)
 *   Conv2DBackpropFilter: dW[K, cout]     = cols(x)^T @ dy
 *
 * with rows = (image, out y, out x) and K = (filter y, filter x, in channel), the filter's own
 * memory order. Images go through in chunks so the column buffer stays bounded. A 1x1 stride-1
 * unpadded convolution skips im2col. NCHW goes to the cpu kernels.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { gemm, type NativeLibs } from "./ffi.ts";
import { alloc, allocZeroed, release } from "./pool.ts";
import { f32, type NativeKernel } from "./util.ts";

/** Largest column buffer, in floats (64 MiB). */
export const MAX_COLS = 1 << 24;

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

/** Images per chunk so that a chunk's columns fit MAX_COLS. */
function chunkImages(info: ConvInfo): number {
  const perImage = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth *
    info.inChannels;
  return Math.max(1, Math.floor(MAX_COLS / Math.max(1, perImage)));
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

/**
 * Runs a convolution's product over the batch in chunks of images, each on the chunk's columns
 * (`[count * rowsPerImage, K]`): `{ from: x }` fills them from the input first (im2col),
 * `{ into: dx }` adds them into the input's gradient after (col2im). A pointwise convolution's
 * columns are the input (or its gradient) itself: one product over the whole batch.
 */
function overColumns(
  libs: NativeLibs,
  info: ConvInfo,
  io: { from: Float32Array } | { into: Float32Array },
  product: (n0: number, count: number, cols: Float32Array) => void,
): void {
  const batch = info.batchSize;
  if (isPointwise(info)) return product(0, batch, "from" in io ? io.from : io.into);
  const { K, rowsPerImage } = productDims(info);
  const chunk = chunkImages(info);
  const cols = alloc(Math.min(chunk, batch) * rowsPerImage * K);
  for (let n0 = 0; n0 < batch; n0 += chunk) {
    const count = Math.min(chunk, batch - n0);
    if ("from" in io) libs.k.nk_im2col(n0, count, ...geometry(info), io.from, cols);
    product(n0, count, cols);
    if ("into" in io) libs.k.nk_col2im(n0, count, ...geometry(info), cols, io.into);
  }
  release(cols);
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
  overColumns(libs, info, { from: xv }, (n0, count, cols) => {
    gemm(libs, count * rowsPerImage, cout, K, cols, wv, out.subarray(n0 * rowsPerImage * cout));
  });
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
  // cols[rows, K] = dy[rows, cout] @ W^T, then added into dx (col2im)
  overColumns(libs, info, { into: dx }, (n0, count, cols) => {
    const dyChunk = dyv.subarray(n0 * rowsPerImage * cout);
    gemm(libs, count * rowsPerImage, K, cout, dyChunk, wv, cols, { transB: true });
  });
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
  // dW[K, cout] = sum over chunks of cols^T @ dy (the first chunk overwrites)
  overColumns(libs, info, { from: xv }, (n0, count, cols) => {
    const dyChunk = dyv.subarray(n0 * rowsPerImage * cout);
    gemm(libs, K, cout, count * rowsPerImage, cols, dyChunk, dw, {
      transA: true,
      accumulate: n0 > 0,
    });
  });
  return backend.makeTensorInfo(filterShape.slice(), "float32", dw);
};

/** The convolution kernels, by tfjs kernel name. */
export const CONV_KERNELS: Record<string, NativeKernel> = {
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
};
