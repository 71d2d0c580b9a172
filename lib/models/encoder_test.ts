import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { flattenParams } from "../nn/params.ts";
import type { VitConfig } from "../nn/vit.ts";
import { initBackend } from "../tensor/backend.ts";
import { encodeSafetensors } from "../tensor/checkpoint.ts";
import { embedFrames, ENCODER_FILE, loadEncoder, randomEncoder, saveEncoder } from "./encoder.ts";

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
