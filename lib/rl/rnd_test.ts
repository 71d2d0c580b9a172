import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { SignalEnv } from "../envs/toy_env.ts";
import { disposeParams } from "../nn/params.ts";
import { AdamW } from "../train/optim.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { DQN_ATARI, trainDqn } from "./dqn.ts";
import {
  initRnd,
  intrinsicRewards,
  observeReturn,
  predictorStep,
  rndError,
  rndParams,
  rndTrainable,
  RunningStats,
} from "./rnd.ts";

await initBackend({ backend: "cpu" });

Deno.test("running statistics over batches equal the statistics of everything seen", () => {
  const rng = new Rng(0);
  const stats = new RunningStats(3);
  const all: number[][] = [[], [], []];
  for (const n of [1, 5, 2, 9]) {
    const batch = Float64Array.from({ length: n * 3 }, () => rng.normal() * 2 + 1);
    stats.update(batch, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) all[j].push(batch[i * 3 + j]);
  }
  for (let j = 0; j < 3; j++) {
    const m = all[j].reduce((a, b) => a + b, 0) / all[j].length;
    const v = all[j].reduce((a, b) => a + (b - m) ** 2, 0) / all[j].length;
    assert.ok(Math.abs(stats.mean[j] - m) < 1e-12 && Math.abs(stats.std(j) - Math.sqrt(v)) < 1e-12);
  }
});

Deno.test("a frame the predictor has learned is less novel than one it has never seen", () => {
  const rnd = initRnd(new Rng(1), [36, 36, 1], 32);
  const rng = new Rng(2);
  const seen = Uint8Array.from({ length: 36 * 36 }, () => rng.int(256));
  const unseen = Uint8Array.from({ length: 36 * 36 }, () => rng.int(256));
  // Statistics from both, so that neither is novel by its pixel scale alone.
  const both = new Uint8Array(2 * 36 * 36);
  both.set(seen);
  both.set(unseen, 36 * 36);
  rnd.obsStats.update(both, 2);
  const error = (f: Uint8Array) => tf.tidy(() => rndError(rnd, f, 1).dataSync()[0]);
  const opt = new AdamW(rndTrainable(rnd));
  const before = error(seen);
  // A step returns the errors of the predictor it started from.
  assert.ok(Math.abs(predictorStep(rnd, opt, seen, 1, 1e-3)[0] - before) < 1e-6);
  for (let i = 1; i < 60; i++) predictorStep(rnd, opt, seen, 1, 1e-3);
  assert.ok(error(seen) < before / 4, `${error(seen)} vs ${before}`);
  assert.ok(error(unseen) > 3 * error(seen), "the unseen frame stays novel");
  // Intrinsic rewards are the errors over the running std of the errors.
  const errors = tf.tidy(() => rndError(rnd, both, 2).dataSync() as Float32Array);
  const r = intrinsicRewards(rnd, errors);
  const std = Math.abs(errors[1] - errors[0]) / 2;
  assert.ok(r[1] > r[0]);
  assert.ok(Math.abs(r[1] - errors[1] / std) < 1e-4 * r[1], `${r[1]} vs ${errors[1] / std}`);
  opt.dispose();
  tf.dispose(rndParams(rnd).map(([, v]) => v));
});

Deno.test("the paper's normalisation: errors over the std of the env stream's intrinsic return", () => {
  const rnd = initRnd(new Rng(3), [36, 36, 1], 8);
  const rng = new Rng(4);
  const frames = Array.from(
    { length: 6 },
    () => Uint8Array.from({ length: 36 * 36 }, () => rng.int(256)),
  );
  for (const f of frames) rnd.obsStats.update(f, 1);
  const gamma = 0.9;
  const returns: number[] = [];
  let R = 0;
  for (const f of frames) {
    R = gamma * R + tf.tidy(() => rndError(rnd, f, 1).dataSync()[0]);
    returns.push(R);
    observeReturn(rnd, f, gamma);
  }
  assert.ok(Math.abs(rnd.intrinsicReturn - R) < 1e-6 * R, "R_t = gamma R_t-1 + e_t, never cut");
  const m = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - m) ** 2, 0) / returns.length);
  const errors = Float32Array.from([0.5, 2]);
  const r = intrinsicRewards(rnd, errors, "return");
  assert.ok(Math.abs(r[1] - 2 / std) < 1e-5 * r[1], `${r[1]} vs ${2 / std}`);
  assert.equal(rnd.rewardStats.count, 0, "the errors' own statistics stay untouched");
  tf.dispose(rndParams(rnd).map(([, v]) => v));
});

Deno.test("DQN with RND: the intrinsic reward of a two-frame game fades as the predictor learns", async () => {
  const intrinsic: number[] = [];
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  const dir = await Deno.makeTempDir();
  const { network } = await trainDqn(
    {
      ...DQN_ATARI,
      env: { ...DQN_ATARI.env, frameStack: 1 },
      logEvery: 8,
      totalSteps: 400,
      bufferSize: 1000,
      lr: 3e-3,
      targetUpdateEvery: 50,
      trainEvery: 4,
      learningStarts: 80,
      network: { kind: "mlp", hidden: 16 },
      exploration: {
        ...DQN_ATARI.exploration,
        mode: "rnd",
        start: 1,
        end: 0.02,
        fraction: 0.5,
        rnd: { weight: 0.1, width: 16, lr: 3e-3, gamma: 0.99, normalize: "return" },
      },
    },
    { checkpointDir: dir, makeEnv: () => new SignalEnv(8, 36) },
    {
      onStep: (e) => {
        if (Number.isNaN(e.values.intrinsic)) return;
        intrinsic.push(e.values.intrinsic);
        counts.push(tf.memory().numTensors);
      },
    },
  );
  assert.ok(intrinsic.every((v) => Number.isFinite(v) && v >= 0));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(intrinsic.slice(-10)) < mean(intrinsic.slice(0, 10)) / 2, `${intrinsic}`);
  assert.equal(counts.at(-1), counts[5], "tensor count flat across updates");
  disposeParams(network.params);
  assert.equal(tf.memory().numTensors, before);
  await Deno.remove(dir, { recursive: true });
});
