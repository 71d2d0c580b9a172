import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { scriptedTestDataset } from "../data/collect_testing.ts";
import { embedFrames, ENCODER_FILE, loadEncoder } from "../models/encoder.ts";
import { infoNce } from "../models/stdim.ts";
import { flattenParams } from "../nn/params.ts";
import { initBackend } from "../tensor/backend.ts";
import { type StdimTrainConfig, trainStdim } from "./stdim.ts";

await initBackend({ backend: "wasm" });

const dataset = () =>
  scriptedTestDataset({
    seed: 2,
    episodes: 3,
    env: { resize: [44, 44], maxEpisodeSteps: 150 },
  });

function tiny(steps: number): StdimTrainConfig {
  return {
    seed: 5,
    stack: 2,
    valFraction: 0.34,
    features: 32,
    train: {
      steps,
      batchSize: 16,
      lr: 3e-3,
      startLr: 1e-4,
      finalLr: 1e-4,
      warmupSteps: 2,
      weightDecay: [0, 0],
      clipGrad: 1,
      checkpointEvery: 4,
    },
  };
}

Deno.test("InfoNCE is log B for uninformative scores and near 0 when the diagonal wins", () => {
  const b = 8;
  const flat = tf.zeros([3, b, b]) as tf.Tensor3D;
  assert.ok(Math.abs(infoNce(flat).dataSync()[0] - Math.log(b)) < 1e-5);
  const sharp = tf.mul(tf.eye(b), 50).expandDims(0) as tf.Tensor3D;
  assert.ok(infoNce(sharp).dataSync()[0] < 1e-6);
  tf.dispose([flat, sharp]);
});

Deno.test("ST-DIM reduces its loss, keeps the tensor count flat, and writes a CNN encoder", async () => {
  const ds = await dataset();
  const losses: number[] = [];
  const counts: number[] = [];
  const dir = await Deno.makeTempDir();
  const run = await trainStdim(tiny(40), ds, { checkpointDir: dir }, {
    onStep: ({ values }) => {
      losses.push(values.loss);
      counts.push(tf.memory().numTensors);
    },
  });
  // Two InfoNCE terms over batches of 16 start at 2 ln 16 = 5.5.
  assert.ok(Math.abs(losses[0] - 2 * Math.log(16)) < 0.5, `first loss ${losses[0]}`);
  const tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail < losses[0] - 1, `loss ${losses[0]} -> ${tail}`);
  assert.equal(new Set(counts.slice(2)).size, 1, `tensor counts ${counts}`);

  const { encoder, record } = loadEncoder(dir);
  assert.equal(record.kind, "cnn");
  assert.equal(record.source.method, "stdim");
  assert.equal(record.step, 40);
  assert.ok((await Deno.stat(join(dir, ENCODER_FILE))).isFile);
  const frames = new Uint8Array(2 * 44 * 44 * 2).fill(40);
  const reloaded = embedFrames(encoder, frames, 2);
  const trained = embedFrames(run.encoder, frames, 2);
  assert.deepEqual(Array.from(reloaded), Array.from(trained));
  tf.dispose(run.tensors.map(([, v]) => v));
  tf.dispose(flattenParams(encoder.params).map(([, v]) => v));
});

Deno.test("ST-DIM killed mid-way resumes to the weights of an uninterrupted run", async () => {
  const ds = await dataset();
  const full = await trainStdim(tiny(12), ds, { checkpointDir: await Deno.makeTempDir() });
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    trainStdim(tiny(12), ds, { checkpointDir: dir, stopAfter: 7 }),
    /stopped after 7 steps/,
  );
  const resumed = await trainStdim(tiny(12), ds, { checkpointDir: dir, resume: true });
  assert.equal(resumed.result.steps, 12);
  full.tensors.forEach(([name, v], i) => {
    assert.deepEqual(
      Array.from(resumed.tensors[i][1].dataSync()),
      Array.from(v.dataSync()),
      `${name} differs after resume`,
    );
  });
  tf.dispose([...full.tensors, ...resumed.tensors].map(([, v]) => v));
});

Deno.test("ST-DIM on too few frames names the shortfall", async () => {
  const ds = await dataset();
  await assert.rejects(
    trainStdim(
      { ...tiny(4), train: { ...tiny(4).train, batchSize: 100000 } },
      ds,
      { checkpointDir: await Deno.makeTempDir() },
    ),
    /stdim: \d+ consecutive pairs in the training episodes, fewer than a batch of 100000/,
  );
});
