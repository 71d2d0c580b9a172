import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/rng.ts";
import { vicregCovariance, vicregTokenTerms, vicregVariance } from "./vicreg.ts";

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

Deno.test("token terms: a position that never changes is collapsed, whatever it holds", () => {
  const rng = new Rng(2);
  // Position 0 differs from position 1 but is the same in every sample; position 1 varies.
  const b = 64;
  const values = Array.from({ length: b }, () => [[5, -5], [rng.normal() * 3, rng.normal() * 3]]);
  const { variance, covariance } = vicregTokenTerms(tf.tensor3d(values.flat(2), [b, 2, 2]));
  // Position 0: both dims collapsed (1 - sqrt(eps) each); position 1: std 3, none.
  close(variance.dataSync()[0], (2 * (1 - 0.01)) / 4, 1e-3);
  // Within-position covariance of independent dims is small; a pooled view would see none.
  assert.ok(covariance.dataSync()[0] < 0.5);
  const correlated = Array.from({ length: b }, (_, i) => [[i % 2, i % 2], [0, 0]]);
  const c = vicregTokenTerms(tf.tensor3d(correlated.flat(2), [b, 2, 2])).covariance.dataSync()[0];
  // C = (cov at position 0 + 0) / 2; cov01 = var = 0.25 * 64 / 63.
  close(c, (2 * ((0.25 * 64) / 63 / 2) ** 2) / 2, 1e-4);
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
