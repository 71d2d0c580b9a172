/**
 * The Nature CNN of `lib/nn/cnn.ts`, computed as im2col + matrix products, for training on CPU
 * backends. Same parameter tree (`initNatureCnn`), same function (to float rounding), but:
 *
 * - tfjs' cpu backend computes the filter gradient of `conv2d` with naive loops (minutes per
 *   batch of 64 frames), and the wasm backend has no `Conv2DBackpropFilter` kernel at all;
 * - on wasm, `matMul` with a transposed operand (every dense backward pass) runs 5-10x slower
 *   than a plain product, so {@linkcode dense} transposes explicitly in its gradient.
 *
 * Each convolution ({@linkcode convMM}) is one `tf.customGrad` op: im2col (a plain loop in JS)
 * and a product forward; the filter gradient and `dy @ W^T` followed by col2im (the adjoint of
 * im2col, also JS) backward. The first layer reads uint8 frames straight into its patch matrix
 * (no float copy of the observation, no input gradient). On a 2-core x86 the loops take about a
 * third of a training step; the products the rest.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";

/** Output size of a `valid` convolution. */
export function convOut(size: number, k: number, stride: number): number {
  return Math.floor((size - k) / stride) + 1;
}

/**
 * Patches of `src [b, h, w, c]` (channels last) for a `k x k` convolution with `stride`, as rows
 * `[b * oh * ow, k * k * c]` in (ky, kx, channel) order: the row-major order of a `[k, k, c, cout]`
 * filter, so the filter reshaped to `[k*k*c, cout]` is the matching weight matrix. Values are
 * multiplied by `scale` (1/255 for uint8 frames).
 */
export function im2col(
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
  const run = k * c;
  const out = new Float32Array(b * oh * ow * k * run);
  let o = 0;
  for (let n = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ky = 0; ky < k; ky++) {
          // One kernel row is k*c consecutive values of the image row.
          let s = img + ((y * stride + ky) * w + x * stride) * c;
          for (let j = 0; j < run; j++) out[o++] = src[s++] * scale;
        }
      }
    }
  }
  return out;
}

/** The adjoint of {@linkcode im2col} (scale 1): sums patch gradients back into the image. */
export function col2im(
  cols: ArrayLike<number>,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
  stride: number,
): Float32Array {
  const oh = convOut(h, k, stride);
  const ow = convOut(w, k, stride);
  const run = k * c;
  const out = new Float32Array(b * h * w * c);
  let o = 0;
  for (let n = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ky = 0; ky < k; ky++) {
          let s = img + ((y * stride + ky) * w + x * stride) * c;
          for (let j = 0; j < run; j++) out[s++] += cols[o++];
        }
      }
    }
  }
  return out;
}

/**
 * `x @ w` whose gradient uses explicit transposes (`dx = dy @ w^T`, `dw = (dy^T @ x)^T` or
 * `x^T @ dy`, whichever moves fewer values): on wasm a product with a transposed operand flag
 * is many times slower than a transpose and a plain product.
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(
    (a: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save) => {
      const xa = a as tf.Tensor2D;
      const wb = b as tf.Tensor2D;
      (save as tf.GradSaveFunc)([xa, wb]);
      return {
        value: tf.matMul(xa, wb),
        gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => [
          tf.matMul(dy as tf.Tensor2D, tf.transpose(sw as tf.Tensor2D)),
          weightGrad(sx as tf.Tensor2D, dy as tf.Tensor2D),
        ],
      };
    },
  );
  return op(x, w) as tf.Tensor2D;
}

/** `x^T @ dy` through whichever explicit transpose is cheaper. */
function weightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  const [n, k] = x.shape;
  const o = dy.shape[1];
  if (n * o + k * o < n * k) return tf.transpose(tf.matMul(tf.transpose(dy), x));
  return tf.matMul(tf.transpose(x), dy);
}

/**
 * {@linkcode im2col} transposed: `[k*k*c, b*oh*ow]`, so that the filter gradient
 * `cols^T @ dy` is a plain product (on wasm several times faster than `dy^T @ cols`, whose
 * long reduction with few output rows suits XNNPACK's kernels badly).
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

/**
 * A `valid` convolution of `x [b, h, w, c]` with the filter `w [k, k, c, cout]` and `stride`,
 * without bias: `[b * oh * ow, cout]`. The input is a tensor (differentiable in it too), or
 * uint8 frames scaled by `scale` (then only the filter gets a gradient).
 */
export function convMM(
  x: tf.Tensor4D | { bytes: Uint8Array; shape: [number, number, number, number]; scale: number },
  w: tf.Variable,
  stride: number,
): tf.Tensor2D {
  const [k, , c, cout] = w.shape;
  const [b, h, wd] = x instanceof tf.Tensor ? x.shape : x.shape;
  const rows = b * convOut(h, k, stride) * convOut(wd, k, stride);
  const kkc = k * k * c;
  const wm = w.reshape([kkc, cout]) as tf.Tensor2D;
  if (!(x instanceof tf.Tensor)) {
    const { bytes, scale } = x;
    const transposed = transposedCols();
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
          weightGrad(sc as tf.Tensor2D, dy as tf.Tensor2D),
      };
    });
    return op(wm) as tf.Tensor2D;
  }
  const transposed = transposedCols();
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
          const dCols = tf.matMul(dy as tf.Tensor2D, tf.transpose(sw as tf.Tensor2D));
          const dx = tf.tensor4d(col2im(dCols.dataSync(), b, h, wd, c, k, stride), [b, h, wd, c]);
          if (transposed) {
            const colsT = tf.tensor2d(im2colT(sa.dataSync(), b, h, wd, c, k, stride), [kkc, rows]);
            return [dx, tf.matMul(colsT, dy as tf.Tensor2D)];
          }
          return [dx, weightGrad(sa as tf.Tensor2D, dy as tf.Tensor2D)];
        },
      };
    },
  );
  return op(x, wm) as tf.Tensor2D;
}

/**
 * How the filter gradient `cols^T @ dy` is formed. `auto` (default): on wasm, from patches cut
 * again in transposed layout (`im2colT`), a plain product that XNNPACK runs several times
 * faster than `dy^T @ cols` (a long reduction with few output rows, which suits its kernels
 * badly), even counting the second cut; elsewhere (BLAS-backed or cpu backends), from the
 * forward pass's patches, kept on the tape. Measured on a 2-core x86 for a 256-frame batch:
 * wasm 3.3 s (transposed) vs 4.2 s (kept); an OpenBLAS backend 2.1 s vs 1.3 s.
 */
export const CONV_OPTS: { transposedCols: "auto" | boolean } = { transposedCols: "auto" };

function transposedCols(): boolean {
  const mode = CONV_OPTS.transposedCols;
  return mode === "auto" ? tf.getBackend() === "wasm" : mode;
}

/** {@linkcode im2col} for uint8 frames (a monomorphic copy: the JIT keeps each loop fast). */
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
  const oh = convOut(h, k, stride);
  const ow = convOut(w, k, stride);
  const run = k * c;
  const out = new Float32Array(b * oh * ow * k * run);
  let o = 0;
  for (let n = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ky = 0; ky < k; ky++) {
          let s = img + ((y * stride + ky) * w + x * stride) * c;
          for (let j = 0; j < run; j++) out[o++] = src[s++] * scale;
        }
      }
    }
  }
  return out;
}

/** {@linkcode im2col} for floats, copying each kernel row's run in one `set`. */
export function im2colFloats(
  src: Float32Array,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
  stride: number,
): Float32Array {
  const oh = convOut(h, k, stride);
  const ow = convOut(w, k, stride);
  const run = k * c;
  const out = new Float32Array(b * oh * ow * k * run);
  let o = 0;
  for (let n = 0; n < b; n++) {
    const img = n * h * w * c;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ky = 0; ky < k; ky++) {
          const s = img + ((y * stride + ky) * w + x * stride) * c;
          out.set(src.subarray(s, s + run), o);
          o += run;
        }
      }
    }
  }
  return out;
}

function convRelu(
  p: Params,
  x: Parameters<typeof convMM>[0],
  stride: number,
): tf.Tensor2D {
  return tf.relu(tf.add(convMM(x, p.w as tf.Variable, stride), p.b as tf.Variable));
}

/**
 * Nature CNN forward (conv 8x8/4 32, 4x4/2 64, 3x3/1 64, dense 512, ReLUs) on `n` uint8 frame
 * stacks `[n, h, w, c]`, scaled by 1/255 as CleanRL does; or on a float tensor `[n, h, w, c]`
 * already in [0, 1] (differentiable in its input too, for saliency maps). Returns `[n, 512]`.
 * Parameters: `initNatureCnn` of `lib/nn/cnn.ts`.
 */
export function natureCnnFast(
  p: Params,
  input: Uint8Array | tf.Tensor4D,
  shape: readonly [number, number, number],
  n: number,
): tf.Tensor2D {
  const [h, w, c] = shape;
  const h1 = convOut(h, 8, 4);
  const w1 = convOut(w, 8, 4);
  const h2 = convOut(h1, 4, 2);
  const w2 = convOut(w1, 4, 2);
  const h3 = convOut(h2, 3, 1);
  const w3 = convOut(w2, 3, 1);
  if (h3 < 1 || w3 < 1) throw new Error(`Nature CNN: input ${h}x${w} is too small`);
  let x: Parameters<typeof convMM>[0] = input as tf.Tensor4D;
  if (input instanceof Uint8Array) {
    if (input.length !== n * h * w * c) {
      throw new Error(`natureCnnFast: ${input.length} bytes for ${n} frames of ${h}x${w}x${c}`);
    }
    x = { bytes: input, shape: [n, h, w, c], scale: 1 / 255 };
  }
  const a1 = convRelu(p.c1 as Params, x, 4).reshape([n, h1, w1, 32]) as tf.Tensor4D;
  const a2 = convRelu(p.c2 as Params, a1, 2).reshape([n, h2, w2, 64]) as tf.Tensor4D;
  const a3 = convRelu(p.c3 as Params, a2, 1).reshape([n, h3 * w3 * 64]) as tf.Tensor2D;
  const fc = p.fc as Params;
  return tf.relu(
    tf.add(dense(a3 as tf.Tensor2D, fc.w as tf.Variable as tf.Tensor2D), fc.b as tf.Variable),
  );
}
