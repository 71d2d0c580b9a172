import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pl from "nodejs-polars";
import { openDataset } from "./reader.ts";
import { frameOf, STATE_KEYS, withDataset } from "./synthetic_testing.ts";

async function editManifest(path: string, edit: (m: Record<string, unknown>) => void) {
  const file = join(path, "manifest.json");
  const manifest = JSON.parse(await readFile(file, "utf8"));
  edit(manifest);
  await writeFile(file, JSON.stringify(manifest));
}

Deno.test("dataset round trip: frames, rows and manifest across shards and episodes", async () => {
  await withDataset(async (path, rows) => {
    const ds = await openDataset(path);
    const m = ds.manifest;
    assert.equal(m.format, "jepa-atari-dataset");
    assert.equal(m.version, 1);
    assert.equal(m.env, "native:test");
    assert.deepEqual(m.frameShape, [4, 3, 2]);
    assert.deepEqual([m.numSteps, m.numEpisodes, m.shardFrames], [35, 5, 7]);
    assert.deepEqual(m.shards.map((s) => [s.file, s.numFrames, s.bytes]), [
      ["frames-00000.u8", 7, 168],
      ["frames-00001.u8", 7, 168],
      ["frames-00002.u8", 7, 168],
      ["frames-00003.u8", 7, 168],
      ["frames-00004.u8", 7, 168],
    ]);
    assert.deepEqual(m.steps.rows, 35);
    assert.deepEqual(m.columns, [
      "episode",
      "step",
      "action",
      "reward",
      "terminated",
      "truncated",
      "lives",
      "state_ballX",
      "state_paddleX",
    ]);
    assert.deepEqual(m.stateKeys, STATE_KEYS);
    assert.equal(m.meta.seed, 7);
    assert.equal(typeof m.meta.createdAt, "string");
    assert.equal(ds.numFrames, 35);
    for (let i = 0; i < rows.length; i++) {
      assert.deepEqual(ds.frame(i), frameOf(i), `frame ${i}`);
      assert.deepEqual(ds.row(i), rows[i], `row ${i}`);
    }
    assert.deepEqual(ds.episodes(), [
      { episode: 10, start: 0, length: 5 },
      { episode: 13, start: 5, length: 9 },
      { episode: 16, start: 14, length: 3 },
      { episode: 19, start: 17, length: 12 },
      { episode: 22, start: 29, length: 6 },
    ]);
    assert.ok(ds.column("episode") instanceof Int32Array);
    assert.ok(ds.column("reward") instanceof Float32Array);
    assert.ok(ds.column("terminated") instanceof Uint8Array);
    assert.ok(ds.state("ballX") instanceof Float64Array);
    assert.throws(() => ds.column("nope"), /no column "nope"; columns: episode, step/);
    assert.throws(() => ds.frame(35), /row 35 out of range/);
  });
});

Deno.test("openDataset names the manifest and the problem", async () => {
  await withDataset(async (path) => {
    await editManifest(path, (m) => (m.version = 2));
    await assert.rejects(openDataset(path), /manifest\.json: unsupported version 2/);
    await editManifest(path, (m) => (m.format = "something-else"));
    await assert.rejects(openDataset(path), /manifest\.json: format is "something-else"/);
    await writeFile(join(path, "manifest.json"), "{not json");
    await assert.rejects(openDataset(path), /manifest\.json: not valid JSON/);
    await unlink(join(path, "manifest.json"));
    await assert.rejects(openDataset(path), /manifest\.json: missing manifest/);
  });
});

Deno.test("openDataset detects a truncated shard", async () => {
  await withDataset(async (path) => {
    await truncate(join(path, "frames-00001.u8"), 100);
    await assert.rejects(
      openDataset(path, { verify: false }),
      /frames-00001\.u8: truncated shard: 100 bytes, expected 168 \(7 frames x 24 bytes\)/,
    );
  });
});

Deno.test("openDataset detects a missing shard", async () => {
  await withDataset(async (path) => {
    await unlink(join(path, "frames-00003.u8"));
    await assert.rejects(openDataset(path), /frames-00003\.u8: missing shard/);
  });
});

Deno.test("openDataset detects a flipped byte by checksum, unless verify is off", async () => {
  await withDataset(async (path) => {
    const file = join(path, "frames-00002.u8");
    const bytes = await readFile(file);
    bytes[50] ^= 1;
    await writeFile(file, bytes);
    await assert.rejects(openDataset(path), /frames-00002\.u8: checksum mismatch: sha256 is/);
    const unverified = await openDataset(path, { verify: false });
    assert.notDeepEqual(unverified.frame(16), frameOf(16)); // byte 50 of shard 2 is in frame 16
  });
});

Deno.test("openDataset detects a missing steps column and names the expected ones", async () => {
  await withDataset(async (path) => {
    const file = join(path, "steps.parquet");
    pl.readParquet(file).drop("state_ballX").writeParquet(file);
    // With verify on, the rewritten table fails its checksum first.
    await assert.rejects(openDataset(path), /steps\.parquet: checksum mismatch/);
    await assert.rejects(
      openDataset(path, { verify: false }),
      /steps\.parquet: missing column "state_ballX"; expected columns: episode, step, action, reward, terminated, truncated, lives, state_ballX, state_paddleX/,
    );
  });
});

Deno.test("openDataset detects a row count that disagrees with the manifest", async () => {
  await withDataset(async (path) => {
    const file = join(path, "steps.parquet");
    pl.readParquet(file).head(30).writeParquet(file);
    await assert.rejects(
      openDataset(path, { verify: false }),
      /steps\.parquet: has 30 rows, manifest says 35/,
    );
  });
});

Deno.test("openDataset refuses a manifest whose file names lead out of the dataset", async () => {
  await withDataset(async (path) => {
    await editManifest(path, (m) => {
      (m.shards as { file: string }[])[1].file = "../frames-00001.u8";
    });
    await assert.rejects(
      openDataset(path),
      /manifest\.json: shard file "\.\.\/frames-00001\.u8" is not a shard name \(frames-NNNNN\.u8\)/,
    );
    await editManifest(path, (m) => {
      (m.shards as { file: string }[])[1].file = "frames-00001.u8";
      (m.steps as { file: string }).file = "/etc/passwd";
    });
    await assert.rejects(openDataset(path), /manifest\.json: steps file "\/etc\/passwd"/);
  });
});

Deno.test("gzip shards read back as the raw frames, and damage to them is named", async () => {
  await withDataset(async (path, rows) => {
    const ds = await openDataset(path);
    assert.equal(ds.manifest.compression, "gzip");
    assert.deepEqual(ds.manifest.shards.map((s) => s.file), [
      "frames-00000.u8.gz",
      "frames-00001.u8.gz",
      "frames-00002.u8.gz",
      "frames-00003.u8.gz",
      "frames-00004.u8.gz",
    ]);
    rows.forEach((_, i) => assert.deepEqual(ds.frame(i), frameOf(i), `frame ${i}`));
    const file = join(path, "frames-00001.u8.gz");
    const { size } = await stat(file);
    assert.equal(ds.manifest.shards[1].bytes, size);
    // A gzip shard of one frame too few, listed with its true size and checksum: only its frame
    // count can tell.
    const raw = new Uint8Array(6 * 24);
    for (let f = 0; f < 6; f++) raw.set(frameOf(7 + f), f * 24);
    const short = gzipSync(raw);
    await writeFile(file, short);
    await editManifest(path, (m) => {
      const shard = (m.shards as { bytes: number; sha256: string }[])[1];
      shard.bytes = short.length;
      shard.sha256 = createHash("sha256").update(short).digest("hex");
    });
    const unzipped = await openDataset(path);
    assert.throws(
      () => unzipped.frame(7),
      /frames-00001\.u8\.gz: holds 144 bytes once unzipped, expected 168 \(7 frames x 24 bytes\)/,
    );
    await truncate(file, 20);
    await assert.rejects(
      openDataset(path, { verify: false }),
      new RegExp(
        `frames-00001\\.u8\\.gz: truncated shard: 20 bytes, expected ${short.length} \\(gzip of 7 frames\\)`,
      ),
    );
    await editManifest(path, (m) => ((m.shards as { bytes: number }[])[1].bytes = 20));
    const cut = await openDataset(path, { verify: false });
    assert.throws(() => cut.frame(8), /frames-00001\.u8\.gz: not a valid gzip shard/);
    await editManifest(path, (m) => (m.compression = "zstd"));
    await assert.rejects(openDataset(path), /compression is "zstd", expected "gzip" or none/);
  }, "gzip");
});
