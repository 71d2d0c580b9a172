import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { emaUpdate } from "./ema.ts";

Deno.test("EMA moves the target toward the online weights", () => {
  const t = tf.variable(tf.tensor1d([0]));
  const o = tf.variable(tf.tensor1d([1]));
  emaUpdate([["x", t]], [["x", o]], 0.9);
  assert.ok(Math.abs(t.dataSync()[0] - 0.1) < 1e-7);
});
