import assert from "node:assert/strict";
import { actionMetrics, baselineMetrics } from "./action_metrics.ts";

Deno.test("accuracy, top-3, MRR and the confusion matrix of a set of scores", () => {
  // Three actions; frame 0 ranks the taken action 1st, frame 1 2nd, frame 2 3rd, frame 3 1st.
  const scores = Float32Array.from([
    0.9,
    0.1,
    0.0, // taken 0: rank 1
    0.5,
    0.3,
    0.2, // taken 1: rank 2
    0.5,
    0.4,
    0.1, // taken 2: rank 3
    0.1,
    0.2,
    0.7, // taken 2: rank 1
  ]);
  const m = actionMetrics(scores, [0, 1, 2, 2], 3);
  assert.equal(m.accuracy, 0.5);
  assert.equal(m.top3, 1);
  assert.ok(Math.abs(m.mrr - (1 + 1 / 2 + 1 / 3 + 1) / 4) < 1e-12);
  assert.deepEqual(m.confusion, [[1, 0, 0], [1, 0, 0], [1, 0, 1]]);
  // Ties rank the lower action first.
  assert.equal(actionMetrics(Float32Array.from([1, 1]), [1], 2).mrr, 0.5);
  assert.throws(() => actionMetrics(new Float32Array(5), [0, 1], 3), /5 scores for 2 rows of 3/);
});

Deno.test("the frame-blind baselines: the majority class and the action prior", () => {
  const train = [0, 0, 0, 1, 1, 2];
  const test = [0, 1, 2, 2];
  const { majority, prior } = baselineMetrics(train, test, 3);
  assert.equal(majority.accuracy, 0.25);
  assert.equal(prior.accuracy, 0.25);
  // The prior ranks 0 > 1 > 2: reciprocal ranks 1, 1/2, 1/3, 1/3.
  assert.ok(Math.abs(prior.mrr - (1 + 1 / 2 + 2 / 3) / 4) < 1e-12);
  assert.equal(prior.top3, 1);
});
