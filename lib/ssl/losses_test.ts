import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { smoothL1 } from "./losses.ts";

Deno.test("smooth L1 is quadratic inside 1 and linear outside, with gradients", () => {
  const loss = smoothL1(tf.tensor1d([0.5, 3]), tf.tensor1d([0, 0]));
  assert.ok(Math.abs(loss.dataSync()[0] - (0.125 + 2.5) / 2) < 1e-6);
  const g = tf.grad((x: tf.Tensor) => smoothL1(x, tf.zeros([2])))(tf.tensor1d([0.5, 3])).dataSync();
  assert.ok(Math.abs(g[0] - 0.25) < 1e-6 && Math.abs(g[1] - 0.5) < 1e-6);
});
