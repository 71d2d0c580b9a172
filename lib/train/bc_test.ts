import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { writeSyntheticActions } from "../data/synthetic_actions.ts";
import { openDataset } from "../data/reader.ts";
import { allParams, disposeActionJepa } from "../models/action_jepa.ts";
import { initBackend } from "../tensor/backend.ts";
import { type BcConfig, evaluateBc, gazeTargets, splitByTrial, trainBc } from "./bc.ts";

await initBackend({ backend: "cpu" });

const dir = await Deno.makeTempDir();
await writeSyntheticActions(join(dir, "ds"), {
  seed: 1,
  episodes: 8,
  steps: 30,
  size: [36, 36],
  numActions: 4,
  episodesPerTrial: 2,
});
const ds = await openDataset(join(dir, "ds"));

function config(
  loss: BcConfig["model"]["loss"],
  predictor: "mlp" | "residual" | "transformer",
): BcConfig {
  return {
    seed: 0,
    stack: 2,
    valFraction: 0.25,
    model: {
      encoder: { arch: "cnn", features: 32, init: "", frozen: false },
      target: { kind: "mlp", hidden: 16 },
      predictor: { kind: predictor, width: 16, depth: 1, heads: 2 },
      loss,
      embedDim: 16,
      temperature: 0.1,
      masking: { ratio: 0, patch: 6, weight: 0 },
      gaze: { weight: 0 },
    },
    train: {
      steps: 120,
      batchSize: 32,
      lr: 3e-3,
      startLr: 3e-4,
      finalLr: 3e-4,
      warmupSteps: 10,
      weightDecay: [0, 0],
      clipGrad: 1,
      checkpointEvery: 60,
      earlyStop: { every: 0, patience: 0 },
    },
  };
}

Deno.test("held-out data is split by trial, never inside one", () => {
  const split = splitByTrial(ds, 0.25, 0);
  assert.equal(split.by, "trial");
  const trialOf = (id: number) =>
    ds.state("trial")[ds.episodes().find((e) => e.episode === id)!.start];
  const held = new Set(split.val.map(trialOf));
  assert.equal(held.size, 1);
  assert.ok(split.train.every((id) => !held.has(trialOf(id))));
  assert.equal(split.train.length + split.val.length, 8);
});

for (
  const [loss, predictor] of [["infonce", "mlp"], ["softmax", "mlp"], ["cosine", "residual"], [
    "mse",
    "transformer",
  ]] as const
) {
  Deno.test(`${loss} with a ${predictor} predictor learns the synthetic actions, far above the baselines`, async () => {
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const { model, split } = await trainBc(config(loss, predictor), ds, 4, {
      checkpointDir: join(dir, `ckpt-${loss}`),
    }, { onStep: () => counts.push(tf.memory().numTensors) });
    const ev = evaluateBc(model, ds, split, 2);
    assert.ok(ev.model.accuracy > 0.8, `${loss}: held-out accuracy ${ev.model.accuracy}`);
    assert.ok(ev.majority.accuracy < 0.45, `majority ${ev.majority.accuracy}`);
    assert.ok(ev.model.mrr > ev.prior.mrr + 0.2);
    // Training keeps the tensor count flat across steps.
    assert.equal(counts[counts.length - 1], counts[10]);
    disposeActionJepa(model);
    assert.equal(tf.memory().numTensors, before);
  });
}

Deno.test("a killed run resumes to the weights of an uninterrupted one (masking on)", async () => {
  const base = config("infonce", "mlp");
  const cfg: BcConfig = {
    ...base,
    model: { ...base.model, masking: { ratio: 0.3, patch: 6, weight: 0.5 } },
    train: { ...base.train, steps: 12, checkpointEvery: 4 },
  };
  const weights = async (name: string, kill: boolean) => {
    const checkpointDir = join(dir, name);
    if (kill) {
      await assert.rejects(() => trainBc(cfg, ds, 4, { checkpointDir, stopAfter: 6 }));
    }
    const { model } = await trainBc(cfg, ds, 4, { checkpointDir, resume: true });
    const values = allParams(model).map(([k, v]) => [k, Array.from(v.dataSync())]);
    disposeActionJepa(model);
    return values;
  };
  assert.deepEqual(await weights("killed", true), await weights("straight", false));
});

Deno.test("gaze supervision on data without gaze is an error naming the dataset", () => {
  assert.throws(
    () => gazeTargets(ds),
    /bc: gaze supervision needs gaze, and .*ds has no state 'gazeX', 'gazeY'/,
  );
});
