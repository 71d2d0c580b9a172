import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { collectDataset } from "../data/collect.ts";
import { openDataset } from "../data/reader.ts";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { namedParams } from "../nn/params.ts";
import type { LatentActionModel } from "../models/latent_action.ts";
import { initBackend } from "../tensor/backend.ts";
import {
  disposeLatentAction,
  evaluateLatentAction,
  type LatentActionTrainConfig,
  loadLatentAction,
  trainLatentAction,
} from "./latent_action.ts";

await initBackend({ backend: "cpu" });
const root = await Deno.makeTempDir();
await collectDataset(join(root, "ds"), {
  seed: 3,
  policy: "random",
  episodes: 4,
  shardFrames: 4096,
  env: { ...CLEANRL_ATARI, maxEpisodeSteps: 150 },
});
const ds = await openDataset(join(root, "ds"));

const cfg: LatentActionTrainConfig = {
  seed: 0,
  stack: 2,
  valFraction: 0.25,
  encoder: { patch: 12, width: 16, depth: 1, heads: 2, mlpRatio: 2, cls: false },
  actionEncoder: { width: 16, depth: 1, heads: 2, mlpRatio: 2, cls: false },
  decoder: { width: 16, depth: 1, heads: 2, mlpRatio: 2 },
  codes: 8,
  codeDim: 4,
  commitment: 0.25,
  usage: { decay: 0.9, deadThreshold: 0.5, resetEvery: 4 },
  train: {
    steps: 16,
    batchSize: 16,
    lr: 3e-3,
    startLr: 3e-4,
    finalLr: 3e-4,
    warmupSteps: 2,
    weightDecay: [0, 0],
    clipGrad: 1,
    checkpointEvery: 8,
  },
  eval: { rows: 32, horizon: 4, deltaAt: 4 },
};

/** The decoder's and the codebook's values, by name. */
const weights = (m: LatentActionModel) =>
  [...namedParams("w", m.world.decoder), ["codebook", m.codebook] as const].map((
    [k, v],
  ) => [k, Array.from(v.dataSync())]);

Deno.test("the latent-action model's loss falls with flat tensors; a killed run resumes to the same weights", async () => {
  const losses: number[] = [];
  const counts: number[] = [];
  const a = await trainLatentAction(cfg, ds, { checkpointDir: join(root, "a") }, {
    onStep: (s) => {
      losses.push(s.values.loss);
      counts.push(tf.memory().numTensors);
    },
  });
  const head = (losses[0] + losses[1]) / 2, tail = (losses.at(-1)! + losses.at(-2)!) / 2;
  assert.ok(tail < head, `loss ${head} -> ${tail}`);
  assert.equal(counts.at(-1), counts[2], `tensors ${counts.join(",")}`);
  await assert.rejects(
    trainLatentAction(cfg, ds, { checkpointDir: join(root, "b"), stopAfter: 11 }),
    /stopped|stop/i,
  );
  const b = await trainLatentAction(cfg, ds, { checkpointDir: join(root, "b"), resume: true });
  assert.deepEqual(weights(b.model), weights(a.model));
  disposeLatentAction(b.model, b.usage);

  const m = evaluateLatentAction(cfg, ds, a.model);
  for (const key of ["psnr", "copyLastPsnr", "ssim", "copyLastSsim"] as const) {
    assert.ok(Number.isFinite(m[key]), `${key} ${m[key]}`);
  }
  assert.ok(m.codebookUse > 0 && m.codebookUse <= 1 && m.perplexity >= 1);
  assert.equal(m.rollout.length, 4);
  assert.equal(m.deltaPsnr.at, 4);
  assert.ok(m.deltaPsnr.ci95[0] <= m.deltaPsnr.mean && m.deltaPsnr.mean <= m.deltaPsnr.ci95[1]);
  // A copy of a frame scores its exact PSNR against itself: copy-last is a real baseline.
  assert.ok(m.copyLastPsnr > 10);
  const loaded = loadLatentAction(join(root, "a"));
  assert.deepEqual(weights(loaded.model), weights(a.model));
  disposeLatentAction(loaded.model);
  disposeLatentAction(a.model, a.usage);
});

Deno.test("context noise changes training, and a killed noisy run resumes to the same weights", async () => {
  const noisy = { ...cfg, contextNoise: 0.05 };
  const a = await trainLatentAction(noisy, ds, { checkpointDir: join(root, "noisy-a") });
  await assert.rejects(
    trainLatentAction(noisy, ds, { checkpointDir: join(root, "noisy-b"), stopAfter: 11 }),
    /stopped|stop/i,
  );
  const b = await trainLatentAction(noisy, ds, {
    checkpointDir: join(root, "noisy-b"),
    resume: true,
  });
  assert.deepEqual(weights(b.model), weights(a.model));
  const clean = loadLatentAction(join(root, "a"));
  assert.notDeepEqual(weights(clean.model), weights(a.model));
  for (const m of [a, b]) disposeLatentAction(m.model, m.usage);
  disposeLatentAction(clean.model);
});
