/**
 * Fused transformer ops over kernels that only some backends register: GELU in its tanh form,
 * layer norm over the last axis and multi-head self-attention, each one kernel forward and one
 * backward. The `native` backend registers them (fused.ts); `lib/nn/layers.ts` calls these ops
 * where the active backend has the kernels ({@linkcode hasFusedKernel}) and its composite of
 * stock tfjs ops everywhere else.
 *
 * Why: the composite forms are chains of kernels (eight element-wise ones for GELU, about ten for
 * layer norm; projections, head transposes, scaling, masking, softmax and two batched products
 * for attention) whose full-size outputs tfjs' tape keeps until the gradient scope ends, with a
 * gradient of each on the way back. A fused op is one tape node that saves only what its
 * backward pass reads: GELU its input; layer norm its input and each row's mean and 1/std;
 * attention its input, projections and attention weights.
 *
 * This module imports tfjs alone (no FFI): any backend may load it.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** `y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`; inputs `{x}`. */
export const GELU_TANH = "JepaGeluTanh";
/** `dx = dy * gelu'(x)`; inputs `{x, dy}`. */
export const GELU_TANH_GRAD = "JepaGeluTanhGrad";
/**
 * Layer norm over the last axis, `(x - mean) / sqrt(var + epsilon)`, times `gamma` plus `beta`
 * when given (both or neither, each of the last axis' size); inputs `{x, gamma?, beta?}`, attr
 * `epsilon`. Outputs `[y, mean, rstd]`, the last two with one value per row (`[rows]`).
 */
export const LAYER_NORM = "JepaLayerNorm";
/**
 * The gradients of {@linkcode LAYER_NORM}: inputs `{x, mean, rstd, dy, gamma?}`; outputs
 * `[dx]`, or `[dx, dgamma, dbeta]` with `gamma`, each of gamma's shape (summed over rows).
 */
export const LAYER_NORM_GRAD = "JepaLayerNormGrad";

/**
 * Multi-head self-attention without its projections: inputs `{qkv, mask?}` with `qkv: [B, N, 3D]`
 * the rows of `x @ [Wq Wk Wv] + [bq bk bv]` (per row: q, k, v, each `heads` blocks of `D / heads`)
 * and `mask` broadcasting to `[B, heads, N, N]`; attrs `heads`, `scale` and optionally `queries`
 * (NQ <= N: only the last NQ tokens are queried; default N). Outputs `[out, probs]`:
 * `softmax(q k^T * scale + mask) v` with heads merged, `[B, NQ, D]`, and the attention weights,
 * `[B, heads, NQ, N]`.
 */
export const ATTENTION = "JepaAttention";
/**
 * The gradient of {@linkcode ATTENTION} in `qkv`: inputs `{qkv, probs, dy}` (`dy: [B, NQ, D]`),
 * attrs as the forward's; output `dqkv: [B, N, 3D]` (the mask takes no gradient).
 */
export const ATTENTION_GRAD = "JepaAttentionGrad";

/**
 * One AdamW update of one parameter: inputs `{p, g, m, v}` (one shape), attrs `gradScale` (g is
 * multiplied by it first), `lr`, `beta1`, `beta2`, `eps`, `c1 = 1 - beta1^t`,
 * `c2 = 1 - beta2^t`, `decay = 1 - lr * weightDecay`;
 * outputs `[p', m', v']` (the formula is `AdamW.apply`'s in lib/train/optim.ts). Not
 * differentiable: an optimiser's step.
 */
export const ADAMW = "JepaAdamW";
/** `a x + b y` for inputs `{x, y}` of one shape, attrs `a`, `b` (an EMA step). */
export const AXPBY = "JepaAxpby";

/** Every fused kernel's name. */
export const FUSED_KERNEL_NAMES: readonly string[] = [
  GELU_TANH,
  GELU_TANH_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  ATTENTION,
  ATTENTION_GRAD,
  ADAMW,
  AXPBY,
];

/** Whether the active backend registers kernel `name`. */
export function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * Whether the active backend registers every fused kernel (the native backend): layers.ts then
 * also runs attention as {@linkcode selfAttentionFused}.
 */
export function hasFusedKernels(): boolean {
  return FUSED_KERNEL_NAMES.every(hasFusedKernel);
}

function run(name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

let geluOp: ((x: tf.Tensor) => tf.Tensor) | undefined;

/**
 * GELU (tanh approximation) by the {@linkcode GELU_TANH} kernels, differentiable; saves only
 * `x` for the backward pass. Needs a backend that registers them and a float32 `x`.
 */
export function geluTanhFused(x: tf.Tensor): tf.Tensor {
  geluOp ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([input]);
    return {
      value: run(GELU_TANH, { x: input })[0],
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => run(GELU_TANH_GRAD, { x: saved, dy })[0],
    };
  }) as (x: tf.Tensor) => tf.Tensor;
  return geluOp(x);
}

/**
 * Layer norm over the last axis by the {@linkcode LAYER_NORM} kernels, differentiable: without
 * `affine`, `(x - mean) / sqrt(var + eps)` (biased variance); with it, that times `affine.g`
 * plus `affine.b` (each of the last axis' size), with their gradients summed over every leading
 * dim. Saves `x` and each row's mean and 1/std for the backward pass. Needs a backend that
 * registers the kernels and float32 inputs.
 */
export function layerNormFused(
  x: tf.Tensor,
  eps: number,
  affine?: { g: tf.Tensor; b: tf.Tensor },
): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [input, gamma, beta] = args as tf.Tensor[];
    const params: tf.NamedTensorMap = gamma ? { gamma, beta } : {};
    const [y, mean, rstd] = run(LAYER_NORM, { x: input, ...params }, { epsilon: eps });
    save(gamma ? [input, mean, rstd, gamma] : [input, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sMean, sRstd, sGamma] = saved;
        const grads = run(LAYER_NORM_GRAD, {
          x: sx,
          mean: sMean,
          rstd: sRstd,
          dy,
          ...(sGamma ? { gamma: sGamma } : {}),
        });
        if (!gamma) return grads[0];
        // The kernel gives dbeta gamma's shape; the pair may differ in size-1 dims.
        const [dx, dGamma, dBeta] = grads;
        return [
          dx,
          dGamma,
          tf.util.arraysEqual(beta.shape, gamma.shape) ? dBeta : dBeta.reshape(beta.shape),
        ];
      },
    };
  });
  return affine ? op(x, affine.g, affine.b) : op(x);
}

/**
 * The attention of `lib/nn/layers.ts`, projections included, as one differentiable op: the
 * query, key and value projections of `x: [B, N, D]` as one product with the three weight
 * matrices side by side (`[D, 3D]`, concatenated here, so parameter trees keep their separate
 * `q`, `k`, `v`), then `softmax(q k^T / sqrt(D / heads) + mask) v` per head by the
 * {@linkcode ATTENTION} kernel, which reads the heads where the product leaves them and writes
 * them merged (`[B, N, D]`, no transposes), then the output projection with its bias. `w` and
 * `bias` hold q, k, v and the output projection's weights and biases, in that order. `mask` (a
 * constant: it gets no gradient) broadcasts to `[B, heads, N, N]`. With `queries` (at most N),
 * only the last `queries` tokens are queried: the output is `[B, queries, D]`, those tokens'
 * rows of the full output (their keys and values, and the mask's columns, still span all N).
 * Needs a backend with the kernels and float32 inputs (mask included).
 *
 * What stays alive for the backward pass: `x`, the concatenated weights, the projections
 * (`[B, N, 3D]`), the attention weights and the merged heads; the backward pass keeps only the
 * gradients it returns.
 */
export function selfAttentionFused(
  x: tf.Tensor3D,
  w: [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor],
  bias: [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor],
  heads: number,
  mask?: tf.Tensor,
  queries?: number,
): tf.Tensor3D {
  const [b, n, d] = x.shape;
  const nq = queries ?? n;
  if (!Number.isInteger(nq) || nq < 0 || nq > n) {
    throw new Error(`selfAttentionFused: queries ${queries} must be an integer in [0, ${n}]`);
  }
  const attrs = { heads, scale: 1 / Math.sqrt(d / heads), queries: nq };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [input, wq, wk, wv, wo, bq, bk, bv, bo] = args as tf.Tensor[];
    const x2 = input.reshape([b * n, d]) as tf.Tensor2D;
    const wAll = tf.concat([wq, wk, wv], 1) as tf.Tensor2D;
    const qkv = tf.fused.matMul({ a: x2, b: wAll, bias: tf.concat([bq, bk, bv]) })
      .reshape([b, n, 3 * d]);
    const [heads2, probs] = run(ATTENTION, mask ? { qkv, mask } : { qkv }, attrs);
    const merged = heads2.reshape([b * nq, d]) as tf.Tensor2D;
    const out = tf.fused.matMul({ a: merged, b: wo as tf.Tensor2D, bias: bo }).reshape([b, nq, d]);
    save([x2, wAll, qkv, probs, merged, wo]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sw, sqkv, sp, sMerged, sWo] = saved;
          const dy2 = dy.reshape([b * nq, d]);
          const dMerged = tf.matMul(dy2, sWo, false, true).reshape([b, nq, d]);
          const dWo = tf.matMul(sMerged, dy2, true, false);
          const dBo = tf.sum(dy2, 0);
          const dqkv = run(ATTENTION_GRAD, { qkv: sqkv, probs: sp, dy: dMerged }, attrs)[0]
            .reshape([b * n, 3 * d]);
          const dx = tf.matMul(dqkv, sw, false, true).reshape([b, n, d]);
          const [dWq, dWk, dWv] = tf.split(tf.matMul(sx, dqkv, true, false), 3, 1);
          const [dBq, dBk, dBv] = tf.split(tf.sum(dqkv, 0), 3);
          return [dx, dWq, dWk, dWv, dWo, dBq, dBk, dBv, dBo];
        }),
    };
  });
  return op(x, ...w, ...bias) as tf.Tensor3D;
}

/**
 * `x @ w + b` over x's last axis (`w: [dIn, dOut]`, `b: [dOut]`) as one differentiable op: one
 * product with the bias added in place (`tf.fused.matMul`), saving only `x` and `w` for the
 * backward pass. The composite `add(matMul(x, w), b)` also keeps the product before the bias
 * (the add's gradient saves both its inputs), one more `[rows, dOut]` per layer until the
 * gradient is done. Float32 inputs; any backend runs it (layers.ts uses it where the fused
 * kernels are registered, its composite elsewhere).
 */
export function linearFused(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor {
  const [dIn, dOut] = w.shape;
  const outShape = [...x.shape.slice(0, -1), dOut];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [input, weight, bias] = args as [tf.Tensor, tf.Tensor2D, tf.Tensor1D];
    const x2 = input.reshape([-1, dIn]) as tf.Tensor2D;
    save([x2, weight]);
    return {
      value: tf.fused.matMul({ a: x2, b: weight, bias }).reshape(outShape),
      gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) =>
        tf.tidy(() => {
          const dy2 = dy.reshape([-1, dOut]);
          return [
            tf.matMul(dy2, sw, false, true).reshape(input.shape),
            tf.matMul(sx, dy2, true, false),
            tf.sum(dy2, 0),
          ];
        }),
    };
  });
  return op(x, w, b);
}

/**
 * `a + b` for two tensors of one shape (a residual connection), saving nothing for the
 * backward pass: both gradients are `dy`. The stock Add keeps both inputs alive until the
 * gradient is done, only to read their shapes.
 */
export function residualAdd<T extends tf.Tensor>(a: T, b: T): T {
  if (!tf.util.arraysEqual(a.shape, b.shape) || a.dtype !== b.dtype) {
    throw new Error(`residualAdd: shapes ${a.shape} and ${b.shape} differ`);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y] = args as tf.Tensor[];
    return { value: tf.add(x, y), gradFunc: (dy: tf.Tensor) => [dy, dy.clone()] };
  });
  return op(a, b) as T;
}

/** The settings of one {@linkcode adamwFused} update. */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** `1 - beta1^t`, `1 - beta2^t`. */
  c1: number;
  c2: number;
  /** `1 - lr * weightDecay`, or 1 for a parameter that does not decay. */
  decay: number;
  /** Multiplies the gradient first (gradient clipping). */
  gradScale: number;
}

/** One AdamW update in one kernel ({@linkcode ADAMW}): `[p', m', v']`. */
export function adamwFused(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  step: AdamWStep,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const [p2, m2, v2] = run(ADAMW, { p, g, m, v }, { ...step });
  return [p2, m2, v2];
}

/** `a x + b y` in one kernel ({@linkcode AXPBY}). */
export function axpbyFused(x: tf.Tensor, y: tf.Tensor, a: number, b: number): tf.Tensor {
  return run(AXPBY, { x, y }, { a, b })[0];
}
