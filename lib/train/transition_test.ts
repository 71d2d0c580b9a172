import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { collectDataset } from "../data/collect.ts";
import { openDataset } from "../data/reader.ts";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { flattenParams } from "../nn/params.ts";
import { vicregVariance } from "../ssl/vicreg.ts";
import { embedPatches } from "../models/vicreg_jepa.ts";
import { newestFrame } from "../models/next_frame.ts";
import {
  evaluateTransitionModel,
  heldOutTransitions,
  initTransitionModel,
  loadTransitionModel,
  trainTransitionModel,
  type TransitionConfig,
} from "./transition.ts";
import { TRANSITION_PRESETS } from "./transition_presets.ts";
import { vitGrid } from "../nn/vit.ts";
import { transitionEncoder } from "./transition.ts";

await tf.setBackend("cpu");
const root = await Deno.makeTempDir();
await collectDataset(join(root, "ds"), {
  seed: 2,
  policy: "random",
  episodes: 4,
  shardFrames: 4096,
  env: { ...CLEANRL_ATARI, id: "native:breakout" },
});
const ds = await openDataset(join(root, "ds"));
const smoke = TRANSITION_PRESETS.smoke;
const cfg: TransitionConfig = {
  ...smoke,
  valFraction: 0.25,
  encoder: { ...smoke.encoder, width: 16, heads: 2 },
  predictorHidden: 32,
  decoder: { width: 16, depth: 1, heads: 2, mlpRatio: 2 },
  train: { ...smoke.train, steps: 16, batchSize: 16, checkpointEvery: 8, monitorEvery: 8 },
  evalRows: 64,
};

Deno.test("each method's loss falls, and tensors stay flat across steps", async () => {
  const runs = [
    ["vicreg", cfg],
    ["vicreg", { ...cfg, vicreg: { ...cfg.vicreg, over: "tokens" } }],
    ["ema-only", cfg],
    ["pixel", cfg],
  ] as const;
  for (const [method, config] of runs) {
    const losses: number[] = [];
    const counts: number[] = [];
    const dir = join(root, `loss-${method}-${config.vicreg.over}`);
    await trainTransitionModel(config, method, ds, { checkpointDir: dir }, {
      onStep: (s) => {
        losses.push(s.values.loss);
        counts.push(tf.memory().numTensors);
      },
    });
    const head = (losses[0] + losses[1] + losses[2]) / 3;
    const tail = (losses.at(-1)! + losses.at(-2)! + losses.at(-3)!) / 3;
    assert.ok(tail < head, `${method}: loss ${head} -> ${tail}`);
    assert.equal(counts.at(-1), counts[2], `${method}: tensors ${counts.join(",")}`);
  }
});

Deno.test("the VICReg terms keep the online embeddings spread; without them they are not", async () => {
  const spread: Record<string, number> = {};
  for (const method of ["vicreg", "ema-only"] as const) {
    const { model } = await trainTransitionModel(cfg, method, ds, {
      checkpointDir: join(root, `spread-${method}`),
    });
    if (model.method === "pixel") throw new Error("unreachable");
    const batch = heldOutTransitions(ds, cfg);
    const { tokens, patchDim } = vitGrid(transitionEncoder(cfg, ds.frameShape));
    spread[method] = tf.tidy(() =>
      vicregVariance(
        embedPatches(
          model.model,
          model.model.online,
          tf.tensor3d(batch.now, [batch.b, tokens, patchDim]),
        ),
      ).dataSync()[0]
    );
  }
  // The variance hinge (1 - std, averaged) is what VICReg minimises: lower means more spread.
  assert.ok(spread.vicreg < spread["ema-only"], JSON.stringify(spread));
});

Deno.test("a run stopped mid-way and resumed ends with the uninterrupted run's weights", async () => {
  const straight = await trainTransitionModel(cfg, "vicreg", ds, {
    checkpointDir: join(root, "straight"),
  });
  await assert.rejects(() =>
    trainTransitionModel(cfg, "vicreg", ds, { checkpointDir: join(root, "killed"), stopAfter: 11 })
  );
  await trainTransitionModel(cfg, "vicreg", ds, {
    checkpointDir: join(root, "killed"),
    resume: true,
  });
  const a = loadTransitionModel(join(root, "straight"));
  const b = loadTransitionModel(join(root, "killed"));
  const values = (m: typeof a) =>
    m.method === "pixel" ? [] : flattenParams(m.model.online).map(([, v]) => v.dataSync());
  assert.deepEqual(values(a), values(b));
  void straight;
});

Deno.test("evaluation: relative errors, collapse stats, and PSNR for the pixel model", async () => {
  const { model } = await trainTransitionModel(cfg, "pixel", ds, {
    checkpointDir: join(root, "eval-pixel"),
  });
  const ev = evaluateTransitionModel(cfg, ds, model);
  assert.equal(ev.rows, 64);
  assert.ok(Number.isFinite(ev.latentError) && ev.latentError > 0);
  assert.ok(ev.copyPsnr! > 20, `copying the last frame is already close: ${ev.copyPsnr}`);
  // The decoder predicts the change from the last frame, so it starts near copying it.
  assert.ok(ev.psnr! > 20, `psnr ${ev.psnr} (copy ${ev.copyPsnr})`);
  assert.ok(ev.effectiveRank >= 1 && ev.effectiveRank <= 16);
});

Deno.test("the pixel model's residual base is the newest frame of s_t, exactly", () => {
  const m = initTransitionModel(cfg, "pixel", ds.frameShape, 4);
  if (m.method !== "pixel") throw new Error("unreachable");
  const batch = heldOutTransitions(ds, cfg);
  const { tokens, patchDim } = vitGrid(transitionEncoder(cfg, ds.frameShape));
  const p = cfg.encoder.patch;
  const got = tf.tidy(() =>
    newestFrame(m.model, tf.tensor3d(batch.now, [batch.b, tokens, patchDim])).dataSync()
  );
  assert.equal(got.length, batch.b * tokens * p * p);
  assert.deepEqual(Array.from(got), Array.from(batch.lastFrame));
});
