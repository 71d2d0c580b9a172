import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { collectDataset } from "../data/collect.ts";
import { type Dataset, openDataset } from "../data/reader.ts";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { initBackend } from "../tensor/backend.ts";
import { loadCheckpoint } from "../tensor/checkpoint.ts";
import { NonFiniteLossError } from "./loop.ts";
import { loadEncoder } from "../models/encoder.ts";
import { pretrain, type PretrainConfig } from "./pretrain.ts";
import {
  type LatentData,
  latentData,
  loadPixelDecoder,
  loadWorldModel,
  trainPixelDecoder,
  trainWorldModel,
  type WorldModelTrainConfig,
} from "./world_model.ts";
import { syntheticLatentData } from "./world_model_testing.ts";
import { DECODER_PRESETS, STAGE1_PRESETS } from "./world_model_presets.ts";

await initBackend({ backend: "wasm" });

let frames: Dataset | null = null;
async function dataset(): Promise<Dataset> {
  if (frames) return frames;
  const dir = join(await Deno.makeTempDir(), "ds");
  await collectDataset(dir, {
    seed: 2,
    policy: "scripted",
    episodes: 2,
    shardFrames: 4096,
    env: { ...CLEANRL_ATARI, resize: [32, 32] },
    explore: { prob: 0.2, hold: [2, 6] },
  });
  return (frames = await openDataset(dir));
}

let synthetic: LatentData | null = null;
async function latents(): Promise<LatentData> {
  return synthetic ??= await syntheticLatentData(await Deno.makeTempDir());
}

/** Stage 1 at test size: the smoke preset, narrower, on 32x32 frames. */
function stage1(steps: number): PretrainConfig {
  const s = STAGE1_PRESETS.smoke;
  return {
    ...s,
    encoder: { ...s.encoder, patch: 8, width: 16, depth: 1, heads: 2 },
    predictor: { ...s.predictor, width: 32 },
    train: {
      ...s.train,
      steps,
      batchSize: 16,
      warmupSteps: 2,
      checkpointEvery: 3,
      monitorEvery: 1000,
      monitorFrames: 32,
      earlyStop: { every: 2, patience: 1000 },
    },
  };
}

function stage2(steps: number, residual = true): WorldModelTrainConfig {
  return {
    seed: 0,
    valFraction: 0.2,
    model: { tokens: "patch", width: 16, depth: 1, heads: 2, mlpRatio: 2, steps: 4, residual },
    loss: { rollout: 2, teacherWeight: 0.7, rolloutWeight: 0.3, kind: "l1", beta: 0.05 },
    train: {
      steps,
      batchSize: 8,
      lr: 3e-3,
      startLr: 3e-4,
      finalLr: 1e-4,
      warmupSteps: 2,
      weightDecay: [0.05, 0.05],
      clipGrad: 1,
      checkpointEvery: 3,
      earlyStop: { every: 2, patience: 1000 },
      valBatches: 2,
    },
  };
}

const values = (vars: [string, tf.Variable][]) =>
  vars.map(([k, v]) => [k, Array.from(v.dataSync())] as const);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

Deno.test("stage 1 (V-JEPA) reduces its loss and its held-out loss; its encoder loads back", async () => {
  const ds = await dataset();
  const losses: number[] = [];
  const val: number[] = [];
  const dir = await Deno.makeTempDir();
  const cfg = stage1(40);
  cfg.train = { ...cfg.train, lr: 3e-3, startLr: 3e-4, finalLr: 3e-4 };
  const r = await pretrain(cfg, ds, { checkpointDir: dir }, {
    onStep: (s) => losses.push(s.values.loss),
    onValidate: (v) => val.push(v.valLoss),
  });
  const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
  assert.ok(last < 0.8 * first, `loss ${first} -> ${last}`);
  assert.ok(val.at(-1)! < val[0], `held-out ${val.join(", ")}`);
  assert.equal(r.encoder.name, "vjepa");
  const names = loadCheckpoint(dir).meta.tensors;
  for (
    const k of ["online/patch.w", "target/patch.w", "predictor/maskToken", "predictor/layers.1.w"]
  ) {
    assert.ok(k in names, k);
  }
  const loaded = loadEncoder(join(dir, "best"));
  assert.equal(loaded.encoder.name, "vjepa");
  assert.equal(loaded.record.step, r.best!.step);
});

Deno.test("stage 1 resumes to the same weights, early-stopping state included", async () => {
  const ds = await dataset();
  const cfg = stage1(7);
  const full = await pretrain(cfg, ds, { checkpointDir: await Deno.makeTempDir() });
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    pretrain(cfg, ds, { checkpointDir: dir, stopAfter: 5 }),
    /stopped after 5 steps/,
  );
  const resumed = await pretrain(cfg, ds, { checkpointDir: dir, resume: true });
  assert.deepEqual(values(resumed.tensors), values(full.tensors));
  assert.deepEqual(resumed.best, { ...full.best!, dir: join(dir, "best") });
});

Deno.test("stage 2 learns: its loss decreases on latents where actions move the paddle", async () => {
  const data = await latents();
  const losses: number[] = [];
  const cfg = stage2(60, false);
  cfg.train = { ...cfg.train, lr: 1e-2, finalLr: 1e-3 };
  await trainWorldModel(cfg, data, { checkpointDir: await Deno.makeTempDir() }, {
    onStep: (s) => losses.push(s.values.loss),
  });
  const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
  assert.ok(last < 0.8 * first, `loss ${first} -> ${last}`);
});

Deno.test("stage 2 resumes to the same weights; a finished model loads back", async () => {
  const data = await latents();
  const cfg = stage2(7);
  const full = await trainWorldModel(cfg, data, { checkpointDir: await Deno.makeTempDir() });
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    trainWorldModel(cfg, data, { checkpointDir: dir, stopAfter: 4 }),
    /stopped after 4 steps/,
  );
  const resumed = await trainWorldModel(cfg, data, { checkpointDir: dir, resume: true });
  assert.deepEqual(values(resumed.tensors), values(full.tensors));
  const loaded = loadWorldModel(dir);
  assert.equal(loaded.blind, false);
  assert.deepEqual(
    Array.from((loaded.model.stats.deltaScale as tf.Variable).dataSync()),
    Array.from((full.model.stats.deltaScale as tf.Variable).dataSync()),
  );
  // The action-blind control is a separate model, saved as such.
  const blindDir = await Deno.makeTempDir();
  await trainWorldModel(cfg, data, { checkpointDir: blindDir, blind: true });
  assert.equal(loadWorldModel(blindDir).blind, true);
});

Deno.test("stage 2 keeps tf.memory().numTensors flat and stops on a NaN loss", async () => {
  const data = await latents();
  const counts: number[] = [];
  await trainWorldModel(stage2(6), data, { checkpointDir: await Deno.makeTempDir() }, {
    onStep: () => counts.push(tf.memory().numTensors),
  });
  assert.ok(counts.slice(1).every((c) => c === counts[1]), counts.join(","));
  const bad = stage2(20);
  bad.train = { ...bad.train, lr: 1e30, startLr: 1e30, finalLr: 1e30, clipGrad: 0 };
  await assert.rejects(
    trainWorldModel(bad, data, { checkpointDir: await Deno.makeTempDir() }),
    (err: Error) => err instanceof NonFiniteLossError && /last good checkpoint/.test(err.message),
  );
});

Deno.test("the pixel decoder trains on frozen latents of a real encoder, and loads back", async () => {
  const ds = await dataset();
  const enc = await pretrain(stage1(2), ds, { checkpointDir: await Deno.makeTempDir() });
  const data = latentData(enc.encoder, ds, "patch");
  assert.deepEqual(data.spec, { tokens: 16, dim: 16, rows: 4, cols: 4, numActions: 4 });
  const losses: number[] = [];
  const dir = await Deno.makeTempDir();
  const cfg = DECODER_PRESETS.smoke;
  await trainPixelDecoder(
    {
      ...cfg,
      model: { width: 16, depth: 1, heads: 2, mlpRatio: 2 },
      train: { ...cfg.train, steps: 20, batchSize: 16, checkpointEvery: 10 },
    },
    data,
    { checkpointDir: dir },
    { onStep: (s) => losses.push(s.values.loss) },
  );
  assert.ok(mean(losses.slice(-3)) < 0.7 * mean(losses.slice(0, 3)), losses.join(", "));
  assert.equal(loadPixelDecoder(dir).patch, 8);
});
