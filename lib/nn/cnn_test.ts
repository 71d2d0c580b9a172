import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/rng.ts";
import { initNatureCnn, initResNet, natureCnn, resNet } from "./cnn.ts";
import { countParams, flattenParams } from "./params.ts";

await tf.setBackend("cpu");

Deno.test("Nature CNN: 84x84x4 -> 512 features, CleanRL's parameter count, gradients reach every weight", () => {
  const p = initNatureCnn(new Rng(0), [84, 84, 4]);
  // conv 8*8*4*32+32, 4*4*32*64+64, 3*3*64*64+64, dense 3136*512+512 (CleanRL's Nature CNN).
  assert.equal(countParams(p), 8224 + 32832 + 36928 + 1606144);
  const x = tf.randomUniform([2, 84, 84, 4], 0, 1, "float32", 1) as tf.Tensor4D;
  assert.deepEqual(natureCnn(p, x).shape, [2, 512]);
  const vars = flattenParams(p).map(([, v]) => v);
  const { grads } = tf.variableGrads(() => natureCnn(p, x).sum() as tf.Scalar, vars);
  assert.equal(Object.keys(grads).length, vars.length);
});

Deno.test("ResNet: shapes and residual stages", () => {
  const p = initResNet(new Rng(1), [84, 84, 4]);
  const y = resNet(p, tf.randomUniform([2, 84, 84, 4], 0, 1, "float32", 2) as tf.Tensor4D);
  assert.deepEqual(y.shape, [2, 256]);
  assert.ok(y.dataSync().every(Number.isFinite));
});
