/**
 * The fused GELU and layer norm kernels (fused.ts, through lib/nn/layers.ts) against the
 * composite forms the cpu backend runs: values and gradients w.r.t. x, gain and bias, on odd
 * sizes, ranks 1 to 4, size-1 dims and sizes that reach the thread pool; and what they keep
 * alive for the backward pass.
 */

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  attention,
  block,
  gelu,
  initAttention,
  initBlock,
  layerNorm,
  linear,
  normalize,
} from "../nn/layers.ts";
import { flattenParams, type Params } from "../nn/params.ts";
import { AdamW } from "./optim.ts";
import { emaUpdate } from "../ssl/ema.ts";
import { Rng } from "../tensor/rng.ts";
import {
  FUSED_KERNEL_NAMES,
  GELU_TANH,
  hasFusedKernel,
  LAYER_NORM,
  linearFused,
  residualAdd,
  selfAttentionFused,
} from "../tensor/native/fused_ops.ts";
import { NATIVE_BACKEND, NATIVE_FUSED_KERNEL_NAMES } from "../tensor/native/register.ts";
import { compare, nativeSkipReason, randomTensor } from "../tensor/native/testing.ts";

const ignore = nativeSkipReason !== undefined;

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ name: `native fused: ${name}`, ignore, fn });
}

/** Shapes from trivial to awkward: the last axis is the normalised one. */
const SHAPES: number[][] = [
  [1],
  [7],
  [5, 1],
  [1, 13],
  [3, 16],
  [3, 7, 29],
  [2, 1, 5, 17],
  [4, 3, 1, 193],
  [100, 37], // several 32-row blocks of the parameter gradients
  [2, 300, 192], // above the thread pool's grain
];

const TOL = { atol: 1e-5, rtol: 1e-4 };

test("the fused kernels are registered on native and nowhere else", async () => {
  assert.deepEqual([...NATIVE_FUSED_KERNEL_NAMES].sort(), [...FUSED_KERNEL_NAMES].sort());
  await tf.setBackend("cpu");
  for (const name of FUSED_KERNEL_NAMES) assert.equal(hasFusedKernel(name), false, name);
  await tf.setBackend(NATIVE_BACKEND);
  for (const name of FUSED_KERNEL_NAMES) assert.ok(hasFusedKernel(name), name);
  // layers.ts takes the fused path on native.
  const x = randomTensor("k", [3, 8]);
  const p = { g: tf.ones([8]), b: tf.zeros([8]) } as unknown as Params;
  const { kernelNames } = await tf.profile(() => [gelu(x), normalize(x), layerNorm(p, x)]);
  for (const name of [GELU_TANH, LAYER_NORM]) assert.ok(kernelNames.includes(name), name);
  tf.dispose([x, p.g as tf.Tensor, p.b as tf.Tensor]);
});

test("GELU: values and input gradients match the composite on cpu", async () => {
  for (const shape of SHAPES) {
    // [-6, 6): tanh saturates at both ends, and small values sit in the polynomial branch.
    const x = () => randomTensor(`gx${shape}`, shape, -6, 6);
    const dy = () => randomTensor(`gdy${shape}`, shape);
    await compare(`gelu ${shape}`, () => gelu(x()), TOL);
    await compare(
      `gelu grad ${shape}`,
      () => tf.grad((t: tf.Tensor) => tf.mul(gelu(t), dy()))(x()),
      TOL,
    );
  }
});

test("normalize: values and input gradients match the composite on cpu", async () => {
  for (const shape of SHAPES) {
    const x = () => tf.add(randomTensor(`nx${shape}`, shape, -2, 3), 0.5);
    const dy = () => randomTensor(`ndy${shape}`, shape);
    await compare(`normalize ${shape}`, () => normalize(x()), TOL);
    await compare(
      `normalize grad ${shape}`,
      () => tf.grad((t: tf.Tensor) => tf.mul(normalize(t, 1e-5), dy()))(x()),
      TOL,
    );
  }
});

test("layerNorm: values and gradients w.r.t. x, gain and bias match the composite", async () => {
  for (const shape of SHAPES) {
    const d = shape[shape.length - 1];
    const x = () => randomTensor(`lx${shape}`, shape, -3, 3);
    const g = () => randomTensor(`lg${shape}`, [d], 0.5, 1.5);
    const b = () => randomTensor(`lb${shape}`, [d]);
    const dy = () => randomTensor(`ldy${shape}`, shape);
    const f = (xs: tf.Tensor, gs: tf.Tensor, bs: tf.Tensor) =>
      layerNorm({ g: gs, b: bs } as unknown as Params, xs);
    await compare(`layerNorm ${shape}`, () => f(x(), g(), b()), TOL);
    await compare(
      `layerNorm grads ${shape}`,
      () => tf.grads((xs, gs, bs) => tf.mul(f(xs, gs, bs), dy()))([x(), g(), b()]),
      TOL,
    );
  }
});

test("constant rows and empty tensors behave as the composite", async () => {
  const p = () => ({ g: randomTensor("cg", [6]), b: randomTensor("cb", [6]) }) as unknown as Params;
  await compare("constant rows", () => {
    const x = tf.fill([4, 6], 2.5);
    return [
      normalize(x),
      layerNorm(p(), x),
      ...tf.grads((t) => tf.sum(tf.square(normalize(t))))([x]),
    ];
  }, TOL);
  await compare("no rows", () => {
    const x = tf.zeros([0, 6]);
    return [gelu(x), normalize(x), layerNorm(p(), x)];
  });
});

/**
 * How many data buffers each op adds while a gradient scope is open: its outputs and whatever
 * it saves for the backward pass (a saved tensor that shares an existing buffer adds none).
 */
function buffersKept(x: tf.Tensor, ops: Record<string, (t: tf.Tensor) => tf.Tensor>) {
  const grown: Record<string, number> = {};
  for (const [name, op] of Object.entries(ops)) {
    tf.grad((t: tf.Tensor) => {
      const before = tf.memory().numDataBuffers;
      const y = op(t);
      grown[name] = tf.memory().numDataBuffers - before;
      return tf.sum(y);
    })(x).dispose();
  }
  return grown;
}

test("the fused ops keep only their output and what their backward pass reads", async () => {
  await tf.setBackend(NATIVE_BACKEND);
  const d = 96;
  const x = randomTensor("mx", [64, d]);
  const p = { g: tf.ones([d]), b: tf.zeros([d]) } as unknown as Params;
  const grown = buffersKept(x, { gelu, normalize, layerNorm: (t) => layerNorm(p, t) });
  assert.deepEqual(grown, { gelu: 1, normalize: 3, layerNorm: 3 }, "output (+ mean and 1/std)");
  tf.dispose([x, p.g as tf.Tensor, p.b as tf.Tensor]);
});

test("linear: values and gradients w.r.t. x, weights and bias match the composite", async () => {
  // [x shape, output width]: ranks 1 to 3, size-1 and empty dims, rows above the thread grain.
  const cases: [number[], number][] = [
    [[5], 3],
    [[1, 7], 1],
    [[4, 1], 6],
    [[2, 3, 9], 17],
    [[0, 4], 5],
    [[3, 300, 48], 192],
  ];
  for (const [shape, dOut] of cases) {
    const dIn = shape[shape.length - 1];
    const x = () => randomTensor(`fx${shape}`, shape);
    const w = () => randomTensor(`fw${shape}`, [dIn, dOut]);
    const b = () => randomTensor(`fb${shape}`, [dOut]);
    const dy = () => randomTensor(`fdy${shape}`, [...shape.slice(0, -1), dOut]);
    const f = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) =>
      linear({ w: ws, b: bs } as unknown as Params, xs);
    await compare(`linear ${shape} -> ${dOut}`, () => f(x(), w(), b()), TOL);
    await compare(
      `linear grads ${shape} -> ${dOut}`,
      () => tf.grads((xs, ws, bs) => tf.mul(f(xs, ws, bs), dy()))([x(), w(), b()]),
      TOL,
    );
  }
});

test("a transformer block (fused linear and residual adds) matches the composite", async () => {
  for (const queries of [undefined, 4]) {
    await compare(`block, queries ${queries}`, () => {
      const p = initBlock(new Rng(5), 24, 2);
      const leaves = flattenParams(p).map(([, v]) => v);
      leaves.forEach((v, i) => v.shape.length === 1 && v.assign(randomTensor(`bb${i}`, v.shape)));
      const x = randomTensor("bx", [3, 11, 24]) as tf.Tensor3D;
      const dy = randomTensor("bdy", [3, queries ?? 11, 24]);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(block(p, x, 3, undefined, queries), dy)) as tf.Scalar,
        leaves,
      );
      const out = [value, ...leaves.map((v) => grads[v.name])].map((t) => t.clone());
      tf.dispose([value, ...Object.values(grads), ...leaves]);
      return out;
    }, { atol: 2e-6, rtol: 2e-4 });
  }
});

test("linear and residual adds keep only their output for the backward pass", async () => {
  await tf.setBackend(NATIVE_BACKEND);
  const x = randomTensor("rx", [4, 9, 16]);
  const h = randomTensor("rh", [4, 9, 16]);
  const w = randomTensor("rw", [16, 8]) as tf.Tensor2D;
  const b = randomTensor("rb", [8]) as tf.Tensor1D;
  const grown = buffersKept(x, {
    linear: (t) => linearFused(t, w, b),
    residual: (t) => residualAdd(t, h),
  });
  assert.deepEqual(grown, { linear: 1, residual: 1 });
  tf.dispose([x, h, w, b]);
});

/** Attention inputs: [B, N, D], heads, a mask of the given kind, and the last tokens queried. */
const ATTENTION_CASES: {
  shape: [number, number, number];
  heads: number;
  mask?: string;
  queries?: number;
}[] = [
  { shape: [2, 7, 12], heads: 3 },
  { shape: [3, 1, 8], heads: 2 },
  { shape: [2, 29, 16], heads: 1, mask: "causal [N, N]" },
  { shape: [3, 5, 6], heads: 2, mask: "per sample [B, 1, N, N]" },
  { shape: [4, 25, 48], heads: 3 },
  { shape: [3, 29, 12], heads: 2, queries: 4 },
  { shape: [2, 11, 16], heads: 1, mask: "causal [N, N]", queries: 3 },
  { shape: [3, 5, 6], heads: 2, mask: "per sample [B, 1, N, N]", queries: 1 },
  { shape: [2, 6, 8], heads: 2, queries: 0 },
];

function maskFor(kind: string | undefined, b: number, n: number): tf.Tensor | undefined {
  if (!kind) return undefined;
  const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([n, n]), -1, 0)), -1e9);
  if (kind.startsWith("causal")) return causal;
  // Sample i sees keys j <= (i + query) mod n: a different pattern per sample.
  const allowed = tf.buffer([b, 1, n, n]);
  for (let i = 0; i < b; i++) {
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) allowed.set(c <= (i + r) % n ? 0 : -1e9, i, 0, r, c);
    }
  }
  return allowed.toTensor();
}

test("attention: values and gradients w.r.t. x and every projection match the composite", async () => {
  for (const { shape, heads, mask, queries } of ATTENTION_CASES) {
    const [b, n, d] = shape;
    const what = `attention ${shape} heads ${heads}${mask ? `, mask ${mask}` : ""}` +
      (queries !== undefined ? `, last ${queries} queried` : "");
    const att = (p: Params, t: tf.Tensor3D, m?: tf.Tensor) => attention(p, t, heads, m, queries);
    await compare(what, () => {
      const p = initAttention(new Rng(d * 31 + n), d);
      // Non-zero biases, so that their gradients and the bias concatenation are exercised.
      const leaves = flattenParams(p).map(([, v]) => v);
      leaves.forEach((v, i) => v.shape.length === 1 && v.assign(randomTensor(`ab${i}`, v.shape)));
      const x = randomTensor(`ax${shape}`, shape) as tf.Tensor3D;
      const dy = randomTensor(`ady${shape}`, [b, queries ?? n, d]);
      const m = maskFor(mask, b, n);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(att(p, x, m), dy)) as tf.Scalar,
        leaves,
      );
      const dx = tf.grad((t: tf.Tensor) => tf.mul(att(p, t as tf.Tensor3D, m), dy))(x);
      const out = [att(p, x, m), value, dx, ...leaves.map((v) => grads[v.name])];
      const kept = out.map((t) => t.clone());
      tf.dispose([...out, ...leaves]);
      return kept;
    }, { atol: 2e-6, rtol: 2e-4 });
  }
});

test("fused attention keeps only its output, projections, weights and merged heads", async () => {
  await tf.setBackend(NATIVE_BACKEND);
  const [b, n, d, heads] = [3, 9, 12, 3];
  const p = initAttention(new Rng(2), d);
  const [q, k, v, o] = [p.q, p.k, p.v, p.proj] as Params[];
  const x = randomTensor("kx", [b, n, d]) as tf.Tensor3D;
  let grown = 0;
  const g = tf.grad((t: tf.Tensor) => {
    const start = tf.memory().numDataBuffers;
    const out = selfAttentionFused(
      t as tf.Tensor3D,
      [q.w, k.w, v.w, o.w] as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor],
      [q.b, k.b, v.b, o.b] as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor],
      heads,
    );
    grown = tf.memory().numDataBuffers - start;
    return tf.sum(out);
  })(x);
  // The output, the [D, 3D] weights, the [B, N, 3D] projections, the attention weights and the
  // merged heads (the output projection's input).
  assert.equal(grown, 5);
  tf.dispose([g, x, ...flattenParams(p).map(([, t]) => t)]);
});

test("AdamW and the EMA step in one kernel match the composite updates", async () => {
  // Rank >= 2 decays, rank 1 does not; the largest reaches the thread pool; [0, 3] is empty.
  const shapes = [[0, 3], [1], [7], [33, 65], [130, 257]];
  await compare("adamw", () => {
    const params = shapes.map((s, i) =>
      [`p${i}`, tf.variable(randomTensor(`adamw-p${i}`, s))] as [string, tf.Variable]
    );
    const opt = new AdamW(params);
    for (let t = 0; t < 3; t++) {
      const grads = Object.fromEntries(
        params.map(([k, p], i) => [k, randomTensor(`adamw-g${i}-${t}`, p.shape, -2, 2)]),
      );
      opt.apply(grads, 1e-2 * (t + 1), 0.05, t === 1 ? 0.7 : 1);
    }
    const targets = params.map(([k, p]) => [k, tf.variable(tf.mul(p, 0.5))] as typeof params[0]);
    emaUpdate(targets, params, 0.996);
    const out = [...params, ...targets, ...opt.stateTensors()].map(([, t]) => tf.clone(t));
    opt.dispose();
    [...params, ...targets].forEach(([, p]) => p.dispose());
    return out;
  }, { atol: 1e-6, rtol: 1e-5 });
});
