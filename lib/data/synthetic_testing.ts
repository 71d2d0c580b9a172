/**
 * A small synthetic dataset for the tests of the dataset modules: distinct frames per row, two
 * channels (so stacking order is visible), odd episode ids, and episodes that straddle shards.
 *
 * @module
 */

import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { FrameCompression, StepRow } from "./format.ts";
import { DatasetWriter } from "./writer.ts";

/** Frame shape `[h, w, c]`: two channels, so stacking order is visible. */
export const SHAPE = [4, 3, 2] as const;
/** Bytes per frame of {@linkcode SHAPE}. */
export const FRAME_BYTES = 4 * 3 * 2;
/** State variables of the synthetic rows. */
export const STATE_KEYS = ["ballX", "paddleX"];
/** Default episode lengths: 35 rows, 5 shards of 7 frames, episodes straddle shards. */
const LENGTHS = [5, 9, 3, 12, 6];
/** Frames per shard of the synthetic dataset. */
export const SHARD_FRAMES = 7;

/** Frame of global row i: distinct for every row (29 is odd, so i * 29 mod 256 is distinct). */
export function frameOf(i: number): Uint8Array {
  return Uint8Array.from({ length: FRAME_BYTES }, (_, p) => (i * 29 + p * 3) & 255);
}

/** Episode ids are not 0..n-1, so nothing may assume they are row-order positions. */
function episodeId(e: number): number {
  return 10 + 3 * e;
}

/** Rows following the dataset convention: the last row of an episode is its final observation. */
export function syntheticRows(lengths: number[]): StepRow[] {
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

/** Writes the synthetic dataset of episodes `lengths` to `path`; returns its rows. */
export async function writeSynthetic(
  path: string,
  lengths = LENGTHS,
  compression?: FrameCompression,
): Promise<StepRow[]> {
  const rows = syntheticRows(lengths);
  const writer = await DatasetWriter.create(path, {
    env: "native:test",
    frameShape: SHAPE,
    stateKeys: STATE_KEYS,
    meta: { seed: 7, policy: "random" },
    shardFrames: SHARD_FRAMES,
    compression,
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

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dataset_test_" });
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A fresh synthetic dataset at `<tmp>/ds`, for tests that read it or damage it. */
export function withDataset(
  fn: (path: string, rows: StepRow[]) => void | Promise<void>,
  compression?: FrameCompression,
): Promise<void> {
  return withTempDir(async (dir) => {
    const path = join(dir, "ds");
    await fn(path, await writeSynthetic(path, LENGTHS, compression));
  });
}
