import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { splitEpisodes } from "../data/batches.ts";
import { initPixelDecoder } from "../models/pixel_decoder.ts";
import { initWorldModel, type WorldModel } from "../models/world_model.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import type { LatentData } from "../train/world_model.ts";
import { syntheticLatent, syntheticLatentData } from "../train/world_model_testing.ts";
import {
  actionSensitivity,
  evaluateWorldModel,
  filmStrip,
  heldOutWindows,
  latentFeatures,
  rolloutErrorCurve,
} from "./rollout.ts";
import { fitRidgeProbe, r2Score } from "./probe.ts";

await initBackend({ backend: "wasm" });

let synthetic: LatentData | null = null;
async function latents(): Promise<LatentData> {
  return synthetic ??= await syntheticLatentData(await Deno.makeTempDir(), { episodes: 8 });
}

/** A residual model whose output layer is zero: it copies the last latent. */
function copier(data: LatentData): WorldModel {
  const model = initWorldModel(new Rng(0), {
    tokens: "patch",
    width: 8,
    depth: 1,
    heads: 2,
    mlpRatio: 2,
    steps: 4,
    residual: true,
  }, data.spec);
  const out = model.params.out as Record<string, tf.Variable>;
  out.w.assign(tf.zerosLike(out.w));
  return model;
}

Deno.test("a linear probe of latent features recovers what they encode", () => {
  const rng = new Rng(1);
  const make = (n: number) => {
    const y = Float64Array.from({ length: n }, () => 8 + rng.float() * 136);
    const x = new Float32Array(n * 16);
    y.forEach((v, i) => x.set(syntheticLatent(v, rng.float() * 6), i * 16));
    return { x, y, n };
  };
  const probe = fitRidgeProbe({ ...make(400), d: 16 });
  const test = make(200);
  const r2 = r2Score(test.y, probe.predict(test.x, test.n));
  assert.ok(r2 > 0.95, `R^2 ${r2}`);
  const pooled = latentFeatures(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), {
    n: 2,
    tokens: 2,
    dim: 2,
    features: "pooled",
  });
  assert.deepEqual(Array.from(pooled.x), [2, 3, 6, 7]);
});

Deno.test("action sensitivity: a model that moves the paddle scores 1, an action-blind one 0", () => {
  // Hand-built dynamics on the synthetic code: holding RIGHT for 3 steps moves x by +48 px.
  const rng = new Rng(2);
  const n = 50;
  const starts = Array.from({ length: n }, () => 40 + rng.float() * 80);
  const train = (() => {
    const y = Float64Array.from({ length: 400 }, () => 8 + rng.float() * 136);
    const x = new Float32Array(400 * 16);
    y.forEach((v, i) => x.set(syntheticLatent(v, rng.float() * 6), i * 16));
    return { x, y, n: 400 };
  })();
  const probe = fitRidgeProbe({ ...train, d: 16 });
  const end = (move: (x: number, action: number) => number) => (action: number) => {
    const out = new Float32Array(n * 16);
    starts.forEach((x, i) => out.set(syntheticLatent(move(x, action), 1), i * 16));
    return out;
  };
  const actions = { left: 3, right: 2 };
  const good = actionSensitivity(end((x, a) => x + (a === 2 ? 48 : -48)), probe, n, actions);
  assert.equal(good.correct, 1);
  assert.ok(good.meanShift > 60, `shift ${good.meanShift}`);
  const blind = actionSensitivity(end((x) => x), probe, n, actions);
  assert.equal(blind.correct, 0, "ties count as wrong");
  assert.ok(Math.abs(blind.meanShift) < 1e-9);
  const backwards = actionSensitivity(end((x, a) => x + (a === 2 ? -48 : 48)), probe, n, actions);
  assert.equal(backwards.correct, 0);
});

Deno.test("rollout error: a copying model equals the copy baseline, which grows with horizon", async () => {
  const data = await latents();
  const { val } = splitEpisodes(data.ds, { valFraction: 0.25, seed: 0 });
  const model = copier(data);
  const curve = rolloutErrorCurve({ model, blind: model }, data, val, {
    horizon: 6,
    windows: 16,
    seed: 0,
  });
  assert.deepEqual(curve.map((p) => p.horizon), [1, 2, 3, 4, 5, 6]);
  for (const p of curve) {
    assert.ok(Math.abs(p.model - p.copy) < 1e-5, JSON.stringify(p));
    assert.ok(Math.abs(p.blind! - p.copy) < 1e-5);
  }
  assert.ok(curve[5].copy > curve[0].copy);
  const w = heldOutWindows(data, { episodes: val, horizon: 6, count: 4, seed: 1 });
  assert.equal(w.n, 4);
  assert.ok(
    w.actions.every((a, i) => (i % 7 === 6 ? true : a >= 0)),
    "no final observation inside",
  );
});

Deno.test("evaluateWorldModel and the film strip run end to end on a world model", async () => {
  const data = await latents();
  const split = splitEpisodes(data.ds, { valFraction: 0.25, seed: 0 });
  const model = copier(data);
  const e = evaluateWorldModel({ model, blind: model }, data, split, {
    seed: 0,
    horizon: 4,
    windows: 8,
    sensitivityHorizon: 2,
    sensitivityStarts: 12,
    probeRows: 150,
    probeFeatures: "flat",
  }, { left: 3, right: 2 });
  assert.equal(e.curve.length, 4);
  assert.ok(e.probeR2 > 0.9, `probe R^2 ${e.probeR2}`);
  // A copying model never moves the paddle: no right-way answers.
  assert.equal(e.sensitivity.model.correct, 0);
  // The synthetic frames are 4x4 gray: a 2x2 grid of 2-px patches, decoded from 2 tokens.
  const dec = initPixelDecoder(new Rng(0), { width: 8, depth: 1, heads: 2, mlpRatio: 2 }, {
    ...data.spec,
    rows: 2,
    cols: 2,
  }, 2);
  const w = heldOutWindows(data, { episodes: split.val, horizon: 3, count: 1, seed: 0 });
  const strip = filmStrip(model, dec, data, w, 3);
  assert.equal(strip.real.length, 4);
  assert.equal(strip.imagined[0].length, 16);
  assert.deepEqual(strip.imagined[0], strip.decoded[0], "step 0 of the imagined row is s_0");
});
