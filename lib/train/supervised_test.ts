import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { scriptedTestDataset } from "../data/collect_testing.ts";
import { loadEncoder } from "../models/encoder.ts";
import { flattenParams } from "../nn/params.ts";
import { initBackend } from "../tensor/backend.ts";
import { type SupervisedConfig, trainSupervised } from "./supervised.ts";

await initBackend({ backend: "wasm" });

const dataset = () =>
  scriptedTestDataset({
    seed: 4,
    episodes: 3,
    env: { resize: [44, 44], maxEpisodeSteps: 150 },
  });

function tiny(steps: number): SupervisedConfig {
  return {
    seed: 6,
    stack: 2,
    valFraction: 0.34,
    features: 32,
    targets: [{ key: "paddleX" }, { key: "ballY", when: "ballVisible" }],
    train: {
      steps,
      batchSize: 16,
      lr: 3e-3,
      startLr: 3e-4,
      finalLr: 1e-3,
      warmupSteps: 2,
      weightDecay: [0, 0],
      clipGrad: 1,
      checkpointEvery: 5,
    },
  };
}

Deno.test("the supervised encoder fits its labels, keeps the tensor count flat, and saves a CNN", async () => {
  const ds = await dataset();
  const losses: number[] = [];
  const counts: number[] = [];
  const dir = await Deno.makeTempDir();
  const run = await trainSupervised(tiny(150), ds, { checkpointDir: dir }, {
    onStep: ({ values }) => {
      losses.push(values.loss);
      counts.push(tf.memory().numTensors);
    },
  });
  const head = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail < 0.8 * head, `loss ${head} -> ${tail}`);
  assert.equal(new Set(counts.slice(2)).size, 1, `tensor counts ${counts}`);
  assert.ok(run.classes.paddleX.length > 1, "paddleX takes several values");
  const { encoder, record } = loadEncoder(dir);
  assert.equal(record.kind, "cnn");
  assert.equal(record.source.method, "supervised");
  tf.dispose(run.tensors.map(([, v]) => v));
  tf.dispose(flattenParams(encoder.params).map(([, v]) => v));
});

Deno.test("a label the dataset lacks is an error naming the dataset and its states", async () => {
  const ds = await dataset();
  await assert.rejects(
    trainSupervised(
      { ...tiny(2), targets: [{ key: "enemyY" }] },
      ds,
      { checkpointDir: await Deno.makeTempDir() },
    ),
    /supervised: .*ds has no state 'enemyY' \(it has .*paddleX.*\)/,
  );
});

Deno.test("a target with a scale is classed by floor(value * scale)", async () => {
  const ds = await dataset();
  const scaled = await trainSupervised(
    { ...tiny(1), targets: [{ key: "paddleX", scale: 0.25 }] },
    ds,
    { checkpointDir: await Deno.makeTempDir() },
  );
  const exact = new Set(Array.from(ds.state("paddleX"), (v) => Math.floor(v * 0.25)));
  assert.ok(scaled.classes.paddleX.every((c) => exact.has(c) && Number.isInteger(c)));
  assert.ok(scaled.classes.paddleX.length < new Set(ds.state("paddleX")).size);
  tf.dispose(scaled.tensors.map(([, v]) => v));
});
