/**
 * For the play tests: an untrained latent-action model on 36x24 frames (4 codes, Breakout's four
 * actions each its own code) and a start stack of two frames.
 *
 * @module
 */

import { initLatentAction, type LatentActionModel } from "../../models/latent_action.ts";
import { Rng } from "../../tensor/rng.ts";
import type { ActionMapping } from "./mapping.ts";

/** Breakout's four actions, each its own code, no classifier. */
export const ONE_CODE_PER_ACTION: ActionMapping = {
  actionMeanings: ["NOOP", "FIRE", "RIGHT", "LEFT"],
  actionCodes: [0, 1, 2, 3],
  classifier: null,
  embedding: { mean: [], std: [] },
};

/** A small untrained model and a start stack with some structure in it. */
export function tinyPlayModel(): { model: LatentActionModel; start: Float32Array } {
  const vit = { patch: 12, width: 16, depth: 1, heads: 2, mlpRatio: 2, cls: false };
  const model = initLatentAction(new Rng(0), {
    encoder: { ...vit, imageSize: [24, 36], channels: 2 },
    actionEncoder: { ...vit, imageSize: [24, 36], channels: 2 },
    decoder: { width: 16, depth: 1, heads: 2, mlpRatio: 2 },
    codes: 4,
    codeDim: 4,
    commitment: 0.25,
  });
  return { model, start: Float32Array.from({ length: 24 * 36 * 2 }, (_, i) => (i % 7) / 7) };
}
