import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/rng.ts";
import { expander, initExpander, vicregCovariance, vicregVariance } from "./vicreg.ts";

const close = (a: number, b: number, tol = 1e-4) =>
  assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

Deno.test("variance term: zero for unit-variance dimensions, gamma for collapsed ones", () => {
  const rng = new Rng(0);
  // Column 0: exactly +-1 (sample variance slightly above 1); column 1: constant (collapsed).
  const b = 64;
  const z = tf.tensor2d(Array.from({ length: b }, (_, i) => [i % 2 ? 1 : -1, 0.5]).flat(), [b, 2]);
  // relu(1 - sqrt(var0 + eps)) = 0; relu(1 - sqrt(0 + eps)) = 1 - 0.01; mean over 2 dims.
  close(vicregVariance(z).dataSync()[0], (1 - 0.01) / 2);
  const wide = tf.tensor2d(Array.from({ length: b * 3 }, () => 3 * rng.normal()), [b, 3]);
  close(vicregVariance(wide).dataSync()[0], 0);
});

Deno.test("covariance term: off-diagonal only, by hand on a small batch", () => {
  // Two perfectly correlated dimensions with variance 1 (B - 1 normalisation): C01 = C10 = 1.
  const z = tf.tensor2d([[-1, -1], [0, 0], [1, 1]], [3, 2]);
  close(vicregCovariance(z).dataSync()[0], (1 + 1) / 2);
  const independent = tf.tensor2d([[-1, 0], [1, 0], [0, 1], [0, -1]], [4, 2]);
  close(vicregCovariance(independent).dataSync()[0], 0);
});

Deno.test("both terms have gradients that spread a collapsed batch apart", () => {
  const rng = new Rng(1);
  const z = tf.variable(
    tf.tensor2d(Array.from({ length: 32 * 4 }, () => 0.01 * rng.normal()), [32, 4]),
  );
  const before = vicregVariance(z).dataSync()[0];
  const opt = tf.train.sgd(5);
  for (let i = 0; i < 50; i++) opt.minimize(() => tf.add(vicregVariance(z), vicregCovariance(z)));
  assert.ok(vicregVariance(z).dataSync()[0] < before * 0.5, "the spread grew");
});

Deno.test("expander: widths set the output, hidden layers see batch-normalised inputs", () => {
  const rng = new Rng(3);
  const y = tf.tensor2d(Array.from({ length: 32 * 4 }, () => 5 + 3 * rng.normal()), [32, 4]);
  assert.equal(expander(initExpander(rng, 4, []), y), y, "no widths: the identity");
  const p = initExpander(rng, 4, [8, 8, 6]);
  assert.deepEqual(Object.keys(p).sort(), ["bn0", "bn1", "fc0", "fc1", "fc2"]);
  const z = expander(p, y);
  assert.deepEqual(z.shape, [32, 6]);
  // The first layer's outputs are far from centred (the inputs are not); the second layer reads
  // them batch-normalised and rectified: compare through an identity second layer.
  const first = expander({ fc0: p.fc0 }, y);
  const { mean, variance } = tf.moments(first, 0);
  assert.ok(mean.abs().max().dataSync()[0] > 0.1, "the raw layer is not centred");
  const expected = tf.relu(tf.div(tf.sub(first, mean), tf.sqrt(variance))).dataSync();
  const identity = { w: tf.variable(tf.eye(8)), b: tf.variable(tf.zeros([8])) };
  const got = expander({ fc0: p.fc0, bn0: p.bn0, fc1: identity }, y).dataSync();
  for (let i = 0; i < got.length; i++) close(got[i], expected[i], 1e-3);
});
