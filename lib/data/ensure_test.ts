import assert from "node:assert/strict";
import { readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CLEANRL_ATARI } from "../envs/make.ts";
import type { OnStep } from "../run/progress.ts";
import { type CollectConfig, collectDataset } from "./collect.ts";
import { ensureDataset } from "./ensure.ts";
import { openDataset } from "./reader.ts";
import { withTempDir } from "./synthetic_testing.ts";

/** Short games of small frames: a collection takes milliseconds. */
const SPEC: CollectConfig = {
  seed: 0,
  policy: "random",
  episodes: 1,
  shardFrames: 4096,
  env: { ...CLEANRL_ATARI, id: "native:breakout", resize: [16, 16], maxEpisodeSteps: 40 },
};

/** `ensureDataset` with its log lines collected. */
async function ensure(dir: string, spec: CollectConfig, onStep?: OnStep) {
  const lines: string[] = [];
  const ds = await ensureDataset(dir, spec, { log: (line) => lines.push(line), onStep });
  return { ds, lines, collected: lines.some((line) => line.startsWith("collecting ")) };
}

const manifestOf = async (dir: string) =>
  JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));

Deno.test("ensureDataset collects once; a second call with the same spec opens it as it is", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "ds");
    let progress = 0;
    const first = await ensure(dir, SPEC, () => progress++);
    assert.ok(first.collected, first.lines.join("\n"));
    assert.equal(progress, 1);
    const mtime = (await stat(join(dir, "manifest.json"))).mtimeMs;
    // Same spec, built in another key order: still the same dataset.
    const { env, ...rest } = SPEC;
    const second = await ensure(dir, { env: { ...env }, ...rest }, () => progress++);
    assert.ok(!second.collected, second.lines.join("\n"));
    assert.match(second.lines.join("\n"), /dataset .*ds is current: \d+ frames, 1 episodes/);
    assert.equal(progress, 1, "no progress reported when nothing is collected");
    assert.equal((await stat(join(dir, "manifest.json"))).mtimeMs, mtime);
    assert.equal(second.ds.manifest.meta.createdAt, first.ds.manifest.meta.createdAt);
    // The manifest records the request, and the frames are those collectDataset writes.
    assert.deepEqual(first.ds.manifest.meta.collect, SPEC);
    await collectDataset(join(root, "direct"), SPEC);
    const direct = await openDataset(join(root, "direct"));
    assert.deepEqual(
      first.ds.manifest.shards.map((s) => s.sha256),
      direct.manifest.shards.map((s) => s.sha256),
    );
  });
});

Deno.test("ensureDataset collects again when the spec changes, naming the field that differs", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "ds");
    await ensure(dir, SPEC);
    const changes: [CollectConfig, RegExp][] = [
      [{ ...SPEC, episodes: 2 }, /with episodes=1 \(requested 2\): collecting again$/],
      [{ ...SPEC, episodes: 2, seed: 1 }, /with seed=0 \(requested 1\): collecting again$/],
      [
        { ...SPEC, episodes: 2, seed: 1, env: { ...SPEC.env, id: "native:pong" } },
        /with env\.id=native:breakout \(requested native:pong\): collecting again$/,
      ],
      [
        {
          ...SPEC,
          episodes: 2,
          seed: 1,
          env: { ...SPEC.env, id: "native:pong" },
          explore: { prob: 0.5, hold: [2, 4] },
        },
        /with explore=none \(requested \{"hold":\[2,4\],"prob":0\.5\}\): collecting again$/,
      ],
    ];
    for (const [spec, reason] of changes) {
      const changed = await ensure(dir, spec);
      assert.ok(changed.collected, changed.lines.join("\n"));
      assert.match(changed.lines[0], reason);
      assert.deepEqual(changed.ds.manifest.meta.collect, spec);
      assert.equal(changed.ds.episodes().length, spec.episodes);
      assert.equal(changed.ds.manifest.env, spec.env.id);
      assert.ok(!(await ensure(dir, spec)).collected, "current after collecting");
    }
    assert.deepEqual(await readdir(root), ["ds"], "no staging directories left behind");
  });
});

Deno.test("ensureDataset collects again a dataset with a truncated frames shard", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "ds");
    const { ds } = await ensure(dir, SPEC);
    const shards = ds.manifest.shards.map((s) => s.sha256);
    await truncate(join(dir, "frames-00000.u8"), 100);
    const again = await ensure(dir, SPEC);
    assert.ok(again.collected);
    assert.match(
      again.lines[0],
      /ds fails validation \(.*frames-00000\.u8: truncated shard: 100 bytes.*\): collecting again/,
    );
    assert.deepEqual(again.ds.manifest.shards.map((s) => s.sha256), shards);
  });
});

Deno.test("ensureDataset collects again a dataset that records no collection spec", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "ds");
    await ensure(dir, SPEC);
    // What an older collector wrote: provenance, but not the whole request.
    const manifest = await manifestOf(dir);
    delete manifest.meta.collect;
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    const again = await ensure(dir, SPEC);
    assert.ok(again.collected);
    assert.match(again.lines[0], /records no collection spec .*: collecting again/);
    assert.deepEqual(again.ds.manifest.meta.collect, SPEC);
  });
});

Deno.test("ensureDataset leaves nothing half-written when collection throws", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "ds");
    const fail = () => {
      throw new Error("interrupted");
    };
    // Nothing there: nothing is left.
    await assert.rejects(ensure(dir, SPEC, fail), /interrupted/);
    assert.deepEqual(await readdir(root), []);
    // A different dataset there: it stays, whole, until a finished one replaces it.
    const { ds } = await ensure(dir, SPEC);
    await assert.rejects(ensure(dir, { ...SPEC, seed: 9 }, fail), /interrupted/);
    assert.deepEqual(await readdir(root), ["ds"]);
    assert.deepEqual((await openDataset(dir)).manifest, ds.manifest);
    // A damaged dataset there: it is removed first, and nothing is left.
    await truncate(join(dir, "frames-00000.u8"), 10);
    await assert.rejects(ensure(dir, SPEC, fail), /interrupted/);
    assert.deepEqual(await readdir(root), []);
  });
});

Deno.test("ensureDataset never removes a directory that holds other files", async () => {
  await withTempDir(async (root) => {
    await writeFile(join(root, "notes.txt"), "keep me");
    await assert.rejects(ensure(root, SPEC), /is not a dataset; refusing to replace it/);
    // A manifest that will not parse beside a file of the user's: still kept.
    await writeFile(join(root, "manifest.json"), "{oops");
    await assert.rejects(ensure(root, SPEC), /is not a dataset; refusing to replace it/);
    assert.deepEqual((await readdir(root)).sort(), ["manifest.json", "notes.txt"]);
  });
});
