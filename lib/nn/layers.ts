/**
 * Transformer building blocks as plain functions over parameter trees: linear, layer norm, GELU,
 * MLP, multi-head self-attention (optional additive mask) and the pre-norm block. Each `init*`
 * returns the block's {@linkcode Params}; the forward function takes them and a tensor.
 *
 * Written for tfjs' kernels: rank <= 4 transposes, no gathers in the differentiated path, and
 * the tanh form of GELU (erf is slow on wasm).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import {
  GELU_TANH,
  geluTanhFused,
  hasFusedKernel,
  hasFusedKernels,
  LAYER_NORM,
  layerNormFused,
  linearFused,
  residualAdd,
  selfAttentionFused,
} from "../tensor/native/fused_ops.ts";
import type { Rng } from "../tensor/rng.ts";
import { dense } from "./dense.ts";
import { ones, type Params, truncNormal, zeros } from "./params.ts";

/** ViT default: weights ~ truncated normal with this std, biases 0 (as I-JEPA / timm). */
export const INIT_STD = 0.02;

/** `{w: [dIn, dOut], b: [dOut]}`. */
export function initLinear(rng: Rng, dIn: number, dOut: number, std = INIT_STD): Params {
  return { w: truncNormal([dIn, dOut], std, rng), b: zeros([dOut]) };
}

/**
 * `x @ w + b` over the last axis of any rank. On a backend with the fused kernels (`native`) one
 * op with the bias added in the product (`linearFused`: less kept for the gradient); elsewhere
 * `dense.ts`'s product, whose gradient takes the backend's faster form (explicit transposes on
 * wasm), plus the bias.
 */
export function linear(p: Params, x: tf.Tensor): tf.Tensor {
  const w = p.w as tf.Variable as tf.Tensor as tf.Tensor2D;
  const b = p.b as tf.Variable as tf.Tensor;
  if (
    [x, w, b].every((t) => t.dtype === "float32") && b.rank === 1 && hasFusedKernels()
  ) {
    return linearFused(x, w, b as tf.Tensor1D);
  }
  const [dIn, dOut] = w.shape;
  const lead = x.shape.slice(0, -1);
  const y = tf.add(dense(x.reshape([-1, dIn]) as tf.Tensor2D, w), p.b as tf.Variable);
  return y.reshape([...lead, dOut]);
}

/** `{g: [d], b: [d]}`. */
export function initLayerNorm(d: number): Params {
  return { g: ones([d]), b: zeros([d]) };
}

/**
 * Normalises over the last axis (no affine part): the I-JEPA target normalisation. One fused
 * kernel where the backend has it (`native`), else tfjs' moments and element-wise ops; the
 * same function either way.
 */
export function normalize(x: tf.Tensor, eps = 1e-6): tf.Tensor {
  if (x.dtype === "float32" && x.rank >= 1 && hasFusedKernel(LAYER_NORM)) {
    return layerNormFused(x, eps);
  }
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
}

/** Layer norm with gain and bias (fused where the backend has the kernel, as `normalize`). */
export function layerNorm(p: Params, x: tf.Tensor, eps = 1e-6): tf.Tensor {
  const g = p.g as tf.Variable;
  const b = p.b as tf.Variable;
  if (fusableAffine(x, g, b) && hasFusedKernel(LAYER_NORM)) {
    return layerNormFused(x, eps, { g, b });
  }
  return tf.add(tf.mul(normalize(x, eps), g), b);
}

/** Whether `x * g + b` is a per-feature affine map of x's last axis (what the fused op does). */
function fusableAffine(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): boolean {
  const d = x.shape[x.rank - 1];
  return x.rank >= 1 && [x, g, b].every((t) => t.dtype === "float32") &&
    g.rank === 1 && b.rank === 1 && g.shape[0] === d && b.shape[0] === d;
}

/**
 * GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. One fused kernel
 * where the backend has it (`native`), else the same formula in tfjs ops.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (x.dtype === "float32" && hasFusedKernel(GELU_TANH)) return geluTanhFused(x);
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/**
 * Runs `fn` off the gradient tape and returns its tensor as a constant: inside a gradient scope
 * (`tf.variableGrads`, `tf.grad`) tfjs would otherwise record every op of `fn` and keep each
 * op's saved inputs alive until the gradient is done, though no gradient ever flows back through
 * them (an EMA target encoder's activations: the larger part of an I-JEPA step's memory). The
 * tensors `fn` creates besides its result are disposed as in `tf.tidy`. Outside a gradient scope
 * it is `tf.tidy`.
 */
export function noGrad<T extends tf.Tensor>(fn: () => T): T {
  // A custom-gradient op with no inputs: tfjs runs its forward function with the tape paused
  // (ops inside a kernel are never recorded) and the op itself joins no path to a variable.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    void args;
    return { value: fn(), gradFunc: () => [] };
  });
  return (op as () => T)();
}

/** Two-layer MLP `dIn -> hidden -> dOut` with GELU. */
export function initMlp(rng: Rng, dIn: number, hidden: number, dOut = dIn): Params {
  return { fc1: initLinear(rng, dIn, hidden), fc2: initLinear(rng, hidden, dOut) };
}

/** MLP forward. */
export function mlp(p: Params, x: tf.Tensor): tf.Tensor {
  return linear(p.fc2 as Params, gelu(linear(p.fc1 as Params, x)));
}

/** Query, key, value and output projections of a `d`-wide attention layer. */
export function initAttention(rng: Rng, d: number): Params {
  return {
    q: initLinear(rng, d, d),
    k: initLinear(rng, d, d),
    v: initLinear(rng, d, d),
    proj: initLinear(rng, d, d),
  };
}

/**
 * Multi-head self-attention on `x: [B, N, D]`. `mask`, if given, is added to the attention
 * logits and broadcasts to `[B, heads, N, N]` (0 where allowed, a large negative number where
 * not), e.g. the block-causal mask of a world model. With `queries` (at most N), only the last
 * `queries` tokens are queried: the result is `[B, queries, D]`, those rows of the full result,
 * at that fraction of the cost of the query, output and later per-token work (keys and values
 * still come from all N tokens). On a backend with the fused kernels (`native`), the layer is one
 * op (`selfAttentionFused`: q, k and v as one product, the heads as one kernel): the same
 * function, with less kept for the gradient.
 */
export function attention(
  p: Params,
  x: tf.Tensor3D,
  heads: number,
  mask?: tf.Tensor,
  queries?: number,
): tf.Tensor3D {
  const [b, n, d] = x.shape;
  if (d % heads !== 0) throw new Error(`attention: width ${d} is not divisible by ${heads} heads`);
  const nq = queryCount(n, queries);
  const [q, k, v] = [p.q, p.k, p.v] as Params[];
  if (x.dtype === "float32" && (!mask || mask.dtype === "float32") && hasFusedKernels()) {
    // A backend with the fused kernels (native): q, k, v as one product and the whole layer as
    // one op that keeps only what its gradient needs (fused_ops.ts); the same function.
    const o = p.proj as Params;
    const w = [q.w, k.w, v.w, o.w] as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
    const bias = [q.b, k.b, v.b, o.b] as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
    return selfAttentionFused(x, w, bias, heads, mask, nq);
  }
  const dh = d / heads;
  const split = (t: tf.Tensor, rows: number) =>
    t.reshape([b, rows, heads, dh]).transpose([0, 2, 1, 3]);
  const qh = split(linear(q, lastTokens(x, nq)), nq);
  const kh = split(linear(k, x), n);
  const vh = split(linear(v, x), n);
  let logits = tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(dh));
  if (mask) logits = tf.add(logits, maskRows(mask, n, nq));
  const out = tf.matMul(tf.softmax(logits), vh).transpose([0, 2, 1, 3]).reshape([b, nq, d]);
  return linear(p.proj as Params, out) as tf.Tensor3D;
}

/** How many of N tokens are queried: `queries`, checked, or all N when it is undefined. */
function queryCount(n: number, queries: number | undefined): number {
  const nq = queries ?? n;
  if (!Number.isInteger(nq) || nq < 0 || nq > n) {
    throw new Error(`attention: queries ${queries} must be an integer in [0, ${n}] (the tokens)`);
  }
  return nq;
}

/** The last `count` tokens of `x: [B, N, D]` (`x` itself when that is all of them). */
function lastTokens(x: tf.Tensor3D, count: number): tf.Tensor3D {
  const n = x.shape[1];
  return count === n ? x : x.slice([0, n - count, 0], [-1, count, -1]);
}

/** The rows of the last `count` query tokens of a mask broadcasting to `[..., N, N]`. */
function maskRows(mask: tf.Tensor, n: number, count: number): tf.Tensor {
  if (count === n || mask.rank < 2 || mask.shape[mask.rank - 2] !== n) return mask;
  const begin = mask.shape.map((_, i) => (i === mask.rank - 2 ? n - count : 0));
  const size = mask.shape.map((dim, i) => (i === mask.rank - 2 ? count : dim));
  return mask.slice(begin, size);
}

/** Pre-norm transformer block: `x + attn(ln(x))`, then `x + mlp(ln(x))`. */
export function initBlock(rng: Rng, d: number, mlpRatio = 4): Params {
  return {
    ln1: initLayerNorm(d),
    attn: initAttention(rng, d),
    ln2: initLayerNorm(d),
    mlp: initMlp(rng, d, Math.round(d * mlpRatio)),
  };
}

/**
 * `x + branch` of a residual connection: with the fused kernels (`native`), an add that keeps
 * neither input for its gradient (`residualAdd`); elsewhere `tf.add`.
 */
function residual(x: tf.Tensor3D, branch: tf.Tensor): tf.Tensor3D {
  if (x.dtype === "float32" && hasFusedKernels()) return residualAdd(x, branch as tf.Tensor3D);
  return tf.add(x, branch) as tf.Tensor3D;
}

/**
 * Block forward. With `queries`, only the last `queries` tokens come out (`[B, queries, D]`):
 * their attention reads every token, and the rest of the block runs on them alone.
 */
export function block(
  p: Params,
  x: tf.Tensor3D,
  heads: number,
  mask?: tf.Tensor,
  queries?: number,
): tf.Tensor3D {
  const nq = queryCount(x.shape[1], queries);
  const h = residual(
    lastTokens(x, nq),
    attention(p.attn as Params, layerNorm(p.ln1 as Params, x) as tf.Tensor3D, heads, mask, nq),
  );
  return residual(h, mlp(p.mlp as Params, layerNorm(p.ln2 as Params, h)));
}

/** `depth` blocks, keyed "0", "1", ... */
export function initBlocks(rng: Rng, depth: number, d: number, mlpRatio = 4): Params {
  const blocks: Params = {};
  for (let i = 0; i < depth; i++) {
    blocks[String(i)] = initBlock(rng.fork(`block/${i}`), d, mlpRatio);
  }
  return blocks;
}

/**
 * Runs a stack of blocks. With `lastQueries`, only the last `lastQueries` tokens' outputs are
 * computed in the last block (see {@linkcode block}), the same values as slicing the full
 * output: for a caller that reads only those (I-JEPA's predictor reads its mask tokens).
 */
export function blocks(
  p: Params,
  x: tf.Tensor3D,
  heads: number,
  mask?: tf.Tensor,
  lastQueries?: number,
): tf.Tensor3D {
  const keys = Object.keys(p);
  keys.forEach((k, i) => {
    x = block(p[k] as Params, x, heads, mask, i === keys.length - 1 ? lastQueries : undefined);
  });
  return x;
}
