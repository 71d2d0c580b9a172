import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import {
  type ClassifierData,
  classifierF1s,
  fitLinearClassifier,
  linearPredictor,
  valueF1,
} from "./classifier.ts";
import type { ProbeData } from "./probe.ts";

await initBackend({ backend: "wasm" });

/** Rows whose value (one of 10, 20, 30, 40) shifts a few of 24 noisy features. */
function data(n: number, seed: number): ClassifierData {
  const rng = new Rng(seed);
  const d = 24;
  const values = Int32Array.from({ length: n }, () => 10 * (1 + rng.int(4)));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[i * d + j] = rng.normal();
    x[i * d + values[i] / 10 - 1] += 2.5;
  }
  return { x, n, d, values, groups: Int32Array.from({ length: n }, (_, i) => i % 10) };
}

Deno.test("the linear classifier beats the majority class, repeatably, without leaking tensors", () => {
  const train = data(600, 1);
  const test = data(300, 2);
  const before = tf.memory().numTensors;
  const fit = () => fitLinearClassifier(train, { seed: 3, epochs: 30 });
  const probe = fit();
  assert.equal(tf.memory().numTensors, before, "tensors left behind");
  assert.deepEqual(probe.classes, [10, 20, 30, 40]);
  const pred = probe.predict(test.x, test.n);
  const f1 = valueF1(test.values, pred);
  // The majority class: every row predicted as the most frequent training value.
  const counts = new Map<number, number>();
  for (const v of Array.from(train.values)) counts.set(v, (counts.get(v) ?? 0) + 1);
  const majority = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  const baseline = valueF1(test.values, new Float64Array(test.n).fill(majority));
  assert.ok(f1 > 0.8 && f1 > baseline + 0.5, `F1 ${f1} vs majority ${baseline}`);
  assert.ok(probe.bestEpoch >= 1 && probe.bestEpoch <= probe.epochs);
  assert.deepEqual(Array.from(fit().predict(test.x, test.n)), Array.from(pred), "same seed");
});

Deno.test("a classifier stored as JSON predicts what it did; weights that do not fit are named", () => {
  const train = data(300, 1);
  const test = data(100, 2);
  const fit = fitLinearClassifier(train, { seed: 3, epochs: 10 });
  const stored = JSON.parse(JSON.stringify(fit.weights));
  const back = linearPredictor(stored);
  assert.deepEqual(
    Array.from(back.predict(test.x, test.n)),
    Array.from(fit.predict(test.x, test.n)),
  );
  assert.throws(
    () => linearPredictor({ ...stored, bias: [0] }, "run/mapping.json"),
    /run\/mapping.json: bias must be 4 numbers \(one per class\)/,
  );
  assert.throws(
    () => linearPredictor({ ...stored, weights: stored.weights.slice(1) }, "m"),
    /m: weights must be 96 numbers \(classes x d\)/,
  );
});

Deno.test("a value never seen in training counts as an error, and too few rows are refused", () => {
  assert.equal(valueF1([1, 1, 2, 2], [1, 1, 2, 2]), 1);
  assert.equal(valueF1([1, 1, 7, 7], [1, 1, 2, 2]), 0.5);
  assert.throws(
    () => fitLinearClassifier({ x: new Float32Array(3), n: 1, d: 3, values: [1] }, { seed: 0 }),
    /fitLinearClassifier: 1 training rows, at least 2 needed/,
  );
});

Deno.test("classifier F1 per variable uses only the rows where the variable is defined", () => {
  const asProbe = (c: ClassifierData): ProbeData => ({
    x: c.x,
    n: c.n,
    d: c.d,
    groups: Int32Array.from(c.groups!),
    state: {
      level: Float64Array.from(c.values),
      // Defined on even rows only; odd rows hold values the features never show.
      gated: Float64Array.from(c.values, (v, i) => (i % 2 ? 99 : v)),
      visible: Float64Array.from(c.values, (_, i) => (i % 2 ? 0 : 1)),
    },
  });
  const train = asProbe(data(600, 1));
  const test = asProbe(data(300, 2));
  const f1 = classifierF1s(train, test, [
    { name: "level" },
    { name: "gated", when: (s, i) => s.visible[i] > 0 },
    { name: "never", when: () => false },
  ], { seed: 3, epochs: 30 });
  assert.ok(f1.level > 0.8, `level F1 ${f1.level}`);
  assert.ok(Number.isNaN(f1.never), "no rows: NaN");
  assert.ok(f1.gated > 0.8, `gated F1 ${f1.gated}`);
});
