import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { variable } from "../nn/params.ts";
import type { StepEvent } from "../run/progress.ts";
import { initBackend } from "../tensor/backend.ts";
import { loadCheckpoint } from "../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import {
  bestCheckpointDir,
  evaluatedCheckpoint,
  type LoopSchedule,
  NonFiniteLossError,
  trainLoop,
  type TrainMethod,
} from "./loop.ts";

await initBackend({ backend: "wasm" });

// A toy method: fit y = x w* by least squares, with noisy batches drawn per epoch and a
// validation loss on held-out rows, so every part of the loop has something to do.
const DIM = 4;
const TRUE_W = Float32Array.from([0.5, -1, 2, 0.25]);
function rows(seed: number, n: number) {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: n * DIM }, () => rng.normal());
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < DIM; j++) y[i] += x[i * DIM + j] * TRUE_W[j];
    y[i] += 0.1 * rng.normal();
  }
  return { x, y, n };
}
const train = rows(1, 64);
const val = rows(2, 32);

function toy(opts: { validate?: { every: number; patience: number }; poison?: number } = {}) {
  const w = variable(new Float32Array(DIM), [DIM, 1]);
  const ema = variable(new Float32Array(DIM), [DIM, 1], false);
  const mse = (x: Float32Array, y: Float32Array, n: number) =>
    tf.mean(tf.square(tf.sub(tf.matMul(tf.tensor2d(x, [n, DIM]), w), tf.tensor2d(y, [n, 1]))));
  const method: TrainMethod<Int32Array> = {
    trainable: [["w", w]],
    all: [["w", w], ["ema", ema]],
    perEpoch: 8,
    *epoch(epoch) {
      const order = new Rng(deriveSeed(0, `epoch/${epoch}`)).permutation(train.n);
      for (let b = 0; b < 8; b++) yield Int32Array.from(order.slice(b * 8, b * 8 + 8));
    },
    loss(idx, step) {
      const x = new Float32Array(idx.length * DIM);
      const y = new Float32Array(idx.length);
      idx.forEach((r, i) => {
        x.set(train.x.subarray(r * DIM, (r + 1) * DIM), i * DIM);
        y[i] = train.y[r];
      });
      const loss = mse(x, y, idx.length) as tf.Scalar;
      return step === opts.poison ? tf.mul(loss, NaN) as tf.Scalar : loss;
    },
    afterStep: () => tf.tidy(() => ema.assign(tf.add(tf.mul(ema, 0.9), tf.mul(w, 0.1)))),
  };
  if (opts.validate) {
    method.validate = {
      ...opts.validate,
      loss: () => tf.tidy(() => mse(val.x, val.y, val.n).dataSync()[0]),
    };
  }
  return { method, w, ema };
}

const schedule = (steps: number): LoopSchedule => ({
  steps,
  batchSize: 8,
  lr: 0.3,
  startLr: 0.05,
  finalLr: 0.01,
  warmupSteps: 3,
  weightDecay: [0.01, 0.05],
  clipGrad: 1,
  checkpointEvery: 4,
});

const values = (vars: [string, tf.Variable][]) =>
  vars.map(([k, v]) => [k, Array.from(v.dataSync())] as const);

Deno.test("the shared loop reduces the loss and resumes a killed run to the same weights", async () => {
  const events: StepEvent[] = [];
  const full = toy({ validate: { every: 5, patience: 100 } });
  await trainLoop(
    full.method,
    schedule(30),
    { checkpointDir: await Deno.makeTempDir(), config: 1, label: "toy" },
    { onStep: (e) => events.push(e) },
  );
  const losses = events.map((e) => e.values.loss);
  assert.ok(losses.at(-1)! < 0.2 * losses[0], `loss ${losses[0]} -> ${losses.at(-1)}`);
  assert.deepEqual(events.map((e) => e.step), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.ok(events.every((e) => e.loop === "toy" && e.total === 30));
  assert.deepEqual(Object.keys(events[0].values).sort(), [
    "gradNorm",
    "loss",
    "lr",
    "samplesPerSec",
  ]);

  const dir = await Deno.makeTempDir();
  const killed = toy({ validate: { every: 5, patience: 100 } });
  await assert.rejects(
    trainLoop(killed.method, schedule(30), { checkpointDir: dir, config: 1, stopAfter: 13 }),
    /stopped after 13 steps/,
  );
  assert.equal(loadCheckpoint(dir).meta.step, 12);
  const resumed = toy({ validate: { every: 5, patience: 100 } });
  const r = await trainLoop(resumed.method, schedule(30), {
    checkpointDir: dir,
    config: 1,
    resume: true,
  });
  assert.equal(r.steps, 30);
  assert.deepEqual(values(resumed.method.all), values(full.method.all));
  await assert.rejects(
    trainLoop(toy().method, schedule(30), { checkpointDir: dir, config: 2, resume: true }),
    /different config/,
  );
});

Deno.test("early stopping stops after `patience` stale evaluations and keeps the best weights", async () => {
  // A learning rate that overshoots once the fit is good: validation stops improving.
  const dir = await Deno.makeTempDir();
  const sched = { ...schedule(200), lr: 0.9, startLr: 0.9, finalLr: 0.9, clipGrad: 0 };
  const validations: number[] = [];
  const { method } = toy({ validate: { every: 2, patience: 3 } });
  const r = await trainLoop(method, sched, { checkpointDir: dir, config: "es" }, {
    onValidate: (v) => validations.push(v.valLoss),
  });
  assert.ok(r.stoppedEarly, `ran ${r.steps} steps`);
  assert.ok(r.steps < 200);
  const best = Math.min(...validations);
  assert.equal(r.best!.valLoss, best);
  assert.ok(validations.slice(-3).every((v) => v >= best), "three stale evaluations at the end");
  assert.equal(evaluatedCheckpoint(dir), bestCheckpointDir(dir));
  assert.equal(loadCheckpoint(bestCheckpointDir(dir)).meta.step, r.best!.step);
  // Resuming a run that stopped early does nothing and keeps its weights.
  const again = toy({ validate: { every: 2, patience: 3 } });
  const r2 = await trainLoop(again.method, sched, {
    checkpointDir: dir,
    config: "es",
    resume: true,
  });
  assert.ok(r2.stoppedEarly);
  assert.equal(r2.steps, r.steps);
  assert.deepEqual(values(again.method.all), values(method.all));
});

Deno.test("a NaN loss stops before any update and names the last good checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const { method, w } = toy({ poison: 6 });
  let before: number[] = [];
  await assert.rejects(
    trainLoop(method, schedule(20), { checkpointDir: dir, config: 1, label: "toy" }, {
      onStep: (s) => {
        if (s.step === 6) before = Array.from(w.dataSync());
      },
    }),
    (err: Error) => {
      assert.ok(err instanceof NonFiniteLossError);
      assert.match(err.message, /loss became NaN at step 6 .* last good checkpoint \(step 4\)/);
      return true;
    },
  );
  assert.deepEqual(Array.from(w.dataSync()), before, "no update was applied");
  assert.equal(loadCheckpoint(dir).meta.step, 4);
  assert.ok(!existsSync(join(dir, "best")));
});

Deno.test("the loop leaves tf.memory().numTensors flat across steps", async () => {
  const counts: number[] = [];
  const { method } = toy({ validate: { every: 3, patience: 100 } });
  await trainLoop(method, schedule(12), { checkpointDir: await Deno.makeTempDir(), config: 1 }, {
    onStep: () => counts.push(tf.memory().numTensors),
  });
  assert.ok(counts.slice(1).every((c) => c === counts[1]), counts.join(","));
});
