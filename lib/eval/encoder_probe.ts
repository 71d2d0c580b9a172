/**
 * Probing a frozen encoder on a dataset: embed frame stacks of the training and held-out
 * episodes, then run the linear, F1 and nearest-neighbour probes against the ground truth.
 *
 * Two feature sets:
 * - `pooled`: the encoder's one vector per frame (mean of the final tokens). Small objects such
 *   as Breakout's ball cover one patch of 49, so the mean dilutes them about 49 times.
 * - `grid`: every final token, each projected on the top `gridComponents` principal directions of
 *   the training tokens, concatenated over the patch grid (49 x 32 = 1,568 features by default).
 *   A linear readout can then say *where* something is, as a CNN probe on a flattened feature
 *   map can; the projection keeps the ridge problem small. Too few directions lose the ball:
 *   they are ranked by variance over all tokens, where bricks and paddle dominate. With 16, a
 *   random-init encoder's ball-x R^2 fell from 0.71 to 0.10 between two Breakout datasets (the
 *   one with random-action segments has more varied bricks) while raw pixels kept 0.93 / 0.89;
 *   with 32 it was 0.55 on the second.
 *
 * {@linkcode pixelSubject} gives the same readouts of the raw patches: the encoder-free baseline.
 *
 * @module
 */

import { classifierF1s } from "./classifier.ts";
import { frameStackBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import {
  type Embedding,
  embeddingShape,
  embedFrames,
  type FrozenEncoder,
} from "../models/encoder.ts";
import { patchify, vitGrid } from "../nn/vit.ts";
import { columnMeans, covariance, rowProducts, symmetricEigen } from "./linalg.ts";
import {
  BREAKOUT_PROBES,
  nearestNeighbours,
  type ProbeData,
  type ProbeResult,
  type ProbeVariable,
  runProbes,
} from "./probe.ts";

/** The features a probe of a frozen encoder reads; see the module doc. */
export type EncoderFeatures = "pooled" | "grid";

/** How to sample the probe data. */
export interface ProbeOptions {
  stack: number;
  valFraction: number;
  seed: number;
  /** At most this many stacks from the training episodes and from the held-out ones. */
  maxRows: number;
  variables?: ProbeVariable[];
  /** Default `pooled`. */
  features?: EncoderFeatures;
  /** Principal directions kept per token for `grid` features; default {@linkcode GRID_COMPONENTS}. */
  gridComponents?: number;
  /** Also AtariARI's classifier F1 per variable (`classifierF1`, seeded by `seed`). */
  classifier?: boolean;
}

/** Default principal directions per token of `grid` features (see the module doc). */
export const GRID_COMPONENTS = 32;

/** A sample of stacks from the given episodes: frames `[n, h, w, c]` and their ground truth. */
export function probeStacks(
  ds: Dataset,
  episodes: number[],
  opts: Pick<ProbeOptions, "stack" | "seed" | "maxRows">,
): { frames: Uint8Array; n: number; state: Record<string, Float64Array>; groups: Int32Array } {
  const it = frameStackBatches(ds, {
    episodes,
    batchSize: opts.maxRows,
    stack: opts.stack,
    seed: opts.seed,
  });
  const batch = it.next().value;
  if (!batch) throw new Error("probe: no frames in the chosen episodes");
  const episode = ds.column("episode");
  const groups = Int32Array.from(batch.indices, (i: number) => episode[i]);
  return { frames: batch.frames, n: batch.shape[0], state: batch.state, groups };
}

/**
 * What a probe reads features from: a frozen encoder's final tokens (a CNN's last feature
 * map), or (the encoder-free baseline) the raw pixels of the patches, both as a grid of
 * `tokens` vectors of `tokenWidth`, and as one pooled vector of `width`.
 */
export interface ProbeSubject {
  name: string;
  tokens: number;
  /** Width of the pooled vector. */
  width: number;
  /**
   * Width of each grid vector, where it is not `width`: a CNN's feature map has 64 channels
   * under a dense output of 512. Default `width`.
   */
  tokenWidth?: number;
  /** `[n, width]` pooled vectors, or `[n, tokens, tokenWidth]` with `"tokens"`. */
  embed(frames: Uint8Array, n: number, embedding: Embedding): Float32Array;
}

/** A frozen encoder (ViT or CNN) as a probe subject. */
export function encoderSubject(enc: FrozenEncoder): ProbeSubject {
  const { tokens, width, tokenWidth } = embeddingShape(enc.cfg);
  return {
    name: enc.name,
    tokens,
    width,
    tokenWidth,
    embed: (frames, n, embedding) => embedFrames(enc, frames, n, 128, embedding),
  };
}

/**
 * The raw pixels as a probe subject: each `patch x patch` patch of the stack is a token (its
 * pixels in [0, 1]); pooled, the mean patch. What any encoder should add to.
 */
export function pixelSubject(
  frameShape: readonly number[],
  stack: number,
  patch: number,
): ProbeSubject {
  const [h, w, c] = frameShape;
  const { tokens, patchDim } = vitGrid({
    imageSize: [h, w],
    channels: c * stack,
    patch,
    width: 1,
    depth: 0,
    heads: 1,
    mlpRatio: 1,
    cls: false,
  });
  return {
    name: "pixels",
    tokens,
    width: patchDim,
    embed(frames, n, embedding) {
      const patches = patchify(frames, n, h, w, c * stack, patch);
      if (embedding === "tokens") return patches;
      const out = new Float32Array(n * patchDim);
      for (let i = 0; i < n * tokens; i++) {
        const row = Math.floor(i / tokens) * patchDim;
        for (let j = 0; j < patchDim; j++) out[row + j] += patches[i * patchDim + j] / tokens;
      }
      return out;
    },
  };
}

/** Pooled embeddings and labels of (a sample of) the given episodes. */
export function probeData(
  subject: ProbeSubject,
  ds: Dataset,
  episodes: number[],
  opts: ProbeOptions,
): ProbeData {
  const { frames, n, state, groups } = probeStacks(ds, episodes, opts);
  return { x: subject.embed(frames, n, "pooled"), n, d: subject.width, state, groups };
}

/**
 * The probe data of the training and held-out episodes, with the chosen features. Returns
 * `[train, test]`; `grid` projections are fitted on the training rows only.
 */
export function probeSplits(
  of: FrozenEncoder | ProbeSubject,
  ds: Dataset,
  opts: ProbeOptions,
): [ProbeData, ProbeData] {
  const subject = "params" in of ? encoderSubject(of) : of;
  const { train, val } = splitEpisodes(ds, { valFraction: opts.valFraction, seed: opts.seed });
  if (val.length === 0) {
    throw new Error("probe: the dataset needs at least two episodes (train and held-out)");
  }
  if ((opts.features ?? "pooled") === "pooled") {
    return [probeData(subject, ds, train, opts), probeData(subject, ds, val, opts)];
  }
  const { tokens } = subject;
  const w = subject.tokenWidth ?? subject.width;
  const k = Math.min(opts.gridComponents ?? GRID_COMPONENTS, w);
  const sets = [train, val].map((eps) => {
    const { frames, n, state, groups } = probeStacks(ds, eps, opts);
    return { n, state, groups, tokens: subject.embed(frames, n, "tokens") };
  });
  // Principal directions of single tokens (rows: every token of every training frame).
  const rows = sets[0].n * tokens;
  const mean = columnMeans(sets[0].tokens, rows, w);
  const { vectors } = symmetricEigen(covariance(sets[0].tokens, rows, w), w);
  // The top k directions as rows `[k, w]`, and the mean's projection on them: a token's
  // coordinates are t V - mean V, one matrix product for every token.
  const directions = new Float32Array(k * w);
  const meanCoords = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < w; j++) {
      directions[c * w + j] = vectors[j * w + c];
      meanCoords[c] += mean[j] * vectors[j * w + c];
    }
  }
  const [trainData, testData] = sets.map(({ n, state, groups, tokens: t }) => {
    const x = rowProducts(t, directions, n * tokens, k, w);
    for (let r = 0; r < n * tokens; r++) for (let c = 0; c < k; c++) x[r * k + c] -= meanCoords[c];
    return { x, n, d: tokens * k, state, groups };
  });
  return [trainData, testData];
}

/** Probes an encoder: trained on the training episodes, reported on the held-out ones. */
export function probeEncoder(
  enc: FrozenEncoder | ProbeSubject,
  ds: Dataset,
  opts: ProbeOptions,
): { results: ProbeResult[]; test: ProbeData } {
  const [train, test] = probeSplits(enc, ds, opts);
  const variables = opts.variables ?? BREAKOUT_PROBES;
  const results = runProbes(train, test, variables);
  if (opts.classifier) {
    const f1 = classifierF1s(train, test, variables, { seed: opts.seed });
    for (const r of results) r.classifierF1 = f1[r.variable];
  }
  return { results, test };
}

/** Query frames from the held-out episodes and their nearest training frames, per encoder. */
export interface Retrieval {
  /** Newest frame of each query stack, `[h, w]` gray. */
  queries: Uint8Array[];
  /** Per encoder, the newest frame of each query's nearest training stack. */
  neighbours: Record<string, Uint8Array[]>;
  /** `[h, w]` of the frames. */
  size: [number, number];
}

/**
 * k-NN retrieval for a figure: `count` held-out stacks with the ball in play, and for each
 * encoder the training stack nearest to each of them in its probe features. `splits` are the
 * encoders' `[train, test]` probe data drawn with the same `opts` (so rows line up with the
 * stacks re-drawn here).
 */
export function retrieval(
  ds: Dataset,
  opts: ProbeOptions,
  splits: Record<string, [ProbeData, ProbeData]>,
  count: number,
): Retrieval {
  const { train, val } = splitEpisodes(ds, { valFraction: opts.valFraction, seed: opts.seed });
  const trainStacks = probeStacks(ds, train, opts);
  const testStacks = probeStacks(ds, val, opts);
  const [h, w, c] = ds.frameShape;
  if (c !== 1) throw new Error(`retrieval: expected gray frames, the dataset has ${c} channels`);
  const channels = c * opts.stack;
  const newest = (frames: Uint8Array, row: number) => {
    const out = new Uint8Array(h * w);
    for (let p = 0; p < h * w; p++) out[p] = frames[(row * h * w + p) * channels + channels - 1];
    return out;
  };
  const picks: number[] = [];
  for (let i = 0; i < testStacks.n && picks.length < count; i++) {
    if (testStacks.state.ballVisible[i] > 0) picks.push(i);
  }
  const allTrain = Array.from({ length: trainStacks.n }, (_, i) => i);
  const neighbours: Record<string, Uint8Array[]> = {};
  for (const [name, [trainData, testData]] of Object.entries(splits)) {
    neighbours[name] = nearestNeighbours(trainData, allTrain, testData, picks).map((r) =>
      newest(trainStacks.frames, r)
    );
  }
  return { queries: picks.map((r) => newest(testStacks.frames, r)), neighbours, size: [h, w] };
}
