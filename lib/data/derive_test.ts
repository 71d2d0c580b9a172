import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { type CollectConfig, collectDataset } from "./collect.ts";
import { derivedFrameShape, ensureDerivedDataset, type FrameTransform } from "./derive.ts";
import { openDataset } from "./reader.ts";
import { withTempDir } from "./synthetic_testing.ts";

/** One short game; `gray`/`resize` pick the frames (no max-pool: a recording has single screens). */
function spec(grayscale: boolean, resize: [number, number] | null): CollectConfig {
  return {
    seed: 3,
    policy: "random",
    episodes: 2,
    shardFrames: 4096,
    env: {
      ...CLEANRL_ATARI,
      id: "native:breakout",
      maxPool: false,
      grayscale,
      resize,
      maxEpisodeSteps: 30,
    },
  };
}

const GRAY_84: FrameTransform = { grayscale: true, resize: [84, 84] };

Deno.test("a full-screen RGB recording derived to gray 84x84 has the frames the env gives its agents, and every row", async () => {
  await withTempDir(async (root) => {
    await collectDataset(join(root, "rgb"), spec(false, null));
    await collectDataset(join(root, "gray"), spec(true, [84, 84]));
    const rgb = await openDataset(join(root, "rgb"));
    assert.deepEqual(rgb.frameShape, [210, 160, 3]);
    const lines: string[] = [];
    const ds = await ensureDerivedDataset(rgb, GRAY_84, { log: (l) => lines.push(l) });
    const env = await openDataset(join(root, "gray"));
    assert.equal(ds.path, join(root, "rgb-84x84-gray"));
    assert.deepEqual(ds.frameShape, [84, 84, 1]);
    assert.equal(ds.numFrames, env.numFrames);
    for (let i = 0; i < ds.numFrames; i++) {
      assert.deepEqual(ds.frame(i), env.frame(i), `frame ${i}`);
      assert.deepEqual(ds.row(i), rgb.row(i), `row ${i}`);
    }
    assert.ok(lines[0].startsWith(`deriving ${rgb.path} at 84x84x1`), lines[0]);
  });
});

Deno.test("ensureDerivedDataset reuses a current derivation and derives again when the source changes", async () => {
  await withTempDir(async (root) => {
    await collectDataset(join(root, "rgb"), spec(false, null));
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const first = await ensureDerivedDataset(await openDataset(join(root, "rgb")), GRAY_84, {
      log,
    });
    const again = await ensureDerivedDataset(await openDataset(join(root, "rgb")), GRAY_84, {
      log,
    });
    assert.equal(again.path, first.path);
    assert.match(lines[1], /is current$/);
    // Another recording at the same path: its shards' hashes differ, so it is derived again.
    await collectDataset(join(root, "rgb"), { ...spec(false, null), seed: 4 });
    await ensureDerivedDataset(await openDataset(join(root, "rgb")), GRAY_84, { log });
    assert.match(lines[2], /^deriving .* \(it was derived with .*shards/);
    const manifest = JSON.parse(await readFile(join(first.path, "manifest.json"), "utf8"));
    assert.deepEqual(manifest.meta.derivedFrom.transform, GRAY_84);
  });
});

Deno.test("ensureDerivedDataset returns the dataset itself when the transform changes nothing", async () => {
  await withTempDir(async (root) => {
    await collectDataset(join(root, "gray"), spec(true, [84, 84]));
    const ds = await openDataset(join(root, "gray"));
    assert.equal(await ensureDerivedDataset(ds, GRAY_84), ds);
    assert.deepEqual(derivedFrameShape([210, 160, 3], { grayscale: false, resize: null }), [
      210,
      160,
      3,
    ]);
  });
});

Deno.test("a derivation refuses to replace a directory that is not a dataset", async () => {
  await withTempDir(async (root) => {
    await collectDataset(join(root, "rgb"), spec(false, null));
    const dir = join(root, "notes");
    await Deno.mkdir(dir);
    await writeFile(join(dir, "keep.txt"), "mine");
    await assert.rejects(
      ensureDerivedDataset(await openDataset(join(root, "rgb")), GRAY_84, { dir }),
      /notes/,
    );
    assert.equal(await readFile(join(dir, "keep.txt"), "utf8"), "mine");
  });
});
