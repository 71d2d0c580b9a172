import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { dense, DENSE_OPTS } from "./dense.ts";
import { initLinear, linear } from "./layers.ts";
import { flattenParams } from "./params.ts";
import { initVit, sincos2d, type VitConfig, vitEncode } from "./vit.ts";

await initBackend({ backend: "cpu" });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs `f` with the gradient form forced (`explicitTransposes`), then back to `auto`. */
function withForm<T>(explicitTransposes: boolean, f: () => T): T {
  DENSE_OPTS.explicitTransposes = explicitTransposes;
  try {
    return f();
  } finally {
    DENSE_OPTS.explicitTransposes = "auto";
  }
}

Deno.test("dense: value and gradients of x @ w in either form, both weight-gradient orders", () => {
  // [5, 7] @ [7, 3] transposes x for the weight gradient; [50, 40] @ [40, 2] transposes dy.
  for (const [n, k, o] of [[5, 7, 3], [50, 40, 2]]) {
    const x = tf.randomNormal([n, k], 0, 1, "float32", 4) as tf.Tensor2D;
    const w = tf.randomNormal([k, o], 0, 1, "float32", 5) as tf.Tensor2D;
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      dense(a as tf.Tensor2D, b as tf.Tensor2D).square().sum();
    const g = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b).square().sum();
    const [rx, rw] = tf.grads(g)([x, w]);
    for (const explicit of [false, true]) {
      const [dx, dw] = withForm(explicit, () => tf.grads(f)([x, w]));
      assert.ok(maxAbsDiff(dx.dataSync(), rx.dataSync()) < 1e-4, `dx, ${n}x${k}x${o}`);
      assert.ok(maxAbsDiff(dw.dataSync(), rw.dataSync()) < 1e-4, `dw, ${n}x${k}x${o}`);
    }
  }
});

Deno.test("off wasm, linear's value and gradients are tfjs' matMul's to the bit", () => {
  const p = initLinear(new Rng(0), 6, 4);
  const x = tf.randomNormal([3, 5, 6], 0, 1, "float32", 1);
  const vars = flattenParams(p).map(([, v]) => v);
  const plain = (t: tf.Tensor) =>
    tf.add(tf.matMul(t.reshape([-1, 6]), p.w as tf.Variable), p.b as tf.Variable)
      .reshape([3, 5, 4]);
  const loss = (lin: (t: tf.Tensor) => tf.Tensor) => () => lin(x).sin().sum() as tf.Scalar;
  const want = tf.variableGrads(loss(plain), vars);
  const got = tf.variableGrads(loss((t) => linear(p, t)), vars);
  assert.deepEqual(got.value.dataSync(), want.value.dataSync());
  for (const v of vars) {
    assert.deepEqual(got.grads[v.name].dataSync(), want.grads[v.name].dataSync());
  }
  assert.deepEqual(
    tf.grad((t: tf.Tensor) => linear(p, t).sin().sum())(x).dataSync(),
    tf.grad((t: tf.Tensor) => plain(t).sin().sum())(x).dataSync(),
  );
});

Deno.test("vitEncode has the same value and gradients whichever form its linear layers take", () => {
  for (const cls of [false, true]) {
    const cfg: VitConfig = {
      imageSize: [24, 24],
      channels: 2,
      patch: 12,
      width: 16,
      depth: 2,
      heads: 2,
      mlpRatio: 2,
      cls,
    };
    const p = initVit(new Rng(cls ? 1 : 2), cfg);
    const patches = tf.randomUniform([3, 4, 288], 0, 1, "float32", 3) as tf.Tensor3D;
    const pos = tf.tensor3d(sincos2d(16, 2, 2), [1, 4, 16]);
    const proj = tf.randomNormal([16, 1], 0, 1, "float32", 4);
    const loss = () =>
      tf.sum(tf.matMul(vitEncode(p, cfg, patches, pos).reshape([-1, 16]), proj)) as tf.Scalar;
    const vars = flattenParams(p).map(([, v]) => v);
    const want = withForm(false, () => tf.variableGrads(loss, vars));
    const got = withForm(true, () => tf.variableGrads(loss, vars));
    assert.ok(Math.abs(want.value.dataSync()[0] - got.value.dataSync()[0]) < 1e-4);
    for (const v of vars) {
      const d = maxAbsDiff(want.grads[v.name].dataSync(), got.grads[v.name].dataSync());
      assert.ok(d < 1e-4, `${v.name}: ${d}`);
    }
  }
});
