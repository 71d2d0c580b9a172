/**
 * Synthetic data for world-model tests: a tiny dataset on disk (frames do not matter) whose
 * paddle moves with the actions (RIGHT +16 px, LEFT -16 px, clamped to 8..144), and a
 * hand-made latent table in which the paddle's position is an obvious, smooth code: token 0
 * holds radial bumps around 8 centres, token 1 a distractor that drifts at random. A model
 * that learns the action's effect must move token 0 the right way.
 *
 * @module
 */

import { join } from "node:path";
import { type Dataset, openDataset } from "../data/reader.ts";
import { DatasetWriter } from "../data/writer.ts";
import { Rng } from "../tensor/rng.ts";
import type { LatentData } from "./world_model.ts";

/** Token 0: the paddle code; token 1: a distractor. D = 8. */
export function syntheticLatent(x: number, distractor: number): Float32Array {
  const out = new Float32Array(16);
  for (let k = 0; k < 8; k++) {
    out[k] = Math.exp(-(((x - (8 + k * 19.5)) / 18) ** 2));
    out[8 + k] = Math.sin(distractor * (k + 1));
  }
  for (const t of [0, 1]) {
    const row = out.subarray(t * 8, t * 8 + 8);
    const mean = row.reduce((a, b) => a + b, 0) / 8;
    const sd = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / 8 + 1e-6);
    for (let j = 0; j < 8; j++) row[j] = (row[j] - mean) / sd;
  }
  return out;
}

/** Writes `episodes` synthetic episodes of `length` steps; returns the dataset and latents. */
export async function syntheticLatentData(
  dir: string,
  { episodes = 6, length = 60, seed = 0 } = {},
): Promise<LatentData> {
  const path = join(dir, "synthetic");
  const rng = new Rng(seed);
  const writer = await DatasetWriter.create(path, {
    env: "native:synthetic",
    frameShape: [4, 4, 1],
    stateKeys: ["paddleX"],
  });
  const latents: Float32Array[] = [];
  for (let e = 0; e < episodes; e++) {
    let x = 8 + rng.int(137);
    let distractor = rng.float() * 6;
    let held = 0;
    let action = 0;
    for (let step = 0; step <= length; step++) {
      if (held-- <= 0) {
        action = rng.int(4);
        held = 1 + rng.int(4);
      }
      const last = step === length;
      latents.push(syntheticLatent(x, distractor));
      writer.add(new Uint8Array(16).fill(x), {
        episode: e,
        step,
        action: last ? -1 : action,
        reward: 0,
        terminated: step === length - 1,
        truncated: false,
        lives: 1,
        state: { paddleX: x },
      });
      x = Math.max(8, Math.min(144, x + (action === 2 ? 16 : action === 3 ? -16 : 0)));
      distractor += rng.normal() * 0.3;
    }
  }
  await writer.finish();
  const ds: Dataset = await openDataset(path);
  const table = new Float32Array(latents.length * 16);
  latents.forEach((l, i) => table.set(l, i * 16));
  return {
    ds,
    table,
    spec: { tokens: 2, dim: 8, rows: 1, cols: 2, numActions: 4 },
    stack: 1,
    patch: 2,
  };
}
