import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { SignalEnv } from "../envs/toy_env.ts";
import { disposeParams, namedParams } from "../nn/params.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import {
  DQN_ATARI,
  type DqnConfig,
  DqnLearner,
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

Deno.test("the intrinsic head: acts on Q_E + w Q_I, and its target runs on across a game over", () => {
  const rng = new Rng(0);
  const net = { kind: "mlp" as const, hidden: 4 };
  const opts = { intrinsicWeight: 0.5 };
  const online = initQNetwork(rng.fork("a"), [1, 1, 1], 2, net, opts);
  const target = initQNetwork(rng.fork("b"), [1, 1, 1], 2, net, opts);
  const heads = (n: ReturnType<typeof initQNetwork>, o: Uint8Array) =>
    tf.tidy(() => n.heads(o, 1).map((q) => Array.from(q.dataSync())));
  const [qE, qI] = heads(online, Uint8Array.of(255));
  const acted = tf.tidy(() => Array.from(online.forward(Uint8Array.of(255), 1).dataSync()));
  acted.forEach((v, a) => assert.ok(Math.abs(v - (qE[a] + 0.5 * qI[a])) < 1e-6));
  const batch = {
    obs: Uint8Array.of(255),
    nextObs: Uint8Array.of(0),
    actions: Int32Array.of(1),
    rewards: Float32Array.of(1),
    dones: Uint8Array.of(1),
    weights: Float32Array.of(1),
  };
  const nextActed = tf.tidy(() => Array.from(online.forward(batch.nextObs, 1).dataSync()));
  const aStar = nextActed.indexOf(Math.max(...nextActed));
  const [, nextI] = heads(target, batch.nextObs);
  const tdE = qE[1] - 1; // a game over: no bootstrap
  const tdI = qI[1] - (0.25 + 0.9 * nextI[aStar]); // non-episodic: bootstraps regardless
  const huber = (d: number) => Math.abs(d) < 1 ? 0.5 * d * d : Math.abs(d) - 0.5;
  const [td, loss] = tf.tidy(() => {
    const r = dqnLoss(online, target, batch, {
      gamma: 0.99,
      double: true,
      numActions: 2,
      intrinsic: { rewards: Float32Array.of(0.25), gamma: 0.9 },
    });
    return [r.tdErrors.dataSync()[0], r.loss.dataSync()[0]];
  });
  assert.ok(Math.abs(td - tdE) < 1e-5, "the priorities read the extrinsic TD error");
  assert.ok(Math.abs(loss - (huber(tdE) + huber(tdI))) < 1e-5, `${loss}`);
  assert.throws(
    () => dqnLoss(online, target, batch, { gamma: 0.99, double: true, numActions: 2 }),
    /intrinsic head needs rewards/,
  );
  disposeParams(online.params);
  disposeParams(target.params);
});

Deno.test("an update back-propagates the online pass over obs only: the targets are off the tape", async () => {
  // Double DQN's targets run the online and the target network over the next observations,
  // plain DQN's the target network twice: the same forward work. Off the gradient tape the two
  // updates run the same kernels; on it, Double DQN's also back-propagated its online pass.
  const kernels = async (double: boolean) => {
    const cfg = { ...DQN_ATARI, double, network: { kind: "mlp" as const, hidden: 8 } };
    const learner = new DqnLearner(cfg, [4, 4, 2], 3, new Rng(0));
    const rng = new Rng(1);
    const bytes = () => Uint8Array.from({ length: 2 * 32 }, () => rng.int(256));
    const batch = {
      obs: bytes(),
      nextObs: bytes(),
      actions: Int32Array.of(0, 2),
      rewards: Float32Array.of(1, 0),
      dones: Uint8Array.of(0, 1),
      weights: Float32Array.of(1, 1),
    };
    const info = await tf.profile(() => void learner.update(batch, 0));
    learner.disposeTraining();
    disposeParams(learner.online.params);
    return info.kernels.map((k) => k.name);
  };
  assert.deepEqual(await kernels(true), await kernels(false));
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

/** A toy-game config: `totalSteps` steps of an MLP Q-network on the signal game. */
function toyConfig(mode: DqnConfig["exploration"]["mode"], totalSteps: number): DqnConfig {
  return {
    ...DQN_ATARI,
    env: { ...DQN_ATARI.env, frameStack: 1 },
    totalSteps,
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
      end: mode === "boltzmann" ? 0.05 : 0.02,
      fraction: 0.5,
      rnd: { weight: 0.1, width: 16, lr: 3e-3, gamma: 0.99, normalize: "return" },
    },
    checkpointEvery: 500,
    logEvery: 50,
  };
}

for (const mode of ["epsilon", "boltzmann"] as const) {
  Deno.test(`DQN (${mode}) learns the toy signal game, with flat tensor memory`, async () => {
    const dir = await Deno.makeTempDir();
    const returns: number[] = [];
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    const { network } = await trainDqn(toyConfig(mode, 1500), {
      checkpointDir: dir,
      makeEnv: () => new SignalEnv(8, 2),
    }, {
      onEpisode: (e) => returns.push(e.return),
      onStep: () => counts.push(tf.memory().numTensors),
    });
    const last = returns.slice(-20);
    const mean = last.reduce((a, b) => a + b, 0) / last.length;
    assert.ok(mean > 7, `${mode}: last 20 games average ${mean} (random play earns 4)`);
    assert.equal(counts.at(-1), counts[3], "tensor count flat across steps");
    disposeParams(network.params);
    assert.equal(tf.memory().numTensors, before);
    await Deno.remove(dir, { recursive: true });
  });
}

for (const mode of ["boltzmann", "rnd"] as const) {
  Deno.test(`DQN (${mode}) killed mid-way and resumed ends as an uninterrupted run`, async () => {
    // RND's CNNs on the pure-JS backend are slow: its run is shorter, with fewer updates.
    const cfg = mode === "rnd"
      ? { ...toyConfig(mode, 240), trainEvery: 8, checkpointEvery: 80 }
      : { ...toyConfig(mode, 600), checkpointEvery: 150 };
    const makeEnv = () => new SignalEnv(8, mode === "rnd" ? 36 : 2);
    const weights = (net: { params: unknown }) =>
      namedParams("q", net.params as Parameters<typeof namedParams>[1]).map((
        [k, v],
      ) => [k, Array.from(v.dataSync())]);
    const run = async (dir: string, stopAfter?: number) => {
      const returns: number[] = [];
      const onEpisode = (e: { return: number }) => returns.push(e.return);
      if (stopAfter) {
        await assert.rejects(
          trainDqn(cfg, { checkpointDir: dir, makeEnv, stopAfter }, { onEpisode }),
          /stopped after/,
        );
      }
      const { network } = await trainDqn(cfg, { checkpointDir: dir, makeEnv, resume: true }, {
        onEpisode,
      });
      const w = weights(network);
      disposeParams(network.params);
      return { w, returns };
    };
    const [a, b] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const whole = await run(a);
    // Killed between two checkpoints: it resumes from the earlier one.
    const resumed = await run(b, mode === "rnd" ? 200 : 400);
    assert.deepEqual(resumed.w, whole.w, "same weights");
    assert.deepEqual(
      resumed.returns.slice(-10),
      whole.returns.slice(-10),
      "the same games after the resume",
    );
    // The replay file is checked against the sidecar: a truncated one is refused by name.
    const replay = [...Deno.readDirSync(b)].find((e) => e.name.startsWith("replay-"))!.name;
    const bytes = Deno.readFileSync(`${b}/${replay}`);
    Deno.writeFileSync(`${b}/${replay}`, bytes.subarray(0, bytes.length - 7));
    await assert.rejects(
      trainDqn({ ...cfg, totalSteps: cfg.totalSteps }, { checkpointDir: b, makeEnv, resume: true }),
      new RegExp(`${replay}: ${bytes.length - 7} bytes, the checkpoint recorded ${bytes.length}`),
    );
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  });
}
