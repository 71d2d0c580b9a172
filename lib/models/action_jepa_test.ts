import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import {
  type ActionJepaConfig,
  actionJepaLoss,
  allParams,
  disposeActionJepa,
  initActionJepa,
  maskFrames,
  trainableParams,
} from "./action_jepa.ts";

await initBackend({ backend: "cpu" });

const CFG: ActionJepaConfig = {
  inputShape: [36, 36, 2],
  numActions: 4,
  encoder: { arch: "cnn", features: 16, init: "", frozen: false },
  target: { kind: "mlp", hidden: 8 },
  predictor: { kind: "mlp", width: 8, depth: 1, heads: 2 },
  loss: "infonce",
  embedDim: 8,
  temperature: 0.1,
  masking: { ratio: 0, patch: 6, weight: 0 },
  gaze: { weight: 1 },
};
const n = 6;
const rng = new Rng(2);
const frames = Uint8Array.from({ length: n * 36 * 36 * 2 }, () => rng.int(256));
const actions = Int32Array.from([0, 1, 2, 3, 1, -1]);

Deno.test("gaze supervision adds a term only where frames have gaze, and trains its head", () => {
  const m = initActionJepa(new Rng(0), CFG);
  const value = (gaze?: Float32Array) =>
    tf.tidy(() => actionJepaLoss(m, frames, actions, { gaze }).dataSync()[0]);
  const none = value();
  assert.equal(value(new Float32Array(2 * n).fill(NaN)), none, "no gaze anywhere: no term");
  const gaze = Float32Array.from({ length: 2 * n }, (_, i) => (i < 4 ? NaN : 0.9));
  assert.ok(value(gaze) > none, "a gaze far from the head's start adds to the loss");
  assert.ok(trainableParams(m).some(([k]) => k.startsWith("gaze/")));
  // Its gradient reaches the head: a few steps bring the gaze term down.
  const before = value(gaze) - none;
  const opt = tf.train.adam(0.05);
  const head = trainableParams(m).filter(([k]) => k.startsWith("gaze/")).map(([, v]) => v);
  for (let i = 0; i < 20; i++) {
    opt.minimize(() => actionJepaLoss(m, frames, actions, { gaze }), false, head);
  }
  assert.ok(value(gaze) - value() < before / 2);
  opt.dispose();
  disposeActionJepa(m);
});

Deno.test("every predictor and target builds, and frozen parts stay out of training", () => {
  for (const predictor of ["mlp", "residual", "transformer"] as const) {
    for (const loss of ["mse", "cosine", "infonce", "softmax"] as const) {
      const m = initActionJepa(new Rng(1), {
        ...CFG,
        predictor: { ...CFG.predictor, kind: predictor },
        loss,
        target: { kind: loss === "mse" ? "embedding" : "mlp", hidden: 8 },
        encoder: { ...CFG.encoder, frozen: loss === "cosine" },
        gaze: { weight: 0 },
      });
      const loss0 = tf.tidy(() => actionJepaLoss(m, frames, actions).dataSync()[0]);
      assert.ok(Number.isFinite(loss0), `${predictor} ${loss}`);
      const names = trainableParams(m).map(([k]) => k);
      assert.equal(names.some((k) => k.startsWith("encoder/")), loss !== "cosine");
      assert.equal(names.some((k) => k.startsWith("target/")), loss === "infonce");
      assert.ok(allParams(m).length >= names.length);
      disposeActionJepa(m);
    }
  }
});

Deno.test("masked frames blank the asked share of patches and leave the input as it was", () => {
  const f = new Uint8Array(2 * 12 * 12).fill(200);
  const out = maskFrames(f, [12, 12, 1], 2, { ratio: 0.25, patch: 6 }, new Rng(0));
  assert.equal(f[0], 200, "the input is not changed");
  const zeros = out.filter((v) => v === 0).length;
  assert.equal(zeros, 2 * 36, "one 6x6 patch of four in each frame");
});
