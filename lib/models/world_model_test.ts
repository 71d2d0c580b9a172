import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import {
  actionOneHot,
  blockCausalMask,
  deltaScale,
  initWorldModel,
  type LatentSpec,
  predictNext,
  rollout,
  type WorldModelConfig,
  worldModelLoss,
} from "./world_model.ts";

await initBackend({ backend: "wasm" });

const SPEC: LatentSpec = { tokens: 4, dim: 8, rows: 2, cols: 2, numActions: 4 };
const CFG: WorldModelConfig = {
  tokens: "patch",
  width: 16,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  steps: 5,
  residual: false,
};

function latents(seed: number, b: number, t: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: b * t * SPEC.tokens * SPEC.dim }, () => rng.normal());
}

Deno.test("the block-causal mask lets a token see its own step and earlier ones only", () => {
  const m = blockCausalMask(3, 2);
  const allowed = (i: number, j: number) => m[i * 6 + j] === 0;
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      assert.equal(allowed(i, j), Math.floor(j / 2) <= Math.floor(i / 2), `${i} -> ${j}`);
    }
  }
});

Deno.test("predictNext keeps shapes, and a step's outputs ignore later steps' inputs", () => {
  const model = initWorldModel(new Rng(1), CFG, SPEC);
  const [b, t] = [2, 5];
  const x = latents(2, b, t);
  const acts = actionOneHot([0, 2, 3, 1, 2, 3, 3, 0, -1, 2], 4);
  const run = (values: Float32Array, a: Float32Array) =>
    tf.tidy(() =>
      predictNext(
        model,
        tf.tensor4d(values, [b, t, SPEC.tokens, SPEC.dim]),
        tf.tensor3d(a, [b, t, 4]),
      ).arraySync()
    ) as number[][][][];
  const base = run(x, acts);
  assert.deepEqual([base.length, base[0].length, base[0][0].length, base[0][0][0].length], [
    b,
    t,
    SPEC.tokens,
    SPEC.dim,
  ]);
  // Change step 3's latents and action: steps 0..2 must not move, step 3 must.
  const changed = x.slice();
  const per = SPEC.tokens * SPEC.dim;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < per; j++) changed[(i * t + 3) * per + j] += 1;
  }
  const changedActs = acts.slice();
  changedActs.fill(0, 3 * 4, 4 * 4);
  changedActs[3 * 4 + 1] = 1;
  const after = run(changed, changedActs);
  for (let i = 0; i < b; i++) {
    for (let s = 0; s < 3; s++) assert.deepEqual(after[i][s], base[i][s], `sample ${i} step ${s}`);
    assert.notDeepEqual(after[i][3], base[i][3]);
  }
});

Deno.test("actions matter to the model, and are blanked for the action-blind control", () => {
  assert.deepEqual(Array.from(actionOneHot([2, -1], 4)), [0, 0, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(actionOneHot([2, 1], 4, true)), Array(8).fill(0));
  assert.throws(() => actionOneHot([4], 4), /action 4 outside the 4 actions/);
  const model = initWorldModel(new Rng(1), CFG, SPEC);
  const s = latents(3, 1, 2);
  const out = (a: number[]) =>
    tf.tidy(() =>
      predictNext(
        model,
        tf.tensor4d(s, [1, 2, SPEC.tokens, SPEC.dim]),
        tf.tensor3d(actionOneHot(a, 4), [1, 2, 4]),
      ).dataSync()
    );
  assert.notDeepEqual(out([2, 2]), out([3, 2]));
});

Deno.test("a residual model predicts s_t + sigma * delta, so a zero output layer copies", () => {
  const model = initWorldModel(new Rng(1), { ...CFG, residual: true }, SPEC);
  const p = model.params.out as Record<string, tf.Variable>;
  p.w.assign(tf.zerosLike(p.w));
  const s = latents(4, 2, 3);
  const pred = tf.tidy(() =>
    predictNext(
      model,
      tf.tensor4d(s, [2, 3, SPEC.tokens, SPEC.dim]),
      tf.tensor3d(actionOneHot([1, 2, 3, 0, 1, 2], 4), [2, 3, 4]),
    ).dataSync()
  );
  assert.deepEqual(Array.from(pred), Array.from(s));
  // The scale is the mean absolute change per token and channel, floored.
  const table = Float32Array.from([0, 0, 1, 0, 3, 0]);
  assert.deepEqual(Array.from(deltaScale(table, [{ start: 0, length: 3 }], 2)), [
    1.5,
    Math.fround(0.075),
  ]);
});

Deno.test("the stage-2 loss is teacher forcing plus rollout, and rollouts slide a window of T", () => {
  const model = initWorldModel(new Rng(1), CFG, SPEC);
  const [b, len] = [2, 5];
  const s = latents(5, b, len);
  const a = actionOneHot([0, 1, 2, 3, 2, 3, 3, 2, 1, 0], 4);
  const parts = (rolloutSteps: number, tw: number, rw: number) =>
    tf.tidy(() => {
      const r = worldModelLoss(
        model,
        tf.tensor4d(s, [b, len, SPEC.tokens, SPEC.dim]),
        tf.tensor3d(a, [b, len, 4]),
        { rollout: rolloutSteps, teacherWeight: tw, rolloutWeight: rw, kind: "l1", beta: 1 },
      );
      return [r.loss, r.teacher, r.rollout].map((t) => t.dataSync()[0]);
    });
  const [loss, teacher, roll] = parts(3, 0.7, 0.3);
  assert.ok(Math.abs(loss - (0.7 * teacher + 0.3 * roll)) < 1e-6);
  // One rollout step is the first teacher-forced prediction.
  const [, , first] = parts(1, 1, 1);
  const tfFirst = tf.tidy(() => {
    const pred = predictNext(
      model,
      tf.tensor4d(s, [b, len, SPEC.tokens, SPEC.dim]).slice([0, 0, 0, 0], [-1, 1, -1, -1]),
      tf.tensor3d(a, [b, len, 4]).slice([0, 0, 0], [-1, 1, -1]),
    );
    const target = tf.tensor4d(s, [b, len, SPEC.tokens, SPEC.dim]).slice(
      [0, 1, 0, 0],
      [-1, 1, -1, -1],
    );
    return tf.mean(tf.abs(tf.sub(pred, target))).dataSync()[0];
  });
  assert.ok(Math.abs(first - tfFirst) < 1e-6);
  assert.throws(() => parts(5, 1, 1), /rollout 5 must be within the 4 steps/);
  // Smooth L1 with a threshold above every error is half the squared error.
  const [huber] = tf.tidy(() => {
    const r = worldModelLoss(
      model,
      tf.tensor4d(s, [b, len, SPEC.tokens, SPEC.dim]),
      tf.tensor3d(a, [b, len, 4]),
      { rollout: 0, teacherWeight: 1, rolloutWeight: 0, kind: "smoothL1", beta: 1e6 },
    );
    return [r.loss.dataSync()[0]];
  });
  const half = tf.tidy(() => {
    const x = tf.tensor4d(s, [b, len, SPEC.tokens, SPEC.dim]);
    const pred = predictNext(
      model,
      x.slice([0, 0, 0, 0], [-1, len - 1, -1, -1]),
      tf.tensor3d(a, [b, len, 4]).slice([0, 0, 0], [-1, len - 1, -1]),
    );
    const target = x.slice([0, 1, 0, 0], [-1, len - 1, -1, -1]);
    return tf.mean(tf.square(tf.sub(pred, target))).dataSync()[0] / 2e6;
  });
  assert.ok(Math.abs(huber - half) < 1e-6 * Math.max(1, half), `${huber} vs ${half}`);
  // A rollout of 8 steps with a 5-step model: shapes, and no error from the time embedding.
  const r = tf.tidy(() => {
    const s0 = tf.tensor4d(s, [b, len, SPEC.tokens, SPEC.dim]).slice([0, 0, 0, 0], [-1, 1, -1, -1]);
    const acts = tf.tensor3d(actionOneHot(Array(16).fill(2), 4), [b, 8, 4]);
    return rollout(
      model,
      s0 as tf.Tensor4D,
      acts.slice([0, 0, 0], [-1, 1, -1]),
      acts.slice([0, 1, 0], [-1, 7, -1]),
    ).shape;
  });
  assert.deepEqual(r, [b, 8, SPEC.tokens, SPEC.dim]);
});
