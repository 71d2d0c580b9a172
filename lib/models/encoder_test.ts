import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { flattenParams } from "../nn/params.ts";
import type { VitConfig } from "../nn/vit.ts";
import { initBackend } from "../tensor/backend.ts";
import { encodeSafetensors } from "../tensor/checkpoint.ts";
import { natureCnn, natureCnnFeatureMap } from "../nn/cnn.ts";
import {
  type CnnConfig,
  embeddingShape,
  embedFrames,
  ENCODER_FILE,
  encoderArch,
  type EncoderConfig,
  type FrozenEncoder,
  loadEncoder,
  randomEncoder,
  requireVit,
  saveEncoder,
} from "./encoder.ts";

await initBackend({ backend: "cpu" });

const CFG: VitConfig = {
  imageSize: [24, 24],
  channels: 2,
  patch: 12,
  width: 8,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  cls: false,
};

/** The smallest kind of Nature CNN input, not square, so that rows and columns can't mix. */
const CNN: CnnConfig = { arch: "cnn", imageSize: [44, 52], channels: 2, features: 16 };

/** `count` deterministic frames of the encoder's input shape. */
function framesFor(cfg: { imageSize: [number, number]; channels: number }, count: number) {
  const [h, w] = cfg.imageSize;
  return Uint8Array.from({ length: count * h * w * cfg.channels }, (_, i) => (i * 37) % 256);
}

/** Frees an encoder's variables. */
function dispose(enc: FrozenEncoder): void {
  tf.dispose(flattenParams(enc.params).map(([, v]) => v));
}

Deno.test("an encoder saved and loaded embeds frames exactly as before", async () => {
  const dir = await Deno.makeTempDir();
  const enc = randomEncoder(CFG, 3);
  await saveEncoder(dir, { ...enc, name: "ijepa" }, { step: 7, source: { method: "ijepa" } });
  const { encoder, record } = loadEncoder(dir);
  assert.equal(encoder.name, "ijepa");
  assert.equal(record.step, 7);
  assert.deepEqual(encoder.cfg, CFG);
  const frames = Uint8Array.from({ length: 3 * 24 * 24 * 2 }, (_, i) => (i * 37) % 256);
  assert.deepEqual(embedFrames(encoder, frames, 3), embedFrames(enc, frames, 3));
  // The file alone works as well as its directory.
  assert.equal(loadEncoder(join(dir, ENCODER_FILE)).record.name, "ijepa");
  tf.dispose(flattenParams(encoder.params).map(([, v]) => v));
});

Deno.test("the random control depends on the seed only", () => {
  const a = flattenParams(randomEncoder(CFG, 1).params)[0][1].dataSync();
  const b = flattenParams(randomEncoder(CFG, 1).params)[0][1].dataSync();
  const c = flattenParams(randomEncoder(CFG, 2).params)[0][1].dataSync();
  assert.deepEqual(Array.from(a), Array.from(b));
  assert.notDeepEqual(Array.from(a), Array.from(c));
});

/** Replaces `from` by `to` (same length) in a file's bytes: its header, for these tests. */
function patch(file: string, from: string, to: string): void {
  assert.equal(from.length, to.length);
  const text = readFileSync(file).toString("latin1");
  assert.ok(text.includes(from), from);
  writeFileSync(file, Buffer.from(text.replace(from, to), "latin1"));
}

Deno.test("a bad encoder artifact is an error naming the file and what was expected", async () => {
  const dir = await Deno.makeTempDir();
  assert.throws(() => loadEncoder(dir), /encoder\.safetensors: no encoder artifact here/);

  const file = join(dir, ENCODER_FILE);
  writeFileSync(file, encodeSafetensors([["x", new Float32Array(1), [1]]]));
  assert.throws(() => loadEncoder(dir), /encoder\.safetensors: not an encoder artifact/);

  await saveEncoder(dir, randomEncoder(CFG, 0), { step: 2 });
  // Another shape's config over these weights: names and shapes are checked.
  const wide = { ...randomEncoder({ ...CFG, width: 12 }, 0), name: "wide" };
  const other = await Deno.makeTempDir();
  await saveEncoder(other, wide, { step: 2 });
  patch(join(other, ENCODER_FILE), '\\"width\\":12', '\\"width\\":8 ');
  assert.throws(() => loadEncoder(other), /does not fit the model .*patch\.w: \[288,12\] in file/);

  // A config with a field of the wrong type.
  patch(file, '\\"cls\\":false', '\\"cls\\":0    ');
  assert.throws(() => loadEncoder(dir), /encoder config field 'cls' must be true or false/);

  // An artifact of another step than the checkpoint beside it.
  await saveEncoder(dir, randomEncoder(CFG, 0), { step: 2 });
  writeFileSync(join(dir, "latest.json"), JSON.stringify({ step: 4 }));
  assert.throws(
    () => loadEncoder(dir),
    /written at step 2, but the checkpoint beside it is at step 4/,
  );
});

Deno.test("a CNN encoder saved and loaded embeds frames bit for bit as before", async () => {
  const dir = await Deno.makeTempDir();
  const enc = randomEncoder(CNN, 3);
  await saveEncoder(dir, { ...enc, name: "ppo-cnn" }, { step: 5 });
  const { encoder, record } = loadEncoder(dir);
  assert.equal(record.kind, "cnn");
  // The tag is the record's kind alone: the stored config holds the shape fields.
  assert.deepEqual(record.config, { imageSize: [44, 52], channels: 2, features: 16 });
  assert.deepEqual(encoder.cfg, CNN);
  assert.equal(encoder.name, "ppo-cnn");
  const frames = framesFor(CNN, 3);
  for (const embedding of ["pooled", "tokens"] as const) {
    assert.deepEqual(
      embedFrames(encoder, frames, 3, 2, embedding),
      embedFrames(enc, frames, 3, 2, embedding),
    );
  }
  dispose(encoder);
  dispose(enc);
});

Deno.test("a CNN's embeddings: its dense output, and its last feature map by position", () => {
  const enc = randomEncoder(CNN, 1);
  // 44x52 -> 10x12 -> 4x5 -> 2x3 positions of 64 channels.
  assert.deepEqual(embeddingShape(CNN), { width: 16, rows: 2, cols: 3, tokens: 6, tokenWidth: 64 });
  const n = 5;
  const frames = framesFor(CNN, n);
  const pooled = embedFrames(enc, frames, n, 2);
  const tokens = embedFrames(enc, frames, n, 2, "tokens");
  assert.equal(pooled.length, n * 16);
  assert.equal(tokens.length, n * 6 * 64);
  // Chunks change nothing.
  assert.deepEqual(embedFrames(enc, frames, n, 128), pooled);
  assert.deepEqual(embedFrames(enc, frames, n, 128, "tokens"), tokens);
  // The same network on float frames in [0, 1]: token (y * cols + x) of frame i is the map's
  // [i, y, x, :], and pooled is the network's output.
  const x = tf.tidy(() => tf.tensor4d(frames, [n, 44, 52, 2], "float32").div(255) as tf.Tensor4D);
  const [map, out] = tf.tidy(() => [natureCnnFeatureMap(enc.params, x), natureCnn(enc.params, x)]);
  const close = (a: Float32Array, b: Float32Array) =>
    a.every((v, i) => Math.abs(v - b[i]) <= 1e-5 * (1 + Math.abs(b[i])));
  assert.deepEqual(map.shape, [n, 2, 3, 64]);
  assert.ok(close(tokens, map.dataSync() as Float32Array));
  assert.ok(close(pooled, out.dataSync() as Float32Array));
  assert.ok(tokens.some((v) => v > 0), "the feature map is not all zero");
  tf.dispose([x, map, out]);
  dispose(enc);
});

Deno.test("embedding leaves no tensors behind, for either architecture and readout", () => {
  for (const cfg of [CFG, CNN] as EncoderConfig[]) {
    const enc = randomEncoder(cfg, 0);
    const frames = framesFor(cfg, 5);
    const before = tf.memory().numTensors;
    embedFrames(enc, frames, 5, 2);
    embedFrames(enc, frames, 5, 2, "tokens");
    assert.equal(tf.memory().numTensors, before, encoderArch(cfg));
    dispose(enc);
  }
});

Deno.test("the random CNN control depends on the seed only", () => {
  const first = (seed: number) => {
    const enc = randomEncoder(CNN, seed);
    const values = Array.from(flattenParams(enc.params)[0][1].dataSync());
    dispose(enc);
    return values;
  };
  assert.deepEqual(first(1), first(1));
  assert.notDeepEqual(first(1), first(2));
});

Deno.test("callers that need a ViT reject a CNN by name", () => {
  const enc = randomEncoder(CNN, 0);
  assert.throws(
    () => requireVit(enc, "the pixel decoder"),
    /the pixel decoder needs a ViT encoder, but random is a Nature CNN/,
  );
  const vit = randomEncoder(CFG, 0);
  assert.equal(requireVit(vit, "the pixel decoder"), vit);
  dispose(enc);
  dispose(vit);
});

Deno.test("the architecture tag: untagged loads as a ViT, a bad one names file and field", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, ENCODER_FILE);
  // An artifact without `kind` (the same bytes, the tag blanked): a ViT.
  await saveEncoder(dir, randomEncoder(CFG, 0), { step: 2 });
  patch(file, '\\"kind\\":\\"vit\\",', " ".repeat(17));
  const old = loadEncoder(dir);
  assert.deepEqual(old.encoder.cfg, CFG);
  assert.equal(old.record.kind, "vit");
  dispose(old.encoder);

  await saveEncoder(dir, randomEncoder(CFG, 0), { step: 2 });
  patch(file, '\\"kind\\":\\"vit\\"', '\\"kind\\":\\"rnn\\"');
  assert.throws(
    () => loadEncoder(dir),
    /encoder\.safetensors: encoder record field 'kind' must be "vit" or "cnn" .*got "rnn"/,
  );
  await saveEncoder(dir, randomEncoder(CFG, 0), { step: 2 });
  patch(file, '\\"kind\\":\\"vit\\"', '\\"kind\\":7      ');
  assert.throws(() => loadEncoder(dir), /encoder record field 'kind' must be .*got 7/);

  // A ViT's config under a CNN tag: the CNN's fields are missing.
  await saveEncoder(dir, randomEncoder(CFG, 0), { step: 2 });
  patch(file, '\\"kind\\":\\"vit\\"', '\\"kind\\":\\"cnn\\"');
  assert.throws(
    () => loadEncoder(dir),
    /encoder\.safetensors: encoder config field 'features' must be a positive integer, got undefined/,
  );
  // A CNN config too small for the network, and one with a bad field.
  await saveEncoder(dir, randomEncoder(CNN, 0), { step: 2 });
  patch(file, '\\"imageSize\\":[44,52]', '\\"imageSize\\":[30,52]');
  assert.throws(
    () => loadEncoder(dir),
    /input 30x52 is too small \(encoder config field 'imageSize'\)/,
  );
  await saveEncoder(dir, randomEncoder(CNN, 0), { step: 2 });
  patch(file, '\\"features\\":16', '\\"features\\":-1');
  assert.throws(
    () => loadEncoder(dir),
    /encoder config field 'features' must be a positive integer/,
  );
});
