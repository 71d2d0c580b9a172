import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AdamW, cosineRamp, globalNormClip, linearRamp, warmupCosine } from "./optim.ts";

await tf.setBackend("cpu");

Deno.test("AdamW matches a hand computation and skips decay on rank-1 params", () => {
  const w = tf.variable(tf.tensor2d([[1, -2]]));
  const b = tf.variable(tf.tensor1d([0.5]));
  const opt = new AdamW([["w", w], ["b", b]]);
  opt.apply({ w: tf.tensor2d([[0.1, 0.2]]), b: tf.tensor1d([-0.3]) }, 0.01, 0.1);
  // Step 1: m/c1 = g, v/c2 = g^2, so the update is sign(g) * |g| / (|g| + eps) ~ sign(g).
  const ww = w.dataSync();
  assert.ok(Math.abs(ww[0] - (1 * (1 - 0.001) - 0.01)) < 1e-6);
  assert.ok(Math.abs(ww[1] - (-2 * (1 - 0.001) - 0.01)) < 1e-6);
  assert.ok(Math.abs(b.dataSync()[0] - (0.5 + 0.01)) < 1e-6, "no decay on the bias");
});

Deno.test("global-norm clipping: one factor for every gradient, 1 within the bound", () => {
  const grads = { a: tf.tensor1d([3]), b: tf.tensor1d([4]) };
  const { norm, scale } = globalNormClip(grads, 1);
  assert.ok(Math.abs(norm - 5) < 1e-6);
  assert.ok(Math.abs(scale - 0.2) < 1e-6);
  assert.equal(globalNormClip(grads, 10).scale, 1);
  assert.equal(globalNormClip(grads, 0).scale, 1, "maxNorm 0: no clipping");
});

Deno.test("AdamW with a gradient scale steps as AdamW on the scaled gradients", () => {
  const run = (scaleInside: boolean) => {
    const p = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
    const opt = new AdamW([["w", p]]);
    for (let t = 0; t < 3; t++) {
      const g = tf.tensor2d([[1, -2], [3, 0.5 * t]]);
      if (scaleInside) opt.apply({ w: g }, 0.1, 0.05, 0.3);
      else opt.apply({ w: tf.mul(g, 0.3) }, 0.1, 0.05);
    }
    return Array.from(p.dataSync());
  };
  assert.deepEqual(run(true), run(false));
});

Deno.test("schedules: warmup then cosine, cosine weight decay, linear EMA momentum", () => {
  const sched = { total: 100, warmup: 10, peak: 1, final: 0.1 };
  assert.equal(warmupCosine(0, sched), 0);
  assert.equal(warmupCosine(5, sched), 0.5);
  assert.equal(warmupCosine(10, sched), 1);
  assert.ok(Math.abs(warmupCosine(100, sched) - 0.1) < 1e-12);
  assert.ok(Math.abs(cosineRamp(0, 10, 0.04, 0.4) - 0.04) < 1e-12);
  assert.ok(Math.abs(cosineRamp(10, 10, 0.04, 0.4) - 0.4) < 1e-12);
  assert.ok(Math.abs(linearRamp(5, 10, 0.996, 1) - 0.998) < 1e-12);
});
