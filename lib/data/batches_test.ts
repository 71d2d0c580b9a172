import assert from "node:assert/strict";
import { join } from "node:path";
import { frameStackBatches, sequenceBatches, splitEpisodes } from "./batches.ts";
import { type Dataset, openDataset } from "./reader.ts";
import {
  FRAME_BYTES,
  frameOf,
  SHAPE,
  syntheticRows,
  withDataset,
  withTempDir,
  writeSynthetic,
} from "./synthetic_testing.ts";
import { DatasetWriter } from "./writer.ts";

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
