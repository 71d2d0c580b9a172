/**
 * The seed project's synthetic mode: a dataset of play whose frames show the action taken, for a
 * behaviour-cloning run without any game or recording. Each gray frame is noise with one bright
 * block whose column says the action (action j of A: the j-th of A columns) and whose row wanders;
 * actions are drawn uniformly, so the majority class scores about 1/A and a model that reads the
 * frame can score near 1. Episodes are grouped into trials (state `trial`), as Atari-HEAD's are.
 *
 * @module
 */

import { Rng } from "../tensor/rng.ts";
import { DatasetWriter } from "./writer.ts";

/** What to write. */
export interface SyntheticActionsOptions {
  seed: number;
  episodes: number;
  /** Decisions per episode (each episode also gets its final observation). */
  steps: number;
  /** Frame `[height, width]`. */
  size: [number, number];
  numActions: number;
  /** Episodes per trial. */
  episodesPerTrial: number;
  /** Provenance for the manifest. */
  meta?: Record<string, unknown>;
}

/** Writes the dataset to `path` (atomically, as every dataset). */
export async function writeSyntheticActions(
  path: string,
  opts: SyntheticActionsOptions,
): Promise<void> {
  const [h, w] = opts.size;
  const A = opts.numActions;
  const block = Math.max(2, Math.floor(Math.min(h, w / A) / 3));
  const rng = new Rng(opts.seed);
  const writer = await DatasetWriter.create(path, {
    env: "synthetic:actions",
    frameShape: [h, w, 1],
    stateKeys: ["trial"],
    meta: {
      synthetic: { ...opts, meta: undefined },
      actionMeanings: Array.from({ length: A }, (_, j) => `ACTION${j}`),
      ...opts.meta,
    },
  });
  try {
    const frame = new Uint8Array(h * w);
    for (let e = 0; e < opts.episodes; e++) {
      const trial = 1 + Math.floor(e / opts.episodesPerTrial);
      let y = rng.int(h - block);
      for (let t = 0; t <= opts.steps; t++) {
        const final = t === opts.steps;
        const action = final ? -1 : rng.int(A);
        for (let p = 0; p < frame.length; p++) frame[p] = rng.int(60);
        y = Math.min(h - block, Math.max(0, y + rng.int(3) - 1));
        if (!final) {
          const x0 = Math.floor(((action + 0.5) * w) / A - block / 2);
          for (let r = y; r < y + block; r++) frame.fill(230, r * w + x0, r * w + x0 + block);
        }
        writer.add(frame, {
          episode: e,
          step: t,
          action,
          reward: 0,
          terminated: t === opts.steps - 1,
          truncated: false,
          lives: 0,
          state: { trial },
        });
      }
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
