import assert from "node:assert/strict";
import { readdir, readFile, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pl from "nodejs-polars";
import {
  type Dataset,
  DatasetWriter,
  frameStackBatches,
  openDataset,
  sequenceBatches,
  splitEpisodes,
  type StepRow,
} from "./dataset.ts";

const SHAPE = [4, 3, 2] as const; // h, w, c: two channels, so stacking order is visible
const FRAME_BYTES = 4 * 3 * 2;
const STATE_KEYS = ["ballX", "paddleX"];
const LENGTHS = [5, 9, 3, 12, 6]; // 35 rows: 5 shards of 7 frames, episodes straddle shards
const SHARD_FRAMES = 7;

/** Frame of global row i: distinct for every row (29 is odd, so i * 29 mod 256 is distinct). */
function frameOf(i: number): Uint8Array {
  return Uint8Array.from({ length: FRAME_BYTES }, (_, p) => (i * 29 + p * 3) & 255);
}

/** Episode ids are not 0..n-1, so nothing may assume they are row-order positions. */
function episodeId(e: number): number {
  return 10 + 3 * e;
}

/** Rows following the dataset convention: the last row of an episode is its final observation. */
function syntheticRows(lengths: number[]): StepRow[] {
  const rows: StepRow[] = [];
  lengths.forEach((length, e) => {
    for (let t = 0; t < length; t++) {
      const i = rows.length;
      const last = t === length - 1;
      rows.push({
        episode: episodeId(e),
        step: t,
        action: last ? -1 : i % 4,
        reward: last ? 0 : (i % 3) * 0.5,
        terminated: t === length - 2 && e % 2 === 0,
        truncated: t === length - 2 && e % 2 === 1,
        lives: 3 - (t >> 2),
        state: { ballX: i * 1.25, paddleX: -i },
      });
    }
  });
  return rows;
}

async function writeSynthetic(path: string, lengths = LENGTHS): Promise<StepRow[]> {
  const rows = syntheticRows(lengths);
  const writer = await DatasetWriter.create(path, {
    env: "native:test",
    frameShape: SHAPE,
    stateKeys: STATE_KEYS,
    meta: { seed: 7, policy: "random" },
    shardFrames: SHARD_FRAMES,
  });
  // One frame buffer reused for every add, as a collector would: the writer must copy it.
  const buffer = new Uint8Array(FRAME_BYTES);
  rows.forEach((row, i) => {
    buffer.set(frameOf(i));
    writer.add(buffer, { ...row, state: { ...row.state, unused: 1 } });
  });
  await writer.finish();
  return rows;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dataset_test_" });
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A fresh synthetic dataset at `<tmp>/ds`, for tests that read it or damage it. */
function withDataset(
  fn: (path: string, rows: StepRow[]) => void | Promise<void>,
): Promise<void> {
  return withTempDir(async (dir) => {
    const path = join(dir, "ds");
    await fn(path, await writeSynthetic(path));
  });
}

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

Deno.test("splitEpisodes splits by episode, without overlap, deterministically", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "ds");
    await writeSynthetic(path, Array.from({ length: 20 }, (_, e) => 2 + (e % 3)));
    const ds = await openDataset(path);
    const all = ds.episodes().map((e) => e.episode);
    const split = splitEpisodes(ds, { valFraction: 0.25, seed: 3 });
    assert.equal(split.val.length, 5);
    assert.deepEqual([...split.train, ...split.val].sort((a, b) => a - b), all);
    assert.ok(split.val.every((id) => !split.train.includes(id)));
    assert.deepEqual(splitEpisodes(ds, { valFraction: 0.25, seed: 3 }), split);
    const others = [4, 5, 6].map((seed) => splitEpisodes(ds, { valFraction: 0.25, seed }).val);
    assert.ok(others.some((val) => JSON.stringify(val) !== JSON.stringify(split.val)));
    assert.deepEqual(splitEpisodes(ds, { valFraction: 0, seed: 3 }).val, []);
    assert.equal(splitEpisodes(ds, { valFraction: 0.01, seed: 3 }).val.length, 1);
  });
});

/** The `c*k`-channel stack of the given frames, oldest first, written out pixel by pixel. */
function stackOf(frames: Uint8Array[]): Uint8Array {
  const c = SHAPE[2];
  const out: number[] = [];
  for (let p = 0; p < FRAME_BYTES / c; p++) {
    for (const frame of frames) out.push(...frame.subarray(p * c, (p + 1) * c));
  }
  return Uint8Array.from(out);
}

/** The expected stack of k frames ending at row, clamped to the start of row's episode. */
function expectedStack(ds: Dataset, row: number, k: number): Uint8Array {
  const first = ds.episodeStart(row);
  return stackOf(Array.from({ length: k }, (_, j) => frameOf(Math.max(first, row - k + 1 + j))));
}

Deno.test("frame stacks repeat the first frame at an episode start, oldest channels first", async () => {
  await withDataset(async (path) => {
    const ds = await openDataset(path);
    const batches = [...frameStackBatches(ds, { batchSize: 64, stack: 3, seed: 0 })];
    const { frames, indices, shape } = batches[0];
    const sample = (row: number) => {
      const b = indices.indexOf(row);
      return frames.subarray(b * FRAME_BYTES * 3, (b + 1) * FRAME_BYTES * 3);
    };
    assert.deepEqual(shape, [35, 4, 3, 6]);
    // Episode 13 starts at row 5.
    assert.deepEqual(sample(5), stackOf([frameOf(5), frameOf(5), frameOf(5)]));
    assert.deepEqual(sample(6), stackOf([frameOf(5), frameOf(5), frameOf(6)]));
    assert.deepEqual(sample(9), stackOf([frameOf(7), frameOf(8), frameOf(9)]));
    assert.deepEqual(sample(0), stackOf([frameOf(0), frameOf(0), frameOf(0)]));
  });
});

Deno.test("gray frame stacks put the k frames of a pixel side by side", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "gray");
    const writer = await DatasetWriter.create(path, {
      env: "native:test",
      frameShape: [2, 2, 1],
      stateKeys: [],
    });
    const frames = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]].map((f) => Uint8Array.from(f));
    syntheticRows([3]).forEach((row, i) => writer.add(frames[i], row));
    await writer.finish();
    const ds = await openDataset(path);
    const [batch] = frameStackBatches(ds, { batchSize: 3, stack: 2, seed: 0 });
    const stackAt = (row: number) => {
      const b = batch.indices.indexOf(row);
      return [...batch.frames.subarray(b * 8, (b + 1) * 8)];
    };
    assert.deepEqual(batch.shape, [3, 2, 2, 2]);
    assert.deepEqual(stackAt(0), [1, 1, 2, 2, 3, 3, 4, 4]);
    assert.deepEqual(stackAt(2), [5, 9, 6, 10, 7, 11, 8, 12]);
  });
});

Deno.test("frameStackBatches covers each row once per epoch, deterministic for a seed", async () => {
  await withDataset(async (path, rows) => {
    const ds = await openDataset(path);
    const opts = { episodes: [13, 19], batchSize: 8, stack: 2, seed: 5 };
    const batches = [...frameStackBatches(ds, opts)];
    assert.deepEqual(batches.map((b) => b.indices.length), [8, 8, 5]);
    const seen = batches.flatMap((b) => [...b.indices]);
    const expected = [
      ...Array.from({ length: 9 }, (_, i) => 5 + i),
      ...Array.from({ length: 12 }, (_, i) => 17 + i),
    ];
    assert.deepEqual([...seen].sort((a, b) => a - b), expected);
    assert.notDeepEqual(seen, expected); // shuffled
    for (const { frames, indices, state, shape } of batches) {
      assert.deepEqual(shape, [indices.length, 4, 3, 4]);
      indices.forEach((row, b) => {
        assert.deepEqual(frames.subarray(b * 48, (b + 1) * 48), expectedStack(ds, row, 2));
        assert.equal(state.ballX[b], rows[row].state.ballX);
        assert.equal(state.paddleX[b], rows[row].state.paddleX);
      });
    }
    assert.deepEqual([...frameStackBatches(ds, opts)], batches);
    const other = [...frameStackBatches(ds, { ...opts, seed: 6 })].flatMap((b) => [...b.indices]);
    assert.notDeepEqual(other, seen);
    const dropped = [...frameStackBatches(ds, { ...opts, dropLast: true })];
    assert.deepEqual(dropped.map((b) => b.indices.length), [8, 8]);
    assert.throws(() => [...frameStackBatches(ds, { ...opts, episodes: [11] })], /no episode 11/);
  });
});

Deno.test("sequenceBatches: windows stay inside one episode and carry actions, rewards, dones", async () => {
  await withDataset(async (path, rows) => {
    const ds = await openDataset(path);
    const T = 4;
    const opts = { batchSize: 6, length: T, stack: 2, seed: 11 };
    const batches = [...sequenceBatches(ds, opts)];
    // Windows per episode: max(0, length - T + 1) -> 2 + 6 + 0 + 9 + 3.
    const starts = batches.flatMap((b) =>
      Array.from({ length: b.shape[0] }, (_, i) => b.indices[i * T])
    );
    assert.equal(starts.length, 20);
    assert.equal(new Set(starts).size, 20);
    for (const batch of batches) {
      const B = batch.shape[0];
      assert.deepEqual(batch.shape, [B, T, 4, 3, 4]);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const at = b * T + t;
          const row = batch.indices[at];
          assert.equal(row, batch.indices[b * T] + t);
          assert.equal(rows[row].episode, rows[batch.indices[b * T]].episode, "crossed an episode");
          assert.equal(batch.actions[at], rows[row].action);
          assert.equal(batch.rewards[at], rows[row].reward);
          assert.equal(batch.dones[at], Number(rows[row].terminated || rows[row].truncated));
          assert.equal(batch.state.ballX[at], rows[row].state.ballX);
          assert.deepEqual(
            batch.frames.subarray(at * 48, (at + 1) * 48),
            expectedStack(ds, row, 2),
          );
        }
      }
    }
    // The window at rows 1..4 ends episode 10: its terminal transition, then the final observation.
    const batch = batches.find((b) => b.indices.some((row, at) => row === 1 && at % T === 0))!;
    const at = batch.indices.indexOf(1);
    assert.deepEqual([...batch.actions.subarray(at, at + T)], [1, 2, 3, -1]);
    assert.deepEqual([...batch.dones.subarray(at, at + T)], [0, 0, 1, 0]);
    assert.deepEqual([...sequenceBatches(ds, opts)], batches);
  });
});

Deno.test("sequenceBatches with frames: false gives the same windows without frames", async () => {
  await withDataset(async (path) => {
    const ds = await openDataset(path);
    const opts = { batchSize: 6, length: 4, stack: 2, seed: 11 };
    const full = [...sequenceBatches(ds, opts)];
    const light = [...sequenceBatches(ds, { ...opts, frames: false })];
    assert.equal(light.length, full.length);
    light.forEach((b, i) => {
      assert.equal(b.frames.length, 0);
      assert.deepEqual(b.indices, full[i].indices);
      assert.deepEqual(b.actions, full[i].actions);
      assert.deepEqual(b.state, full[i].state);
    });
  });
});
