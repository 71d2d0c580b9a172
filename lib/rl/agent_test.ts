import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { collectDataset } from "../data/collect.ts";
import { openDataset } from "../data/reader.ts";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { flattenParams } from "../nn/params.ts";
import { initBackend } from "../tensor/backend.ts";
import { Rng } from "../tensor/rng.ts";
import { loadEncoder } from "../models/encoder.ts";
import { pretrain } from "../train/pretrain.ts";
import { PRETRAIN_PRESETS } from "../train/pretrain_presets.ts";
import { createAgent } from "./agent.ts";
import { CLEANRL_PPO_ATARI, loadAgent, type PpoConfig, randomPlayStacks, trainPpo } from "./ppo.ts";

await initBackend({ backend: "cpu" });

/**
 * `W^T W` of a weight seen as `[rows, cols]` (rows = all but the last dim), over its first 64
 * columns (enough to see orthonormality; the whole 512-wide dense layer would take long).
 */
function gram(v: tf.Variable): { g: Float64Array; cols: number } {
  const all = v.shape[v.shape.length - 1];
  const rows = v.size / all;
  const cols = Math.min(all, 64);
  const w = v.dataSync();
  const g = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = i; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += w[r * all + i] * w[r * all + j];
      g[i * cols + j] = g[j * cols + i] = s;
    }
  }
  return { g, cols };
}

Deno.test("CleanRL's orthogonal init: W^T W = gain^2 I, zero biases, actor 0.01, critic 1", () => {
  const agent = createAgent(CLEANRL_PPO_ATARI.agent, {
    obsShape: [84, 84, 4],
    numActions: 4,
    rng: new Rng(0),
  });
  const params = Object.fromEntries(agent.tensors());
  const cases: [string, number][] = [
    ["encoder/c1.w", 2],
    ["encoder/c2.w", 2],
    ["encoder/c3.w", 2],
    ["encoder/fc.w", 2],
    ["heads/actor.w", 1e-4],
    ["heads/critic.w", 1],
  ];
  for (const [name, gain2] of cases) {
    const { g, cols } = gram(params[name]);
    let maxOff = 0;
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < cols; j++) {
        if (i === j) assert.ok(Math.abs(g[i * cols + j] - gain2) < 1e-4 * gain2, `${name} diag`);
        else maxOff = Math.max(maxOff, Math.abs(g[i * cols + j]));
      }
    }
    assert.ok(maxOff < 1e-4 * gain2, `${name}: off-diagonal ${maxOff}`);
  }
  for (const [name, v] of agent.tensors()) {
    if (name.endsWith(".b")) assert.ok(v.dataSync().every((x) => x === 0), name);
  }
  assert.deepEqual(agent.groups.map((g) => [g.name, g.lrScale]), [["heads", 1], ["encoder", 1]]);
  // The first policy is near uniform.
  const obs = new Uint8Array(2 * 84 * 84 * 4).fill(90);
  const probs = tf.tidy(() => tf.softmax(agent.forward(obs, 2).logits).dataSync());
  assert.ok(probs.every((p) => Math.abs(p - 0.25) < 0.01), `${probs}`);
  agent.dispose();
});

let pretrained: string | null = null;
/** A tiny I-JEPA checkpoint (2 steps, width 16) on two scripted games. */
async function tinyCheckpoint(): Promise<string> {
  if (pretrained) return pretrained;
  const root = await Deno.makeTempDir();
  await collectDataset(join(root, "ds"), {
    seed: 1,
    policy: "scripted",
    episodes: 2,
    shardFrames: 4096,
    env: CLEANRL_ATARI,
  });
  const smoke = PRETRAIN_PRESETS.smoke;
  const result = await pretrain(
    {
      ...smoke,
      encoder: { ...smoke.encoder, width: 16, depth: 1, heads: 2 },
      predictor: { ...smoke.predictor, width: 16 },
      train: { ...smoke.train, steps: 2, batchSize: 8, warmupSteps: 1, checkpointEvery: 2 },
    },
    await openDataset(join(root, "ds")),
    { checkpointDir: join(root, "ckpt") },
  );
  tf.dispose(result.tensors.map(([, v]) => v));
  return (pretrained = join(root, "ckpt"));
}

function vitConfig(frozen: boolean, checkpoint: string): PpoConfig {
  return {
    ...CLEANRL_PPO_ATARI,
    env: { ...CLEANRL_ATARI, maxEpisodeSteps: 40 },
    agent: { ...CLEANRL_PPO_ATARI.agent, encoder: "jepa", checkpoint, frozen, hidden: 16 },
    numEnvs: 2,
    numSteps: 8,
    totalSteps: 32,
    numMinibatches: 2,
    updateEpochs: 2,
    lr: 1e-3,
  };
}

Deno.test("a frozen encoder never changes (features cached); a fine-tuned one trains at 0.1x", async () => {
  const ckpt = await tinyCheckpoint();
  const original = loadEncoder(ckpt).encoder;
  const before = new Map(
    flattenParams(original.params).map(([k, v]) => [`encoder/${k}`, Array.from(v.dataSync())]),
  );
  const changed = (agentTensors: [string, tf.Variable][], prefix: string) =>
    agentTensors.filter(([k]) => k.startsWith(prefix)).filter(([k, v]) =>
      JSON.stringify(Array.from(v.dataSync())) !== JSON.stringify(before.get(k))
    ).map(([k]) => k);

  const frozen = await trainPpo(vitConfig(true, ckpt), { checkpointDir: await Deno.makeTempDir() });
  assert.equal(frozen.agent.featureDim, 49 * 16, "the rollout stores the 7x7 tokens");
  assert.deepEqual(frozen.agent.groups.map((g) => g.name), ["heads"]);
  assert.deepEqual(changed(frozen.agent.tensors(), "encoder/"), [], "frozen encoder unchanged");
  const heads = frozen.agent.tensors().filter(([k]) => k.startsWith("heads/"));
  assert.ok(heads.length > 0);
  frozen.agent.dispose();

  const mean = await trainPpo(
    { ...vitConfig(true, ckpt), agent: { ...vitConfig(true, ckpt).agent, readout: "mean" } },
    { checkpointDir: await Deno.makeTempDir() },
  );
  assert.equal(mean.agent.featureDim, 16, "or their mean");
  assert.deepEqual(changed(mean.agent.tensors(), "encoder/"), []);
  mean.agent.dispose();

  const tuned = await trainPpo(vitConfig(false, ckpt), { checkpointDir: await Deno.makeTempDir() });
  assert.equal(tuned.agent.featureDim, 0);
  assert.deepEqual(tuned.agent.groups.map((g) => [g.name, g.lrScale]), [
    ["heads", 1],
    ["encoder", 0.1],
  ]);
  const moved = changed(tuned.agent.tensors(), "encoder/");
  assert.ok(moved.length > 0 && moved.includes("encoder/patch.w"), `changed: ${moved}`);
  tuned.agent.dispose();
  // The pretraining checkpoint's encoder was copied, not trained in place.
  const again = loadEncoder(ckpt).encoder;
  for (const [k, v] of flattenParams(again.params)) {
    assert.deepEqual(Array.from(v.dataSync()), before.get(`encoder/${k}`));
  }
});

Deno.test("a centred ViT agent's features have mean 0 and mean variance 1 on its centring frames", async () => {
  const ckpt = await tinyCheckpoint();
  const vit = loadEncoder(ckpt).encoder;
  const n = 96;
  const stacks = randomPlayStacks(CLEANRL_ATARI, 3, n);
  const cfg = {
    ...CLEANRL_PPO_ATARI.agent,
    encoder: "jepa" as const,
    checkpoint: ckpt,
    frozen: true,
  };
  const make = (centerFeatures: boolean) =>
    createAgent({ ...cfg, centerFeatures }, {
      obsShape: [84, 84, 4],
      numActions: 4,
      rng: new Rng(2),
      vit,
    });
  const raw = make(false);
  assert.equal(raw.centerOn, undefined);
  assert.deepEqual(raw.tensors().filter(([k]) => k.startsWith("center/")), []);
  const centred = make(true);
  centred.centerOn!(stacks, n);
  const d = centred.featureDim;
  const f = centred.embed(stacks, n);
  const g = raw.embed(stacks, n);
  let variance = 0;
  let rawVariance = 0;
  for (let j = 0; j < d; j++) {
    let m = 0;
    let rm = 0;
    for (let i = 0; i < n; i++) (m += f[i * d + j] / n), (rm += g[i * d + j] / n);
    assert.ok(Math.abs(m) < 1e-3, `feature ${j}: mean ${m}`);
    for (let i = 0; i < n; i++) {
      variance += (f[i * d + j] - m) ** 2 / (n * d);
      rawVariance += (g[i * d + j] - rm) ** 2 / (n * d);
    }
  }
  assert.ok(Math.abs(variance - 1) < 1e-3, `mean variance ${variance}`);
  // One scale for all features: the centred features are the raw ones, shifted and scaled.
  const k = 1 / Math.sqrt(rawVariance);
  assert.ok(
    Math.abs((f[1] - f[d + 1]) - k * (g[1] - g[d + 1])) <
      1e-3 * Math.max(1, Math.abs(f[1] - f[d + 1])),
  );
  // The centring travels with the agent's tensors (a checkpoint), not with the run.
  const copy = make(true);
  const source = new Map(centred.tensors());
  for (const [name, v] of copy.tensors()) v.assign(source.get(name)!);
  assert.deepEqual(Array.from(copy.embed(stacks, 4)), Array.from(centred.embed(stacks, 4)));
  // What the heads read: the centred features, for a frozen encoder its embedding.
  assert.deepEqual(Array.from(centred.features(stacks, n)), Array.from(f));
  assert.equal(centred.featureWidth, d);
  for (const agent of [raw, centred, copy]) agent.dispose();
});

Deno.test("every agent's features: the trunk's output, the same in 64-stack chunks as one by one", () => {
  const n = 70; // two chunks
  const stacks = randomPlayStacks(CLEANRL_ATARI, 4, n);
  const frame = 84 * 84 * 4;
  for (const encoder of ["cnn", "mlp"] as const) {
    const agent = createAgent({ ...CLEANRL_PPO_ATARI.agent, encoder, hidden: 32 }, {
      obsShape: [84, 84, 4],
      numActions: 4,
      rng: new Rng(5),
    });
    assert.equal(agent.featureDim, 0, "a trained trunk: the rollout keeps the frames");
    assert.equal(agent.featureWidth, 32);
    const before = tf.memory().numTensors;
    const f = agent.features(stacks, n);
    assert.equal(f.length, n * 32);
    assert.ok(f.every(Number.isFinite) && f.some((x) => x !== 0), encoder);
    const last = agent.features(stacks.subarray((n - 1) * frame), 1);
    for (let j = 0; j < 32; j++) assert.ok(Math.abs(last[j] - f[(n - 1) * 32 + j]) < 1e-5);
    assert.equal(tf.memory().numTensors, before, `${encoder}: no tensor left`);
    agent.dispose();
  }
});

Deno.test("a centred frozen-ViT run killed and resumed ends where an unbroken one does", async () => {
  const cfg = { ...vitConfig(true, await tinyCheckpoint()), totalSteps: 48, checkpointEvery: 1 };
  const weights = (a: { tensors(): [string, tf.Variable][] }) =>
    a.tensors().map(([k, v]) => [k, Array.from(v.dataSync())]);
  const full = await trainPpo(cfg, { checkpointDir: await Deno.makeTempDir() });
  const want = weights(full.agent);
  full.agent.dispose();
  const centre = new Map(want.filter(([k]) => (k as string).startsWith("center/")) as [
    string,
    number[],
  ][]);
  assert.deepEqual([...centre.keys()].sort(), ["center/invScale", "center/mean"]);
  assert.ok(centre.get("center/invScale")![0] > 1, "the scale is set from random play");
  const dir = await Deno.makeTempDir();
  await assert.rejects(trainPpo(cfg, { checkpointDir: dir, stopAfter: 2 }), /stopped after 2/);
  const resumed = await trainPpo(cfg, { checkpointDir: dir, resume: true });
  assert.deepEqual(weights(resumed.agent), want);
  resumed.agent.dispose();
  const loaded = loadAgent(dir);
  assert.deepEqual(weights(loaded.agent), want, "the checkpoint rebuilds the centred agent");
  loaded.agent.dispose();
});

Deno.test("saliency maps have the frame shape and are finite for CNN and ViT agents", async () => {
  const ckpt = await tinyCheckpoint();
  const vit = loadEncoder(ckpt).encoder;
  const obs = Uint8Array.from({ length: 2 * 84 * 84 * 4 }, (_, i) => (i * 7) % 256);
  for (
    const agent of [
      createAgent(CLEANRL_PPO_ATARI.agent, {
        obsShape: [84, 84, 4],
        numActions: 4,
        rng: new Rng(1),
      }),
      createAgent(
        { ...CLEANRL_PPO_ATARI.agent, encoder: "jepa", checkpoint: ckpt, frozen: true },
        { obsShape: [84, 84, 4], numActions: 4, rng: new Rng(2), vit },
      ),
    ]
  ) {
    const before = tf.memory().numTensors;
    const s = agent.saliency(obs, 2);
    assert.equal(s.length, obs.length);
    assert.ok(s.every(Number.isFinite) && s.some((v) => v > 0));
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
    agent.dispose();
  }
});
