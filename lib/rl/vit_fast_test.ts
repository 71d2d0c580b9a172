import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { flattenParams } from "../nn/params.ts";
import { initVit, sincos2d, type VitConfig, vitEncode } from "../nn/vit.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { vitEncodeFast } from "./vit_fast.ts";

await initBackend({ backend: "cpu" });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("vitEncodeFast equals vitEncode in value and in every gradient", () => {
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
    const f = (enc: typeof vitEncode) => () =>
      tf.sum(tf.matMul(enc(p, cfg, patches, pos).reshape([-1, 16]), proj)) as tf.Scalar;
    const vars = flattenParams(p).map(([, v]) => v);
    const want = tf.variableGrads(f(vitEncode), vars);
    const got = tf.variableGrads(f(vitEncodeFast), vars);
    assert.ok(Math.abs(want.value.dataSync()[0] - got.value.dataSync()[0]) < 1e-4);
    for (const v of vars) {
      const d = maxAbsDiff(want.grads[v.name].dataSync(), got.grads[v.name].dataSync());
      assert.ok(d < 1e-4, `${v.name}: ${d}`);
    }
  }
});
