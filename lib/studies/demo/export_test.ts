import assert from "node:assert/strict";
import { join } from "node:path";
import { openDataset } from "../../data/reader.ts";
import { DatasetWriter } from "../../data/writer.ts";
import { decodePng } from "../../viz/png.ts";
import { episodeGif, framePng } from "./export.ts";

async function tinyDataset() {
  const dir = join(await Deno.makeTempDir(), "ds");
  const writer = await DatasetWriter.create(dir, {
    env: "test",
    frameShape: [4, 3, 1],
    stateKeys: [],
  });
  for (let step = 0; step < 5; step++) {
    writer.add(new Uint8Array(12).fill(step * 50), {
      episode: step < 3 ? 0 : 1,
      step: step < 3 ? step : step - 3,
      action: 0,
      reward: 0,
      terminated: false,
      truncated: false,
      lives: 0,
      state: {},
    });
  }
  await writer.finish();
  return openDataset(dir);
}

Deno.test("a frame exports to a PNG with the stored pixels, scaled", async () => {
  const ds = await tinyDataset();
  const img = decodePng(framePng(ds, 2, { scale: 2 }));
  assert.deepEqual([img.width, img.height, img.channels], [6, 8, 1]);
  assert.ok(img.data.every((v) => v === 100));
  assert.throws(() => framePng(ds, 9), /frame 9 is out of range \(0\.\.4\)/);
});

Deno.test("an episode exports to a GIF with one frame per step", async () => {
  const ds = await tinyDataset();
  const gif = episodeGif(ds, 1, { scale: 1 });
  assert.equal(new TextDecoder().decode(gif.subarray(0, 6)), "GIF89a");
  assert.throws(() => episodeGif(ds, 7), /no episode 7 in the dataset \(episodes: 0, 1\)/);
});
