import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pl from "nodejs-polars";
import type { FrameCompression } from "./format.ts";
import { openDataset } from "./reader.ts";
import {
  frameOf,
  SHAPE,
  SHARD_FRAMES,
  STATE_KEYS,
  syntheticRows,
  withDataset,
  withTempDir,
  writeSynthetic,
} from "./synthetic_testing.ts";
import { DatasetWriter } from "./writer.ts";

Deno.test("steps.parquet stores int32, float32, bool and float64 columns", async () => {
  await withDataset((path) => {
    const df = pl.readParquet(join(path, "steps.parquet"));
    const dtypes = Object.fromEntries(df.columns.map((c) => [c, df.getColumn(c).dtype.variant]));
    assert.deepEqual(dtypes, {
      episode: "Int32",
      step: "Int32",
      action: "Int32",
      reward: "Float32",
      terminated: "Bool",
      truncated: "Bool",
      lives: "Int32",
      state_ballX: "Float64",
      state_paddleX: "Float64",
    });
  });
});

Deno.test("abort leaves no dataset and no staging directory", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "ds");
    const writer = await DatasetWriter.create(path, {
      env: "native:test",
      frameShape: SHAPE,
      stateKeys: STATE_KEYS,
      shardFrames: SHARD_FRAMES,
    });
    syntheticRows([20]).forEach((row, i) => writer.add(frameOf(i), row)); // flushes 2 shards
    await writer.abort();
    await writer.abort(); // idempotent
    assert.deepEqual(await readdir(dir), []);
    assert.throws(() => writer.add(frameOf(0), syntheticRows([1])[0]), /add after finish\/abort/);
  });
});

Deno.test("an existing dataset survives aborted and crashed writers, and a finished one replaces it", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "ds");
    await writeSynthetic(path, [4, 4]);
    const original = await openDataset(path);
    const start = (lengths: number[]) =>
      DatasetWriter.create(path, {
        env: "native:other",
        frameShape: SHAPE,
        stateKeys: STATE_KEYS,
        shardFrames: SHARD_FRAMES,
      }).then((writer) => {
        syntheticRows(lengths).forEach((row, i) => writer.add(frameOf(100 + i), row));
        return writer;
      });
    const aborted = await start([10]);
    await aborted.abort();
    // A crash: the process dies before finish(); the writer is simply never finished.
    const crashed = await start([10]);
    const kept = await openDataset(path);
    assert.deepEqual(kept.manifest, original.manifest);
    assert.deepEqual(kept.frame(7), frameOf(7));

    const replacing = await start([3, 2]);
    await replacing.finish();
    const replaced = await openDataset(path);
    assert.equal(replaced.manifest.env, "native:other");
    assert.equal(replaced.numFrames, 5);
    assert.deepEqual(replaced.frame(0), frameOf(100));
    // Only the crashed writer's hidden staging directory is left beside the dataset.
    const names = await readdir(dir);
    assert.equal(names.length, 2);
    assert.ok(names.some((n) => n.startsWith(".ds.partial-")), names.join(", "));
    await crashed.abort();
    assert.deepEqual(await readdir(dir), ["ds"]);
  });
});

Deno.test("DatasetWriter.create refuses to replace a directory that is not a dataset", async () => {
  await withTempDir(async (dir) => {
    const opts = { env: "native:test", frameShape: SHAPE, stateKeys: STATE_KEYS };
    await writeFile(join(dir, "notes.txt"), "keep me");
    await assert.rejects(DatasetWriter.create(dir, opts), /is not a dataset; refusing/);
    await Deno.mkdir(join(dir, "empty"));
    await (await DatasetWriter.create(join(dir, "empty"), opts)).abort();
  });
});

Deno.test("DatasetWriter.add rejects wrong frame sizes, missing state and split episodes", async () => {
  await withTempDir(async (dir) => {
    const writer = await DatasetWriter.create(join(dir, "ds"), {
      env: "native:test",
      frameShape: SHAPE,
      stateKeys: STATE_KEYS,
    });
    const [row] = syntheticRows([1]);
    assert.throws(
      () => writer.add(new Uint8Array(5), row),
      /frame has 5 bytes, expected 4x3x2 = 24/,
    );
    assert.throws(
      () => writer.add(frameOf(0), { ...row, state: { ballX: 1 } }),
      /has no state "paddleX"/,
    );
    writer.add(frameOf(0), { ...row, episode: 1 });
    writer.add(frameOf(1), { ...row, episode: 2 });
    assert.throws(() => writer.add(frameOf(2), { ...row, episode: 1 }), /episode 1 was already/);
    await writer.abort();
    const empty = await DatasetWriter.create(join(dir, "ds"), {
      env: "native:test",
      frameShape: SHAPE,
      stateKeys: [],
    });
    await assert.rejects(empty.finish(), /no steps added/);
    assert.deepEqual(await readdir(dir), []);
  });
});

/**
 * A journaled writer killed twice continues after its last commit each time and ends with the
 * files of an uninterrupted writer that committed after the same episodes.
 */
async function journalResumes(compression?: FrameCompression): Promise<void> {
  await withTempDir(async (dir) => {
    const lengths = [5, 9, 3, 12, 6];
    const rows = syntheticRows(lengths);
    const path = join(dir, "ds");
    const opts = {
      env: "native:test",
      frameShape: SHAPE,
      stateKeys: STATE_KEYS,
      meta: { seed: 7, policy: "random" },
      shardFrames: SHARD_FRAMES,
      journal: true,
      compression,
    };
    const episodeStarts = lengths.map((_, e) => lengths.slice(0, e).reduce((a, b) => a + b, 0));
    const addEpisodes = async (writer: DatasetWriter, from: number, to: number) => {
      for (let e = from; e < to; e++) {
        for (let i = episodeStarts[e]; i < episodeStarts[e] + lengths[e]; i++) {
          writer.add(frameOf(i), rows[i]);
        }
        await writer.commit();
      }
    };
    // Gzip members end at commits, so the reference commits after the same episodes.
    const reference = join(dir, "reference");
    const uninterrupted = await DatasetWriter.create(reference, opts);
    await addEpisodes(uninterrupted, 0, lengths.length);
    await uninterrupted.finish();
    const first = await DatasetWriter.create(path, opts);
    await addEpisodes(first, 0, 2);
    // Killed half-way through episode 2: its rows and frames were never committed.
    for (let i = episodeStarts[2]; i < episodeStarts[2] + 2; i++) first.add(frameOf(i), rows[i]);
    await first.close();
    await assert.rejects(
      DatasetWriter.create(path, { ...opts, meta: { seed: 8, policy: "random" } }),
      /was started with other options: meta\.seed=7 \(requested 8\)/,
    );
    const second = await DatasetWriter.create(path, opts);
    assert.deepEqual(second.committed, { steps: 14, episodes: 2 });
    assert.equal(second.numSteps, 14);
    await addEpisodes(second, 2, 3);
    // Killed again: the uncommitted rows fill the open shard (3 committed frames) and start
    // another.
    for (let i = episodeStarts[3]; i < episodeStarts[3] + 6; i++) second.add(frameOf(i), rows[i]);
    await second.close();
    const third = await DatasetWriter.create(path, opts);
    assert.deepEqual(third.committed, { steps: 17, episodes: 3 });
    await addEpisodes(third, 3, lengths.length);
    await third.finish();
    const names = (await readdir(dir)).sort();
    assert.deepEqual(names, ["ds", "reference"], "the journal is gone");
    const files = (await readdir(reference)).filter((f) => f !== "manifest.json").sort();
    assert.deepEqual((await readdir(path)).filter((f) => f !== "manifest.json").sort(), files);
    for (const f of files) {
      assert.deepEqual(await Deno.readFile(join(path, f)), await Deno.readFile(join(reference, f)));
    }
    const ds = await openDataset(path);
    assert.equal(ds.episodes().length, lengths.length);
    rows.forEach((_, i) => assert.deepEqual(ds.frame(i), frameOf(i), `frame ${i}`));
    assert.equal(ds.manifest.compression, compression);
  });
}

Deno.test("a journaled writer continues after its last commit and ends as an uninterrupted one", async () => {
  await journalResumes();
});

Deno.test("a journaled writer of gzip shards continues after its last commit as well", async () => {
  await journalResumes("gzip");
});

Deno.test("a journal without a commit starts over; commit needs the journal option", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "ds");
    const opts = { env: "native:test", frameShape: SHAPE, stateKeys: STATE_KEYS, journal: true };
    const crashed = await DatasetWriter.create(path, opts);
    syntheticRows([9]).forEach((row, i) => crashed.add(frameOf(i), row));
    await crashed.close();
    const fresh = await DatasetWriter.create(path, opts);
    assert.deepEqual(fresh.committed, { steps: 0, episodes: 0 });
    assert.equal(fresh.numSteps, 0);
    await fresh.abort();
    assert.deepEqual(await readdir(dir), [], "abort drops the journal");
    const plain = await DatasetWriter.create(path, { ...opts, journal: false });
    await assert.rejects(plain.commit(), /commit needs the journal option/);
    await plain.abort();
  });
});
