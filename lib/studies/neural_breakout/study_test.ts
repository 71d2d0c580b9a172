import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { collectDataset } from "../../data/collect.ts";
import { openDataset } from "../../data/reader.ts";
import { CLEANRL_ATARI } from "../../envs/make.ts";
import { RunDir } from "../../run/run_dir.ts";
import { initBackend } from "../../tensor/backend.ts";
import { disposeLatentAction } from "../../train/latent_action.ts";
import {
  NEURAL_BREAKOUT_PRESETS,
  type NeuralBreakoutConfig,
  runNeuralBreakoutStudy,
  writeNeuralReport,
} from "./mod.ts";

await initBackend({ backend: "cpu" });

Deno.test("the neural-Breakout study trains, evaluates against its baselines, reports, and loads a finished run", async () => {
  const root = await Deno.makeTempDir();
  const smoke = NEURAL_BREAKOUT_PRESETS.smoke;
  const cfg: NeuralBreakoutConfig = {
    ...smoke,
    model: {
      ...smoke.model,
      train: { ...smoke.model.train, steps: 6, checkpointEvery: 6 },
      eval: { rows: 16, horizon: 3, deltaAt: 2 },
    },
    mapping: { rows: 200 },
    report: { gifSteps: 2 },
  };
  await collectDataset(join(root, "ds"), {
    seed: 1,
    policy: "random",
    episodes: 3,
    shardFrames: 4096,
    env: { ...CLEANRL_ATARI, maxEpisodeSteps: 80 },
  });
  const ds = await openDataset(join(root, "ds"));
  const dir = join(root, "run");
  const before = tf.memory().numTensors;
  const run = await RunDir.open({ task: "latent-action", config: cfg, dir, resume: true });
  const { result, model } = await runNeuralBreakoutStudy(run, cfg, ds);
  const md = await writeNeuralReport(run, cfg, result, ds, model, "test");
  disposeLatentAction(model);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  const metrics = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8"));
  for (
    const key of [
      "psnr",
      "copyLastPsnr",
      "psnrChanged",
      "copyLastPsnrChanged",
      "ssim",
      "codebookUse",
      "perplexity",
      "codeSpread",
      "deltaPsnr",
    ]
  ) {
    assert.ok(Number.isFinite(metrics[key]), `${key}: ${metrics[key]}`);
  }
  assert.ok(metrics.mappingAccuracy >= 0 && metrics.mappingAccuracy <= 1);
  assert.equal(result.mapping.perAction.length, 4, "Breakout's four actions");
  assert.ok(result.mapping.heldOutRows > 0 && result.mapping.trainRows > 0);
  assert.deepEqual(Object.keys(result.controls!.shifts).sort(), ["FIRE", "LEFT", "NOOP", "RIGHT"]);
  assert.equal(result.evaluation.rollout.length, 3);
  // Copying cannot match a frame that changed exactly: no 100 dB frames in that mean.
  assert.ok(
    metrics.copyLastPsnrChanged < 100 && metrics.copyLastPsnrChanged <= metrics.copyLastPsnr,
  );
  assert.ok(metrics.changedShare > 0 && metrics.changedShare <= 1);
  assert.match(md, /\| next-frame PSNR \(dB\) \| [\d.]+ \| copy last [\d.]+ \|/);
  assert.ok(existsSync(join(dir, "figures", "rollout.gif")));
  assert.ok(existsSync(join(dir, "figures", "rollout_psnr.svg")));
  const logs: string[] = [];
  const again = await RunDir.open({
    task: "latent-action",
    config: cfg,
    dir,
    resume: true,
    echo: (l) => logs.push(l),
  });
  const second = await runNeuralBreakoutStudy(again, cfg, ds);
  disposeLatentAction(second.model);
  assert.ok(logs.some((l) => l.includes("finished earlier, loaded")));
  assert.deepEqual(second.result.metrics, result.metrics, "a loaded run evaluates the same");
  await Deno.remove(root, { recursive: true });
});
