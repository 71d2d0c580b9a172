/**
 * Probing a frozen encoder on a dataset: embed frame stacks of the training and held-out
 * episodes, then run the linear, F1 and nearest-neighbour probes against the ground truth.
 *
 * @module
 */

import { type Dataset, frameStackBatches, splitEpisodes } from "../data/dataset.ts";
import { embedFrames, type FrozenEncoder } from "../models/encoder.ts";
import {
  BREAKOUT_PROBES,
  type ProbeData,
  type ProbeResult,
  type ProbeVariable,
  runProbes,
} from "./probe.ts";

/** How to sample the probe data. */
export interface ProbeOptions {
  stack: number;
  valFraction: number;
  seed: number;
  /** At most this many stacks from the training episodes and from the held-out ones. */
  maxRows: number;
  variables?: ProbeVariable[];
}

/** Embeddings and labels of (a sample of) the given episodes. */
export function probeData(
  enc: FrozenEncoder,
  ds: Dataset,
  episodes: number[],
  opts: ProbeOptions,
): ProbeData {
  const it = frameStackBatches(ds, {
    episodes,
    batchSize: opts.maxRows,
    stack: opts.stack,
    seed: opts.seed,
  });
  const batch = it.next().value;
  if (!batch) throw new Error("probe: no frames in the chosen episodes");
  const n = batch.shape[0];
  return { x: embedFrames(enc, batch.frames, n), n, d: enc.cfg.width, state: batch.state };
}

/** Probes an encoder: trained on the training episodes, reported on the held-out ones. */
export function probeEncoder(
  enc: FrozenEncoder,
  ds: Dataset,
  opts: ProbeOptions,
): { results: ProbeResult[]; test: ProbeData } {
  const { train, val } = splitEpisodes(ds, { valFraction: opts.valFraction, seed: opts.seed });
  if (val.length === 0) {
    throw new Error("probe: the dataset needs at least two episodes (train and held-out)");
  }
  const trainData = probeData(enc, ds, train, opts);
  const test = probeData(enc, ds, val, opts);
  return { results: runProbes(trainData, test, opts.variables ?? BREAKOUT_PROBES), test };
}
