import assert from "node:assert/strict";
import { join } from "node:path";
import { collectDataset } from "../data/collect.ts";
import { openDataset } from "../data/reader.ts";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { PRETRAIN_PRESETS } from "../train/pretrain_presets.ts";
import { randomEncoder } from "../models/encoder.ts";
import { encoderConfig } from "../train/pretrain.ts";
import {
  encoderSubject,
  pixelSubject,
  probeEncoder,
  probeSplits,
  retrieval,
} from "./encoder_probe.ts";

const dir = join(await Deno.makeTempDir(), "ds");
await collectDataset(dir, {
  seed: 1,
  policy: "random",
  episodes: 6,
  shardFrames: 4096,
  env: { ...CLEANRL_ATARI, id: "native:breakout" },
});
const ds = await openDataset(dir);
const cfg = PRETRAIN_PRESETS.smoke;
const enc = randomEncoder(encoderConfig(cfg, ds.frameShape), cfg.seed);
const opts = { stack: cfg.stack, valFraction: 0.34, seed: 0, maxRows: 300 };

Deno.test("grid features keep where the paddle is, which the mean of the tokens loses", () => {
  const r2 = (features: "pooled" | "grid") =>
    probeEncoder(enc, ds, { ...opts, features }).results.find((r) => r.variable === "paddleX")!
      .r2;
  const [pooled, grid] = [r2("pooled"), r2("grid")];
  assert.ok(grid > 0.8, `grid R^2 ${grid}`);
  assert.ok(grid > pooled + 0.2, `grid ${grid} vs pooled ${pooled}`);
});

Deno.test("grid features: tokens x components columns, projection fitted on training rows", () => {
  const [train, test] = probeSplits(enc, ds, { ...opts, features: "grid", gridComponents: 8 });
  assert.equal(train.d, 49 * 8);
  assert.equal(test.d, 49 * 8);
  assert.equal(train.x.length, train.n * train.d);
  // Every token of every training frame is centred before projecting: each component averages
  // to zero over them (not per position, whose means differ).
  for (let c = 0; c < 8; c++) {
    let mean = 0;
    for (let r = 0; r < train.n * 49; r++) mean += train.x[r * 8 + c];
    assert.ok(Math.abs(mean / (train.n * 49)) < 1e-3, `component ${c} mean ${mean}`);
  }
});

Deno.test("retrieval returns one labelled neighbour per query and encoder", () => {
  const splits = { random: probeSplits(enc, ds, { ...opts, features: "pooled" }) };
  const r = retrieval(ds, { ...opts, features: "pooled" }, splits, 4);
  assert.equal(r.queries.length, 4);
  assert.equal(r.neighbours.random.length, 4);
  assert.deepEqual(r.size, [84, 84]);
  assert.equal(r.queries[0].length, 84 * 84);
});

Deno.test("the raw-pixel baseline: patches as tokens, their mean pooled", () => {
  const pixels = pixelSubject(ds.frameShape, cfg.stack, 12);
  assert.equal(pixels.tokens, 49);
  assert.equal(pixels.width, 12 * 12 * 4);
  const frames = new Uint8Array(84 * 84 * 4).fill(51);
  const tokens = pixels.embed(frames, 1, "tokens");
  assert.equal(tokens.length, 49 * 576);
  assert.ok(Math.abs(tokens[100] - 0.2) < 1e-6);
  const pooled = pixels.embed(frames, 1, "pooled");
  assert.equal(pooled.length, 576);
  assert.ok(Math.abs(pooled[5] - 0.2) < 1e-6);
  const r2 = probeEncoder(pixels, ds, { ...opts, features: "grid" }).results
    .find((r) => r.variable === "paddleX")!.r2;
  assert.ok(r2 > 0.8, `paddle x from pixels: ${r2}`);
});

Deno.test("a CNN encoder probes its dense output pooled, its last feature map as the grid", () => {
  const cnn = randomEncoder({ arch: "cnn", imageSize: [84, 84], channels: 4, features: 32 }, 0);
  // 84x84 -> 20x20 -> 9x9 -> 7x7 positions of 64 channels, under a 32-wide dense output.
  const subject = encoderSubject(cnn);
  assert.deepEqual([subject.tokens, subject.width, subject.tokenWidth], [49, 32, 64]);
  const few = { ...opts, maxRows: 100 };
  const [pooled] = probeSplits(cnn, ds, { ...few, features: "pooled" });
  assert.equal(pooled.d, 32);
  const [train, test] = probeSplits(cnn, ds, { ...few, features: "grid", gridComponents: 8 });
  assert.equal(train.d, 49 * 8);
  assert.equal(test.x.length, test.n * 49 * 8);
});
