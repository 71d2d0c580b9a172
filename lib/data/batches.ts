/**
 * The batch readers that training uses: an episode-level train/validation split, shuffled frame
 * stacks (I-JEPA, probes) and shuffled sequences of stacks inside one episode (world models).
 *
 * @module
 */

import { Rng } from "../tensor/rng.ts";
import type { Dataset } from "./reader.ts";

/** Options for {@linkcode splitEpisodes}. */
export interface SplitOptions {
  /** Fraction of episodes for validation, in [0, 1). */
  valFraction: number;
  seed: number;
}

/**
 * Splits the dataset's episode ids into train and validation sets (by episode, so no frame of a
 * validation episode is seen in training). Deterministic given the seed. With `valFraction > 0`
 * and at least two episodes, each side gets at least one episode. Ids come back sorted.
 */
export function splitEpisodes(
  dataset: Dataset,
  { valFraction, seed }: SplitOptions,
): { train: number[]; val: number[] } {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`splitEpisodes: valFraction must be in [0, 1), got ${valFraction}`);
  }
  const ids = new Rng(seed).shuffle(dataset.episodes().map((e) => e.episode));
  let numVal = Math.round(ids.length * valFraction);
  if (valFraction > 0 && ids.length >= 2) numVal = Math.min(Math.max(numVal, 1), ids.length - 1);
  const byId = (a: number, b: number) => a - b;
  return { train: ids.slice(numVal).sort(byId), val: ids.slice(0, numVal).sort(byId) };
}

/** Options shared by the batch readers. */
export interface BatchOptions {
  /** Episode ids to draw from (e.g. from {@linkcode splitEpisodes}); default all. */
  episodes?: number[];
  batchSize: number;
  /** Frames per stack, `k`; default 1. */
  stack?: number;
  /** Seeds the shuffle; use a new seed per epoch (e.g. `deriveSeed(seed, epoch)`). */
  seed: number;
  /** Skip the last, smaller batch; default false, so an epoch covers every sample once. */
  dropLast?: boolean;
}

/** A batch of frame stacks. */
export interface FrameStackBatch {
  /** `[B, h, w, c*k]` uint8, channels last; channel groups run oldest .. newest frame. */
  frames: Uint8Array;
  shape: [number, number, number, number];
  /** `[B]` row index of each stack's newest frame. */
  indices: Int32Array;
  /** `[B]` per state key, the newest frame's ground truth (probe labels). */
  state: Record<string, Float64Array>;
}

/** A batch of sequences of frame stacks. */
export interface SequenceBatch {
  /** `[B, T, h, w, c*k]` uint8. */
  frames: Uint8Array;
  shape: [number, number, number, number, number];
  /** `[B, T]` row indices. */
  indices: Int32Array;
  /** `[B, T]` action taken at each step (-1 at an episode's final observation). */
  actions: Int32Array;
  /** `[B, T]` reward of each step's transition. */
  rewards: Float32Array;
  /** `[B, T]` 1 where the step's transition ended the episode (terminated or truncated). */
  dones: Uint8Array;
  /** `[B, T]` per state key. */
  state: Record<string, Float64Array>;
}

/**
 * Shuffled batches of `k` stacked frames ending at each row of the chosen episodes; frames
 * before an episode's start repeat its first frame, as a frame stack does after reset. One pass
 * of the generator is one epoch: every row once, order fixed by the seed.
 */
export function* frameStackBatches(
  dataset: Dataset,
  opts: BatchOptions,
): Generator<FrameStackBatch> {
  const [h, w, c] = dataset.frameShape;
  const k = opts.stack ?? 1;
  for (const starts of shuffledBatches(windowStarts(dataset, opts.episodes, 1), opts)) {
    const { frames, indices } = gatherWindows(dataset, starts, 1, k);
    const state = gatherState(dataset, indices);
    yield { frames, shape: [starts.length, h, w, c * k], indices, state };
  }
}

/**
 * Shuffled windows of `length` consecutive rows inside one episode (windows never cross an
 * episode boundary; episodes shorter than `length` give none), each step a stack of `k` frames
 * as in {@linkcode frameStackBatches}. One pass covers every window start once.
 *
 * `frames: false` leaves `frames` empty (rows, actions and state only): for readers that look
 * frames up elsewhere, e.g. a world model reading latents precomputed per row.
 */
export function* sequenceBatches(
  dataset: Dataset,
  opts: BatchOptions & { length: number; frames?: boolean },
): Generator<SequenceBatch> {
  const [h, w, c] = dataset.frameShape;
  const k = opts.stack ?? 1;
  const T = opts.length;
  const action = dataset.column("action");
  const reward = dataset.column("reward");
  const terminated = dataset.column("terminated");
  const truncated = dataset.column("truncated");
  for (const starts of shuffledBatches(windowStarts(dataset, opts.episodes, T), opts)) {
    const { frames, indices } = opts.frames === false
      ? { frames: new Uint8Array(0), indices: windowRows(starts, T) }
      : gatherWindows(dataset, starts, T, k);
    yield {
      frames,
      shape: [starts.length, T, h, w, c * k],
      indices,
      actions: Int32Array.from(indices, (i) => action[i]),
      rewards: Float32Array.from(indices, (i) => reward[i]),
      dones: Uint8Array.from(indices, (i) => terminated[i] | truncated[i]),
      state: gatherState(dataset, indices),
    };
  }
}

/** First rows of every window of `length` rows lying inside one of `episodes`. */
function windowStarts(dataset: Dataset, episodes: number[] | undefined, length: number): number[] {
  if (!Number.isInteger(length) || length < 1) {
    throw new Error(`sequence length must be an integer >= 1, got ${length}`);
  }
  const spans = new Map(dataset.episodes().map((span) => [span.episode, span]));
  const starts: number[] = [];
  for (const id of episodes ?? spans.keys()) {
    const span = spans.get(id);
    if (!span) throw new Error(`${dataset.path}: no episode ${id}`);
    for (let s = span.start; s + length <= span.start + span.length; s++) starts.push(s);
  }
  return starts;
}

/** Shuffles `items` with the seed and cuts them into batches. */
function* shuffledBatches(items: number[], opts: BatchOptions): Generator<number[]> {
  const { batchSize, dropLast = false } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchSize must be an integer >= 1, got ${batchSize}`);
  }
  new Rng(opts.seed).shuffle(items);
  for (let at = 0; at < items.length; at += batchSize) {
    const batch = items.slice(at, at + batchSize);
    if (dropLast && batch.length < batchSize) return;
    yield batch;
  }
}

/**
 * Frames `[B, T, h, w, c*k]` for windows of `T` rows starting at `starts`, each step the stack
 * of `k` frames ending at its row, and the `[B, T]` row indices.
 */
function gatherWindows(
  dataset: Dataset,
  starts: number[],
  T: number,
  k: number,
): { frames: Uint8Array; indices: Int32Array } {
  if (!Number.isInteger(k) || k < 1) throw new Error(`stack must be an integer >= 1, got ${k}`);
  const c = dataset.frameShape[2];
  const pixels = dataset.frameBytes / c;
  const stackBytes = dataset.frameBytes * k;
  const frames = new Uint8Array(starts.length * T * stackBytes);
  const indices = new Int32Array(starts.length * T);
  starts.forEach((start, b) => {
    for (let t = 0; t < T; t++) {
      const row = start + t;
      const first = dataset.episodeStart(row);
      const out = frames.subarray((b * T + t) * stackBytes, (b * T + t + 1) * stackBytes);
      for (let j = 0; j < k; j++) {
        // Stack slot j holds frame row - (k-1) + j, clamped to the episode's first frame.
        const frame = dataset.frame(Math.max(first, row - (k - 1) + j));
        interleave(frame, out, pixels, c, k, j);
      }
      indices[b * T + t] = row;
    }
  });
  return { frames, indices };
}

/** The `[B, T]` row indices of windows of `T` rows starting at `starts`. */
function windowRows(starts: number[], T: number): Int32Array {
  const indices = new Int32Array(starts.length * T);
  starts.forEach((start, b) => {
    for (let t = 0; t < T; t++) indices[b * T + t] = start + t;
  });
  return indices;
}

/** Copies a `pixels x c` frame into channel group `j` of a `pixels x (c*k)` stack. */
function interleave(
  frame: Uint8Array,
  out: Uint8Array,
  pixels: number,
  c: number,
  k: number,
  j: number,
): void {
  if (k === 1) {
    out.set(frame);
    return;
  }
  if (c === 1) {
    // Gray frames, the common case: a plain strided copy, about 3x faster than the loop below.
    for (let p = 0; p < pixels; p++) out[p * k + j] = frame[p];
    return;
  }
  for (let p = 0; p < pixels; p++) {
    for (let ch = 0; ch < c; ch++) out[(p * k + j) * c + ch] = frame[p * c + ch];
  }
}

function gatherState(dataset: Dataset, indices: Int32Array): Record<string, Float64Array> {
  const state: Record<string, Float64Array> = {};
  for (const key of dataset.manifest.stateKeys) {
    const column = dataset.state(key);
    state[key] = Float64Array.from(indices, (i) => column[i]);
  }
  return state;
}
