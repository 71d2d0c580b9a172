import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { initBackend } from "../tensor/backend.ts";
import { loadCheckpoint } from "../tensor/checkpoint.ts";
import { Rng } from "../tensor/rng.ts";
import {
  CLEANRL_PPO_ATARI,
  explainedVariance,
  gae,
  loadAgent,
  type PpoConfig,
  ppoLoss,
  sampleActions,
  trainPpo,
} from "./ppo.ts";
import { SignalEnv } from "../envs/toy_env.ts";

await initBackend({ backend: "cpu" });

const close = (a: number, b: number, tol = 1e-5) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

Deno.test("GAE matches a hand-computed example, per env, with episode boundaries", () => {
  // Two envs interleaved (index t * 2 + i); env 0 is the hand example, env 1 has no rewards.
  // gamma = lambda = 0.5; env 0: r = [1, 0, 2], V = [0.5, 1, 1.5], a new episode starts at
  // t = 2 (dones[2] = 1), bootstrap V = 2 with nextDone = 0:
  //   t=2: delta = 2 + 0.5*2 - 1.5 = 1.5;                 A = 1.5
  //   t=1: delta = 0 + 0 (episode ends) - 1 = -1;         A = -1
  //   t=0: delta = 1 + 0.5*1 - 0.5 = 1;  A = 1 + 0.25*(-1) = 0.75
  const rewards = Float32Array.from([1, 0, 0, 0, 2, 0]);
  const values = Float32Array.from([0.5, 0, 1, 0, 1.5, 0]);
  const dones = Uint8Array.from([0, 0, 0, 0, 1, 0]);
  const { advantages, returns } = gae({
    rewards,
    values,
    dones,
    nextValue: Float32Array.from([2, 0]),
    nextDone: Uint8Array.from([0, 1]),
    gamma: 0.5,
    lambda: 0.5,
  });
  [0.75, -1, 1.5].forEach((a, t) => close(advantages[t * 2], a));
  [1.25, 0, 3].forEach((r, t) => close(returns[t * 2], r));
  [0, 0, 0].forEach((a, t) => close(advantages[t * 2 + 1], a));
});

Deno.test("the clipped surrogate, clipped value loss and entropy on hand-made numbers", () => {
  // probs: row 0 [0.5, 0.5], row 1 [0.75, 0.25]; both took action 0.
  const logits = tf.tensor2d([[0, 0], [Math.log(3), 0]]);
  const batch = {
    actions: Int32Array.from([0, 0]),
    // ratio = [0.5 / 0.25, 0.75 / 0.75] = [2, 1]
    logProbs: Float32Array.from([Math.log(0.25), Math.log(0.75)]),
    advantages: Float32Array.from([1, -1]),
    returns: Float32Array.from([2, 2]),
    values: Float32Array.from([0.5, 2.5]),
  };
  const value = tf.tensor1d([1, 2]);
  const cfg = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5 };
  const p = ppoLoss(logits, value, batch, cfg);
  // pg: max(-A r, -A clip(r)) = [max(-2, -1.2), max(1, 1)] = [-1.2, 1] -> mean -0.1
  close(p.pgLoss.dataSync()[0], -0.1);
  // v: unclipped [(1-2)^2, 0] = [1, 0]; clipped V = [0.5+0.2, 2.5-0.2] -> [1.69, 0.09];
  // 0.5 * mean(max) = 0.5 * (1.69 + 0.09) / 2 = 0.445
  close(p.vLoss.dataSync()[0], 0.445);
  const ent = (Math.log(2) - (0.75 * Math.log(0.75) + 0.25 * Math.log(0.25))) / 2;
  close(p.entropy.dataSync()[0], ent);
  close(p.loss.dataSync()[0], -0.1 - 0.01 * ent + 0.5 * 0.445);
  close(p.clipFrac.dataSync()[0], 0.5);
  close(p.approxKl.dataSync()[0], (1 - Math.log(2)) / 2);
  close(p.oldApproxKl.dataSync()[0], -Math.log(2) / 2);
  const unclipped = ppoLoss(logits, value, batch, { ...cfg, clipVloss: false });
  close(unclipped.vLoss.dataSync()[0], 0.25);
});

Deno.test("sampled actions follow the softmax; log-probs are exact", () => {
  const logits = Float32Array.from([0, Math.log(3)]);
  const rng = new Rng(1);
  let ones = 0;
  for (let i = 0; i < 4000; i++) {
    const { actions, logProbs } = sampleActions(logits, { n: 1, numActions: 2, rng });
    ones += actions[0];
    close(logProbs[0], Math.log(actions[0] ? 0.75 : 0.25), 1e-6);
  }
  close(ones / 4000, 0.75, 0.03);
  close(explainedVariance(Float32Array.from([1, 2, 3]), Float32Array.from([1, 2, 3])), 1);
});

function toyConfig(overrides: Partial<PpoConfig> = {}): PpoConfig {
  return {
    ...CLEANRL_PPO_ATARI,
    agent: { ...CLEANRL_PPO_ATARI.agent, encoder: "mlp", hidden: 32 },
    totalSteps: 4 * 32 * 40,
    numEnvs: 4,
    numSteps: 32,
    numMinibatches: 2,
    lr: 3e-3,
    gamma: 0.9,
    checkpointEvery: 1000,
    ...overrides,
  };
}

Deno.test("PPO learns the toy signal game within seconds", async () => {
  const returns: number[] = [];
  const { agent } = await trainPpo(toyConfig(), {
    checkpointDir: await Deno.makeTempDir(),
    makeEnv: () => new SignalEnv(8),
  }, { onEpisode: (e) => returns.push(e.return) });
  agent.dispose();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(returns.slice(0, 40));
  const last = mean(returns.slice(-40));
  assert.ok(first < 5.5, `random play earns about 4, got ${first}`);
  assert.ok(last > 7, `after training: ${last} of 8`);
});

/** A CNN agent on native Breakout at the Nature CNN's smallest input, with short games. */
function breakoutConfig(totalUpdates: number): PpoConfig {
  return {
    ...CLEANRL_PPO_ATARI,
    seed: 5,
    env: { ...CLEANRL_ATARI, resize: [36, 36], maxEpisodeSteps: 23 },
    agent: { ...CLEANRL_PPO_ATARI.agent, hidden: 32 },
    numEnvs: 2,
    numSteps: 16,
    totalSteps: 2 * 16 * totalUpdates,
    numMinibatches: 2,
    updateEpochs: 2,
    checkpointEvery: 2,
  };
}

Deno.test("a run killed mid-way and resumed ends with the same weights (env replayed)", async () => {
  const cfg = breakoutConfig(5);
  const fullDir = await Deno.makeTempDir();
  const full = await trainPpo(cfg, { checkpointDir: fullDir });
  const want = full.agent.tensors().map(([k, v]) => [k, Array.from(v.dataSync())]);
  full.agent.dispose();
  const dir = await Deno.makeTempDir();
  await assert.rejects(trainPpo(cfg, { checkpointDir: dir, stopAfter: 3 }), /stopped after 3/);
  const snap = loadCheckpoint(dir).meta;
  assert.equal(snap.step, 2, "the last checkpoint before the kill");
  const env = (snap.extra.env as { games: number[] }).games;
  assert.ok(env.some((g) => g > 0), "games ended and re-seeded before the checkpoint");
  const resumed = await trainPpo(cfg, { checkpointDir: dir, resume: true });
  const got = resumed.agent.tensors().map(([k, v]) => [k, Array.from(v.dataSync())]);
  resumed.agent.dispose();
  assert.deepEqual(got, want);
  // The final checkpoint rebuilds the same agent.
  const loaded = loadAgent(dir);
  assert.deepEqual(loaded.agent.tensors().map(([k, v]) => [k, Array.from(v.dataSync())]), want);
  loaded.agent.dispose();
  await assert.rejects(
    trainPpo({ ...cfg, lr: 1e-3 }, { checkpointDir: dir, resume: true }),
    /different config/,
  );
});

Deno.test("tf.memory().numTensors stays flat across PPO updates", async () => {
  const counts: number[] = [];
  const { agent } = await trainPpo(breakoutConfig(4), {
    checkpointDir: await Deno.makeTempDir(),
  }, { onStep: () => counts.push(tf.memory().numTensors) });
  agent.dispose();
  assert.equal(counts.length, 4);
  assert.ok(counts.every((c) => c === counts[0]), `tensors per update: ${counts}`);
});
