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
import { sgemm } from "./ffi.ts";
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
  const { batchSize, outHeight, outWidth, outChannels } = info;
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const rowsPerImage = outHeight * outWidth;
  if (batchSize * rowsPerImage * outChannels === 0 || K === 0) {
    return backend.makeTensorInfo(
      info.outShape,
      "float32",
      allocZeroed(batchSize * rowsPerImage * outChannels),
    );
  }
  const out = alloc(batchSize * rowsPerImage * outChannels);
  if (isPointwise(info)) {
    sgemm(
      libs,
      false,
      false,
      batchSize * rowsPerImage,
      outChannels,
      K,
      xv,
      K,
      wv,
      outChannels,
      0,
      out,
      outChannels,
    );
    return backend.makeTensorInfo(info.outShape, "float32", out);
  }
  const chunk = chunkImages(info);
  const cols = alloc(Math.min(chunk, batchSize) * rowsPerImage * K);
  for (let n0 = 0; n0 < batchSize; n0 += chunk) {
    const count = Math.min(chunk, batchSize - n0);
    libs.k.nk_im2col(n0, count, ...geometry(info), xv, cols);
    sgemm(
      libs,
      false,
      false,
      count * rowsPerImage,
      outChannels,
      K,
      cols,
      K,
      wv,
      outChannels,
      0,
      out.subarray(n0 * rowsPerImage * outChannels),
      outChannels,
    );
  }
  release(cols);
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
  const { batchSize, outHeight, outWidth, outChannels } = info;
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const rowsPerImage = outHeight * outWidth;
  const dx = allocZeroed(batchSize * info.inHeight * info.inWidth * info.inChannels);
  if (dx.length === 0 || dyv.length === 0 || K === 0) {
    return backend.makeTensorInfo(info.inShape, "float32", dx);
  }
  if (isPointwise(info)) {
    sgemm(
      libs,
      false,
      true,
      batchSize * rowsPerImage,
      K,
      outChannels,
      dyv,
      outChannels,
      wv,
      outChannels,
      0,
      dx,
      K,
    );
    return backend.makeTensorInfo(info.inShape, "float32", dx);
  }
  const chunk = chunkImages(info);
  const cols = alloc(Math.min(chunk, batchSize) * rowsPerImage * K);
  for (let n0 = 0; n0 < batchSize; n0 += chunk) {
    const count = Math.min(chunk, batchSize - n0);
    sgemm(
      libs,
      false,
      true,
      count * rowsPerImage,
      K,
      outChannels,
      dyv.subarray(n0 * rowsPerImage * outChannels),
      outChannels,
      wv,
      outChannels,
      0,
      cols,
      K,
    );
    libs.k.nk_col2im(n0, count, ...geometry(info), cols, dx);
  }
  release(cols);
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
  const { batchSize, outHeight, outWidth, outChannels } = info;
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const rowsPerImage = outHeight * outWidth;
  if (K * outChannels === 0 || batchSize * rowsPerImage === 0) {
    return backend.makeTensorInfo(filterShape.slice(), "float32", allocZeroed(K * outChannels));
  }
  const dw = alloc(K * outChannels);
  if (isPointwise(info)) {
    sgemm(
      libs,
      true,
      false,
      K,
      outChannels,
      batchSize * rowsPerImage,
      xv,
      K,
      dyv,
      outChannels,
      0,
      dw,
      outChannels,
    );
    return backend.makeTensorInfo(filterShape.slice(), "float32", dw);
  }
  const chunk = chunkImages(info);
  const cols = alloc(Math.min(chunk, batchSize) * rowsPerImage * K);
  for (let n0 = 0; n0 < batchSize; n0 += chunk) {
    const count = Math.min(chunk, batchSize - n0);
    libs.k.nk_im2col(n0, count, ...geometry(info), xv, cols);
    sgemm(
      libs,
      true,
      false,
      K,
      outChannels,
      count * rowsPerImage,
      cols,
      K,
      dyv.subarray(n0 * rowsPerImage * outChannels),
      outChannels,
      n0 === 0 ? 0 : 1,
      dw,
      outChannels,
    );
  }
  release(cols);
  return backend.makeTensorInfo(filterShape.slice(), "float32", dw);
};

/** The convolution kernels, by tfjs kernel name. */
export const CONV_KERNELS: Record<string, NativeKernel> = {
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
};
