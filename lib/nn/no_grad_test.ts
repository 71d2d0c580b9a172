import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { noGrad } from "./layers.ts";

await initBackend({ backend: "cpu" });

Deno.test("noGrad: the value of fn, a constant to gradients, its temporaries freed", () => {
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  const before = tf.memory().numTensors;
  let buffersInside = 0;
  const { value, grads } = tf.variableGrads(() => {
    const start = tf.memory().numDataBuffers;
    // Five temporaries inside fn; only its result outlives it.
    const c = noGrad(() => tf.sum(tf.exp(tf.mul(tf.add(v, 1), tf.sub(v, 1)))));
    buffersInside = tf.memory().numDataBuffers - start;
    return tf.add(tf.sum(tf.square(v)), c) as tf.Scalar;
  }, [v]);
  assert.equal(buffersInside, 1, "only the result of fn stays");
  // d/dv (sum v^2 + const) = 2v: nothing flowed back through fn.
  assert.deepEqual(Array.from(grads[v.name].dataSync()), [2, 4, 6]);
  const expected = 1 + 4 + 9 + Math.exp(0) + Math.exp(3) + Math.exp(8);
  assert.ok(Math.abs(value.dataSync()[0] - expected) < 1e-3 * expected);
  tf.dispose([value, grads[v.name]]);
  assert.equal(tf.memory().numTensors, before);
  // Outside a gradient scope it is tf.tidy.
  const t = noGrad(() => tf.mul(tf.add(v, 1), 2));
  assert.deepEqual(Array.from(t.dataSync()), [4, 6, 8]);
  assert.equal(tf.memory().numTensors, before + 1);
  tf.dispose([t, v]);
});
