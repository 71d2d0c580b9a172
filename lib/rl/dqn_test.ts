import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { SignalEnv } from "../envs/toy_env.ts";
import { disposeParams } from "../nn/params.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import {
  DQN_ATARI,
  type DqnConfig,
  dqnLoss,
  explorationAt,
  exploreAction,
  initQNetwork,
  trainDqn,
} from "./dqn.ts";

await initBackend({ backend: "cpu" });

Deno.test("the DQN target: double DQN picks a* with the online net, evaluates it with the target", () => {
  const rng = new Rng(0);
  const net = { kind: "mlp" as const, hidden: 4 };
  const online = initQNetwork(rng.fork("a"), [1, 1, 1], 2, net);
  const target = initQNetwork(rng.fork("b"), [1, 1, 1], 2, net);
  const batch = {
    obs: Uint8Array.of(255),
    nextObs: Uint8Array.of(0),
    actions: Int32Array.of(1),
    rewards: Float32Array.of(0.5),
    dones: Uint8Array.of(0),
    weights: Float32Array.of(1),
  };
  const qOf = (n: ReturnType<typeof initQNetwork>, o: Uint8Array) =>
    Array.from(tf.tidy(() => n.forward(o, 1).dataSync()));
  const qNextOnline = qOf(online, batch.nextObs), qNextTarget = qOf(target, batch.nextObs);
  const q = qOf(online, batch.obs)[1];
  for (const double of [true, false]) {
    const pick = double
      ? qNextOnline.indexOf(Math.max(...qNextOnline))
      : qNextTarget.indexOf(Math.max(...qNextTarget));
    const y = 0.5 + 0.9 * qNextTarget[pick];
    const out = tf.tidy(() => {
      const r = dqnLoss(online, target, batch, { gamma: 0.9, double, numActions: 2 });
      return [r.tdErrors.dataSync()[0], r.loss.dataSync()[0]];
    });
    assert.ok(Math.abs(out[0] - (q - y)) < 1e-5, `double ${double}: td ${out[0]} vs ${q - y}`);
    const d = Math.abs(q - y);
    assert.ok(Math.abs(out[1] - (d < 1 ? 0.5 * d * d : d - 0.5)) < 1e-5, "Huber");
  }
  // A terminal transition does not bootstrap.
  const done = tf.tidy(() =>
    dqnLoss(online, target, { ...batch, dones: Uint8Array.of(1) }, {
      gamma: 0.9,
      double: true,
      numActions: 2,
    }).tdErrors.dataSync()[0]
  );
  assert.ok(Math.abs(done - (q - 0.5)) < 1e-5);
  disposeParams(online.params);
  disposeParams(target.params);
});

Deno.test("exploration: the linear schedule, epsilon-greedy and Boltzmann draws", () => {
  const x = { ...DQN_ATARI.exploration, start: 1, end: 0.1, fraction: 0.5 };
  assert.equal(explorationAt(x, 0, 100), 1);
  assert.ok(Math.abs(explorationAt(x, 25, 100) - 0.55) < 1e-12);
  assert.equal(explorationAt(x, 80, 100), 0.1);
  const rng = new Rng(0);
  assert.equal(exploreAction([0, 3, 1], x, 0, rng), 1, "epsilon 0 is greedy");
  const counts = [0, 0, 0];
  const boltz = { ...x, mode: "boltzmann" as const };
  for (let i = 0; i < 20_000; i++) {
    counts[exploreAction([0, Math.log(2), Math.log(5)], boltz, 1, rng)]++;
  }
  [1 / 8, 2 / 8, 5 / 8].forEach((p, i) =>
    assert.ok(Math.abs(counts[i] / 20_000 - p) < 0.015, `${counts}`)
  );
});

for (const mode of ["epsilon", "boltzmann"] as const) {
  Deno.test(`DQN (${mode}) learns the toy signal game, with flat tensor memory`, () => {
    const cfg: DqnConfig = {
      ...DQN_ATARI,
      totalSteps: 1500,
      bufferSize: 2000,
      batchSize: 32,
      lr: 3e-3,
      targetUpdateEvery: 50,
      trainEvery: 1,
      learningStarts: 100,
      network: { kind: "mlp", hidden: 16 },
      exploration: {
        ...DQN_ATARI.exploration,
        mode,
        start: 1,
        end: mode === "epsilon" ? 0.02 : 0.05,
        fraction: 0.5,
      },
    };
    const returns: number[] = [];
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    const online = trainDqn(cfg, new SignalEnv(8, 2), { channels: 1, stack: 1 }, {
      onEpisode: (e) => returns.push(e.return),
      onUpdate: () => counts.push(tf.memory().numTensors),
    });
    const last = returns.slice(-20);
    const mean = last.reduce((a, b) => a + b, 0) / last.length;
    assert.ok(mean > 7, `${mode}: last 20 games average ${mean} (random play earns 4)`);
    assert.equal(counts.at(-1), counts[10], "tensor count flat across updates");
    disposeParams(online.params);
    assert.equal(tf.memory().numTensors, before);
  });
}
