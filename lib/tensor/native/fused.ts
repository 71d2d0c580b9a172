/**
 * The native backend's fused transformer kernels (fused_ops.ts names and documents them): GELU
 * in its tanh form, layer norm over the last axis and multi-head self-attention, forward and
 * backward, each one call of kernels.c on float32 arrays. They have no cpu counterpart: a call
 * they cannot serve (another dtype, mismatched shapes) is an error, and fused_ops' callers
 * check dtypes first.
 *
 * @module
 */

import type * as tf from "@tensorflow/tfjs";
import {
  ADAMW,
  ATTENTION,
  ATTENTION_GRAD,
  AXPBY,
  GELU_TANH,
  GELU_TANH_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
} from "./fused_ops.ts";
import { alloc, allocZeroed } from "./pool.ts";
import { broadcastStrides, f32, type NativeKernel, sizeOf } from "./util.ts";

const geluTanh: NativeKernel = ({ inputs, backend }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const xv = f32(backend, x);
  if (!xv) return undefined;
  const out = alloc(xv.length);
  if (xv.length > 0) libs.k.nk_gelu(xv.length, xv, out);
  return backend.makeTensorInfo(x.shape.slice(), "float32", out);
};

const geluTanhGrad: NativeKernel = ({ inputs, backend }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  if (!xv || !dyv || xv.length !== dyv.length) return undefined;
  const out = alloc(xv.length);
  if (xv.length > 0) libs.k.nk_gelu_grad(xv.length, xv, dyv, out);
  return backend.makeTensorInfo(x.shape.slice(), "float32", out);
};

/** `[rows, cols]` of x seen as rows of its last axis (a scalar is one row of one). */
function rowsOf(shape: readonly number[]): { rows: number; cols: number } {
  const cols = shape.length ? shape[shape.length - 1] : 1;
  return { rows: cols > 0 ? sizeOf(shape) / cols : sizeOf(shape.slice(0, -1)), cols };
}

/** gamma and beta (both or neither), each with `cols` values; null for an invalid pair. */
function affineValues(
  backend: Parameters<NativeKernel>[0]["backend"],
  inputs: tf.NamedTensorInfoMap,
  cols: number,
): { g: Float32Array | null; b: Float32Array | null } | null {
  const gamma = inputs.gamma as tf.TensorInfo | undefined;
  const beta = inputs.beta as tf.TensorInfo | undefined;
  if (!gamma && !beta) return { g: null, b: null };
  if (!gamma || !beta) return null;
  const g = f32(backend, gamma);
  const b = f32(backend, beta);
  if (!g || !b || g.length !== cols || b.length !== cols) return null;
  return { g, b };
}

const layerNorm: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const xv = f32(backend, x);
  if (!xv) return undefined;
  const { rows, cols } = rowsOf(x.shape);
  const affine = affineValues(backend, inputs, cols);
  if (!affine) return undefined;
  const eps = Number(attrs?.epsilon ?? 1e-6);
  const out = alloc(xv.length);
  const mean = alloc(rows);
  const rstd = alloc(rows);
  if (rows > 0 && cols > 0) {
    libs.k.nk_layer_norm(rows, cols, xv, affine.g, affine.b, eps, out, mean, rstd);
  }
  return [
    backend.makeTensorInfo(x.shape.slice(), "float32", out),
    backend.makeTensorInfo([rows], "float32", mean),
    backend.makeTensorInfo([rows], "float32", rstd),
  ];
};

const layerNormGrad: NativeKernel = ({ inputs, backend }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const [xv, mean, rstd, dy] = (["x", "mean", "rstd", "dy"] as const).map((k) =>
    f32(backend, inputs[k] as tf.TensorInfo)
  );
  if (!xv || !mean || !rstd || !dy || dy.length !== xv.length) return undefined;
  const { rows, cols } = rowsOf(x.shape);
  if (mean.length !== rows || rstd.length !== rows) return undefined;
  const gamma = inputs.gamma as tf.TensorInfo | undefined;
  const g = gamma ? f32(backend, gamma) : null;
  if (g === undefined || (g && g.length !== cols)) return undefined;
  const dx = alloc(xv.length);
  const dg = g ? alloc(cols) : null;
  const db = g ? alloc(cols) : null;
  if (cols > 0 && libs.k.nk_layer_norm_grad(rows, cols, xv, mean, rstd, g, dy, dx, dg, db) !== 0) {
    throw new Error("JepaLayerNormGrad: out of memory");
  }
  const out = [backend.makeTensorInfo(x.shape.slice(), "float32", dx)];
  if (gamma && dg && db) {
    out.push(
      backend.makeTensorInfo(gamma.shape.slice(), "float32", dg),
      backend.makeTensorInfo(gamma.shape.slice(), "float32", db),
    );
  }
  return out;
};

/**
 * `[B, N, 3D]` qkv and its heads: the dims of an attention call (`nq`: how many of the last
 * tokens are queries, attr `queries`, default all), or undefined if invalid.
 */
function attentionDims(
  qkv: tf.TensorInfo,
  attrs: tf.NamedAttrMap | undefined,
): { b: number; n: number; nq: number; heads: number; dh: number; scale: number } | undefined {
  const heads = Number(attrs?.heads);
  const scale = Number(attrs?.scale);
  if (qkv.shape.length !== 3 || !Number.isInteger(heads) || heads < 1) return undefined;
  const [b, n, d3] = qkv.shape;
  const nq = attrs?.queries === undefined ? n : Number(attrs.queries);
  if (!Number.isInteger(nq) || nq < 0 || nq > n) return undefined;
  if (d3 % (3 * heads) !== 0 || !Number.isFinite(scale)) return undefined;
  return { b, n, nq, heads, dh: d3 / 3 / heads, scale };
}

const attention: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const qkv = inputs.qkv as tf.TensorInfo;
  const mask = inputs.mask as tf.TensorInfo | undefined;
  const dims = attentionDims(qkv, attrs);
  const qv = f32(backend, qkv);
  if (!dims || !qv) return undefined;
  const { b, n, nq, heads, dh, scale } = dims;
  let mv: Float32Array | null = null;
  let ms = [0, 0, 0, 0];
  if (mask) {
    const m = f32(backend, mask);
    if (!m || mask.shape.length > 4) return undefined;
    try {
      ms = broadcastStrides(mask.shape, [b, heads, n, n]);
    } catch {
      return undefined;
    }
    mv = m;
  }
  const out = alloc(b * nq * heads * dh);
  const probs = alloc(b * heads * nq * n);
  const [mb, mh, mr, mc] = ms;
  if (libs.k.nk_attention(b, n, nq, heads, dh, qv, mv, mb, mh, mr, mc, scale, out, probs)) {
    throw new Error("JepaAttention: out of memory");
  }
  return [
    backend.makeTensorInfo([b, nq, heads * dh], "float32", out),
    backend.makeTensorInfo([b, heads, nq, n], "float32", probs),
  ];
};

const attentionGrad: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const qkv = inputs.qkv as tf.TensorInfo;
  const dims = attentionDims(qkv, attrs);
  const qv = f32(backend, qkv);
  const pv = f32(backend, inputs.probs as tf.TensorInfo);
  const dyv = f32(backend, inputs.dy as tf.TensorInfo);
  if (!dims || !qv || !pv || !dyv) return undefined;
  const { b, n, nq, heads, dh, scale } = dims;
  if (pv.length !== b * heads * nq * n || dyv.length !== b * nq * heads * dh) return undefined;
  // No queries: no gradient (the kernel then writes nothing).
  const dqkv = nq === 0 ? allocZeroed(qv.length) : alloc(qv.length);
  if (libs.k.nk_attention_grad(b, n, nq, heads, dh, qv, pv, dyv, scale, dqkv)) {
    throw new Error("JepaAttentionGrad: out of memory");
  }
  return backend.makeTensorInfo(qkv.shape.slice(), "float32", dqkv);
};

const adamw: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const p = inputs.p as tf.TensorInfo;
  const [pv, g, m, v] = (["p", "g", "m", "v"] as const).map((k) =>
    f32(backend, inputs[k] as tf.TensorInfo)
  );
  if (!pv || !g || !m || !v || [g, m, v].some((t) => t.length !== pv.length)) return undefined;
  const a = (k: string) => Number(attrs?.[k]);
  const [po, mo, vo] = [alloc(pv.length), alloc(pv.length), alloc(pv.length)];
  if (pv.length > 0) {
    const [b1, b2] = [a("beta1"), a("beta2")];
    libs.k.nk_adamw(
      pv.length,
      pv,
      g,
      m,
      v,
      a("gradScale"),
      a("lr"),
      b1,
      1 - b1,
      b2,
      1 - b2,
      a("eps"),
      a("c1"),
      a("c2"),
      a("decay"),
      po,
      mo,
      vo,
    );
  }
  return [po, mo, vo].map((out) => backend.makeTensorInfo(p.shape.slice(), "float32", out));
};

const axpby: NativeKernel = ({ inputs, backend, attrs }, libs) => {
  const x = inputs.x as tf.TensorInfo;
  const xv = f32(backend, x);
  const yv = f32(backend, inputs.y as tf.TensorInfo);
  if (!xv || !yv || xv.length !== yv.length) return undefined;
  const out = alloc(xv.length);
  if (xv.length > 0) libs.k.nk_axpby(xv.length, xv, yv, Number(attrs?.a), Number(attrs?.b), out);
  return backend.makeTensorInfo(x.shape.slice(), "float32", out);
};

/** The fused kernels, by name (registered on the native backend only). */
export const FUSED_KERNELS: Record<string, NativeKernel> = {
  [GELU_TANH]: geluTanh,
  [GELU_TANH_GRAD]: geluTanhGrad,
  [LAYER_NORM]: layerNorm,
  [LAYER_NORM_GRAD]: layerNormGrad,
  [ATTENTION]: attention,
  [ATTENTION_GRAD]: attentionGrad,
  [ADAMW]: adamw,
  [AXPBY]: axpby,
};
