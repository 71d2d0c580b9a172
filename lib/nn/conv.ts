/**
 * A `valid` convolution without bias as im2col + a matrix product ({@linkcode convMM}): the
 * convolutions of the Nature CNN (`cnn.ts`), on every backend, as tfjs' `conv2d` trains badly
 * on CPU ones: the cpu backend computes its filter gradient with naive loops (minutes per batch
 * of 64 frames), and the wasm backend has no `Conv2DBackpropFilter` kernel at all. The
 * products' gradients take the backend's faster form (`dense.ts`).
 *
 * Each convolution is one `tf.customGrad` op: im2col (a plain loop in JS) and a product
 * forward; the filter gradient and `dy @ W^T` followed by col2im (the adjoint of im2col, also
 * JS) backward. A first layer can read uint8 frames straight into its patch matrix (no float
 * copy of the observation, no input gradient). On a 2-core x86 the loops take about a third of
 * a training step; the products the rest. On the `native` backend, whose `Conv2D` and its two
 * gradients cut the patches in C (`lib/tensor/native/conv.ts`), the convolution is tfjs'
 * `conv2d` instead: CleanRL's PPO update ran 1.9x faster that way (175 -> 338 env steps/s).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { denseInputGrad, denseWeightGrad } from "./dense.ts";

/** Output size of a `valid` convolution. */
export function convOut(size: number, k: number, stride: number): number {
  return Math.floor((size - k) / stride) + 1;
}

/**
 * Where the patch rows of one image `[h, w, c]` start, in im2col's row order: for each output
 * position (y, x) and kernel row ky, the offset of that row's `k * c` consecutive values. The
 * loops below share this geometry; their inner loops stay plain and monomorphic.
 */
function patchRowStarts(h: number, w: number, c: number, k: number, stride: number): Int32Array {
  const oh = convOut(h, k, stride);
  const ow = convOut(w, k, stride);
  const starts = new Int32Array(oh * ow * k);
  let i = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      for (let ky = 0; ky < k; ky++) starts[i++] = ((y * stride + ky) * w + x * stride) * c;
    }
  }
  return starts;
}

/**
 * Patches of uint8 images `src [b, h, w, c]` (channels last) for a `k x k` convolution with
 * `stride`, as rows `[b * oh * ow, k * k * c]` in (ky, kx, channel) order: the row-major order
 * of a `[k, k, c, cout]` filter, so the filter reshaped to `[k*k*c, cout]` is the matching
 * weight matrix. Values are multiplied by `scale` (1/255 for frames).
 */
export function im2colBytes(
  src: Uint8Array,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
  stride: number,
  scale: number,
): Float32Array {
  const starts = patchRowStarts(h, w, c, k, stride);
  const run = k * c;
  const out = new Float32Array(b * starts.length * run);
  let o = 0;
  for (let n = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let r = 0; r < starts.length; r++) {
      let s = img + starts[r];
      for (let j = 0; j < run; j++) out[o++] = src[s++] * scale;
    }
  }
  return out;
}

/**
 * {@linkcode im2colBytes} for floats (unscaled; a separate function, so that the JIT keeps each
 * loop monomorphic and fast), copying each kernel row's run in one `set`.
 */
export function im2colFloats(
  src: Float32Array,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
  stride: number,
): Float32Array {
  const starts = patchRowStarts(h, w, c, k, stride);
  const run = k * c;
  const out = new Float32Array(b * starts.length * run);
  for (let n = 0, o = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let r = 0; r < starts.length; r++, o += run) {
      const s = img + starts[r];
      out.set(src.subarray(s, s + run), o);
    }
  }
  return out;
}

/** The adjoint of {@linkcode im2colFloats}: sums patch gradients back into the image. */
export function col2im(
  cols: ArrayLike<number>,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
  stride: number,
): Float32Array {
  const starts = patchRowStarts(h, w, c, k, stride);
  const run = k * c;
  const out = new Float32Array(b * h * w * c);
  let o = 0;
  for (let n = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let r = 0; r < starts.length; r++) {
      let s = img + starts[r];
      for (let j = 0; j < run; j++) out[s++] += cols[o++];
    }
  }
  return out;
}

/**
 * {@linkcode im2colBytes} / {@linkcode im2colFloats} transposed, for either input:
 * `[k*k*c, b*oh*ow]`, so that the filter gradient `cols^T @ dy` is a plain product (on wasm
 * several times faster than `dy^T @ cols`, whose long reduction with few output rows suits
 * XNNPACK's kernels badly).
 */
export function im2colT(
  src: ArrayLike<number>,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
  stride: number,
  scale = 1,
): Float32Array {
  const oh = convOut(h, k, stride);
  const ow = convOut(w, k, stride);
  const rows = b * oh * ow;
  const out = new Float32Array(k * k * c * rows);
  for (let ky = 0; ky < k; ky++) {
    for (let kx = 0; kx < k; kx++) {
      for (let ch = 0; ch < c; ch++) {
        // Contiguous writes along the output rows; the reads stride through the image.
        let o = ((ky * k + kx) * c + ch) * rows;
        for (let n = 0; n < b; n++) {
          const img = n * h * w * c + (ky * w + kx) * c + ch;
          for (let y = 0; y < oh; y++) {
            let s = img + y * stride * w * c;
            for (let x = 0; x < ow; x++) {
              out[o++] = src[s] * scale;
              s += stride * c;
            }
          }
        }
      }
    }
  }
  return out;
}

/** uint8 images `[b, h, w, c]` (channels last), read as their values times `scale`. */
export interface ByteImages {
  bytes: Uint8Array;
  shape: [number, number, number, number];
  scale: number;
}

/**
 * A `valid` convolution of `x [b, h, w, c]` with the filter `w [k, k, c, cout]` and `stride`,
 * without bias: `[b * oh * ow, cout]`. The input is a tensor (differentiable in it too), or
 * uint8 images (then only the filter gets a gradient).
 */
export function convMM(x: tf.Tensor4D | ByteImages, w: tf.Variable, stride: number): tf.Tensor2D {
  const [k, , c, cout] = w.shape;
  const [b, h, wd] = x.shape;
  const rows = b * convOut(h, k, stride) * convOut(wd, k, stride);
  const kkc = k * k * c;
  if (!(x instanceof tf.Tensor) && x.bytes.length !== b * h * wd * c) {
    throw new Error(`convMM: ${x.bytes.length} bytes for ${b} images of ${h}x${wd}x${c}`);
  }
  if (tf.getBackend() === "native") {
    // The native backend's Conv2D and both gradients cut patches in C (no JS loops).
    const xt = x instanceof tf.Tensor ? x : byteImagesTensor(x, b, h, wd, c);
    const y = tf.conv2d(xt, w as tf.Tensor as tf.Tensor4D, stride, "valid");
    if (xt !== x) xt.dispose();
    return y.reshape([rows, cout]);
  }
  const wm = w.reshape([kkc, cout]) as tf.Tensor2D;
  const transposed = transposedCols();
  if (!(x instanceof tf.Tensor)) {
    const { bytes, scale } = x;
    const op = tf.customGrad((wIn: tf.Tensor | tf.GradSaveFunc, save) => {
      const cols = tf.tensor2d(im2colBytes(bytes, b, h, wd, c, k, stride, scale), [rows, kkc]);
      if (transposed) {
        return {
          value: tf.matMul(cols, wIn as tf.Tensor2D),
          gradFunc: (dy: tf.Tensor) =>
            tf.matMul(
              tf.tensor2d(im2colT(bytes, b, h, wd, c, k, stride, scale), [kkc, rows]),
              dy as tf.Tensor2D,
            ),
        };
      }
      // The patches are kept for the filter gradient rather than cut again.
      (save as tf.GradSaveFunc)([cols]);
      return {
        value: tf.matMul(cols, wIn as tf.Tensor2D),
        gradFunc: (dy: tf.Tensor, [sc]: tf.Tensor[]) =>
          denseWeightGrad(sc as tf.Tensor2D, dy as tf.Tensor2D),
      };
    });
    return op(wm) as tf.Tensor2D;
  }
  const op = tf.customGrad(
    (xIn: tf.Tensor | tf.GradSaveFunc, wIn: tf.Tensor | tf.GradSaveFunc, save) => {
      const xt = xIn as tf.Tensor4D;
      const wt = wIn as tf.Tensor2D;
      const cols = tf.tensor2d(
        im2colFloats(xt.dataSync() as Float32Array, b, h, wd, c, k, stride),
        [rows, kkc],
      );
      // Tensors the gradient reads must be saved: the tape disposes the forward's others.
      (save as tf.GradSaveFunc)(transposed ? [xt, wt] : [cols, wt]);
      return {
        value: tf.matMul(cols, wt),
        gradFunc: (dy: tf.Tensor, [sa, sw]: tf.Tensor[]) => {
          const dCols = denseInputGrad(dy as tf.Tensor2D, sw as tf.Tensor2D);
          const dx = tf.tensor4d(col2im(dCols.dataSync(), b, h, wd, c, k, stride), [b, h, wd, c]);
          if (transposed) {
            const colsT = tf.tensor2d(im2colT(sa.dataSync(), b, h, wd, c, k, stride), [kkc, rows]);
            return [dx, tf.matMul(colsT, dy as tf.Tensor2D)];
          }
          return [dx, denseWeightGrad(sa as tf.Tensor2D, dy as tf.Tensor2D)];
        },
      };
    },
  );
  return op(x, wm) as tf.Tensor2D;
}

/** uint8 images as a float tensor of their values times `scale`. */
function byteImagesTensor(x: ByteImages, b: number, h: number, w: number, c: number): tf.Tensor4D {
  const { bytes, scale } = x;
  const values = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) values[i] = bytes[i] * scale;
  return tf.tensor4d(values, [b, h, w, c]);
}

/**
 * How the filter gradient `cols^T @ dy` is formed. `auto` (default): on wasm, from patches cut
 * again in transposed layout (`im2colT`), a plain product that XNNPACK runs several times
 * faster than `dy^T @ cols` (a long reduction with few output rows, which suits its kernels
 * badly), even counting the second cut; elsewhere (BLAS-backed or cpu backends), from the
 * forward pass's patches, kept on the tape (that product in `dense.ts`'s form). Measured on a
 * 2-core x86 for a 256-frame batch: wasm 3.3 s (transposed) vs 4.2 s (kept); an OpenBLAS
 * backend 2.1 s vs 1.3 s.
 */
export const CONV_OPTS: { transposedCols: "auto" | boolean } = { transposedCols: "auto" };

function transposedCols(): boolean {
  const mode = CONV_OPTS.transposedCols;
  return mode === "auto" ? tf.getBackend() === "wasm" : mode;
}
