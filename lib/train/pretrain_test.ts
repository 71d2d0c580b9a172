import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { scriptedTestDataset } from "../data/collect_testing.ts";
import { initBackend } from "../tensor/backend.ts";
import { hasCheckpoint, loadCheckpoint } from "../tensor/checkpoint.ts";
import { ENCODER_FILE, loadEncoder, randomEncoder } from "../models/encoder.ts";
import { flattenParams } from "../nn/params.ts";
import { NonFiniteLossError } from "./loop.ts";
import { encoderConfig, pretrain, type PretrainConfig } from "./pretrain.ts";
import { PRETRAIN_PRESETS } from "./pretrain_presets.ts";

await initBackend({ backend: "wasm" });

const dataset = () => scriptedTestDataset({ seed: 1, episodes: 2 });

function tiny(method: "ijepa" | "ae", steps: number): PretrainConfig {
  const smoke = PRETRAIN_PRESETS.smoke;
  return {
    ...smoke,
    method,
    encoder: { ...smoke.encoder, width: 16, depth: 1, heads: 2 },
    predictor: { ...smoke.predictor, width: 16 },
    train: {
      ...smoke.train,
      steps,
      batchSize: 8,
      warmupSteps: 2,
      checkpointEvery: 2,
      monitorEvery: 1000,
      monitorFrames: 32,
    },
  };
}

const ckptDir = () => Deno.makeTempDir();

Deno.test("I-JEPA and the autoencoder reduce their loss", async () => {
  const ds = await dataset();
  for (const method of ["ijepa", "ae"] as const) {
    const losses: number[] = [];
    await pretrain({ ...tiny(method, 40), seed: 3 }, ds, { checkpointDir: await ckptDir() }, {
      onStep: ({ values }) => losses.push(values.loss),
    });
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < 0.8 * first, `${method}: loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  }
});

Deno.test("a run stopped mid-way and resumed ends with the same weights", async () => {
  const ds = await dataset();
  const cfg = tiny("ijepa", 7);
  const full = await pretrain(cfg, ds, { checkpointDir: await ckptDir() });
  const want = full.tensors.map(([k, v]) => [k, Array.from(v.dataSync())] as const);
  const dir = await ckptDir();
  await assert.rejects(
    pretrain(cfg, ds, { checkpointDir: dir, stopAfter: 5 }),
    /stopped after 5 steps/,
  );
  assert.equal(loadCheckpoint(dir).meta.step, 4, "the last checkpoint before the stop");
  const resumed = await pretrain(cfg, ds, { checkpointDir: dir, resume: true });
  const got = resumed.tensors.map(([k, v]) => [k, Array.from(v.dataSync())] as const);
  assert.deepEqual(got, want);
});

Deno.test("every checkpoint has its encoder artifact beside it, loadable without the method", async () => {
  const ds = await dataset();
  for (const method of ["ijepa", "ae"] as const) {
    const dir = await ckptDir();
    const cfg = tiny(method, 4);
    const result = await pretrain(cfg, ds, { checkpointDir: dir });
    const { encoder, record } = loadEncoder(dir);
    assert.equal(record.step, 4);
    assert.deepEqual(record.source, { method, seed: cfg.seed, stack: 4, valFraction: 0.2 });
    assert.equal(encoder.name, method);
    assert.deepEqual(encoder.cfg, result.encoder.cfg);
    const values = (e: typeof encoder) =>
      flattenParams(e.params).map(([k, v]) => [k, Array.from(v.dataSync())]);
    // I-JEPA evaluates its EMA target encoder; the autoencoder its encoder.
    assert.deepEqual(values(encoder), values(result.encoder));
    assert.ok(hasCheckpoint(dir) && Deno.statSync(join(dir, ENCODER_FILE)).isFile);
  }
});

Deno.test("the random control is the autoencoder's encoder before its first step", async () => {
  const ds = await dataset();
  const cfg = { ...tiny("ae", 1), seed: 5 };
  const dir = await ckptDir();
  // Learning rate 0 at step 0 (warmup from startLr 0): the saved encoder is the initial one.
  await pretrain({ ...cfg, train: { ...cfg.train, startLr: 0, lr: 0, finalLr: 0 } }, ds, {
    checkpointDir: dir,
  });
  const initial = loadEncoder(dir).encoder;
  const random = randomEncoder(encoderConfig(cfg, ds.frameShape), 5);
  assert.equal(random.name, "random");
  for (
    const [[k, a], [, b]] of flattenParams(initial.params).map((e, i) =>
      [e, flattenParams(random.params)[i]] as const
    )
  ) {
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()), k);
  }
});

Deno.test("tf.memory().numTensors stays flat across training steps", async () => {
  const ds = await dataset();
  for (const method of ["ijepa", "ae"] as const) {
    const counts: number[] = [];
    await pretrain(tiny(method, 8), ds, { checkpointDir: await ckptDir() }, {
      onStep: () => counts.push(tf.memory().numTensors),
    });
    assert.ok(counts.slice(1).every((c) => c === counts[1]), `${method}: ${counts.join(",")}`);
  }
});

Deno.test("a non-finite loss stops the run with a clear error and keeps the last checkpoint", async () => {
  const ds = await dataset();
  const cfg = tiny("ae", 30);
  cfg.train = {
    ...cfg.train,
    lr: 1e30,
    startLr: 1e30,
    finalLr: 1e30,
    clipGrad: 0,
    weightDecay: [0, 0],
  };
  const dir = await ckptDir();
  await assert.rejects(pretrain(cfg, ds, { checkpointDir: dir }), (err: Error) => {
    assert.ok(err instanceof NonFiniteLossError, String(err));
    assert.match(
      err.message,
      /loss became (NaN|Infinity) at step \d+ .* last good checkpoint \(step \d+\)/,
    );
    return true;
  });
  assert.ok(hasCheckpoint(dir) ? Number.isFinite(loadCheckpoint(dir).meta.step) : true);
});
