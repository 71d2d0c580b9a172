/**
 * Do the controls work inside the model? From held-out stacks, one step with the code each action
 * maps to in that stack (`codesForActions`); the paddle's horizontal position is read off the
 * predicted frame and the real newest frame (the intensity-weighted centre of Breakout's paddle
 * rows, walls left out), and its shift averaged per action. LEFT and RIGHT should move it in opposite directions, as in the game.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../../data/reader.ts";
import { type LatentActionModel, predictWithCodes } from "../../models/latent_action.ts";
import { unpatchifyFloats, vitGrid } from "../../nn/vit.ts";
import { heldOutSequences, type LatentActionTrainConfig } from "../../train/latent_action.ts";
import { type ActionMapping, codesForActions } from "./mapping.ts";

/** What {@linkcode controlCheck} reports. */
export interface ControlCheck {
  /** Per action name: the paddle's mean shift in pixels (positive: to the right). */
  shifts: Record<string, number>;
  /** RIGHT moves it right and LEFT moves it left. */
  opposite: boolean;
  stacks: number;
}

/** Breakout's paddle rows on the 210-line screen (y 189 to 192) and its walls (x < 8, x >= 152). */
const PADDLE_ROWS: [number, number] = [189, 193];
const PLAY_COLUMNS: [number, number] = [8, 152];

/** The paddle's x (intensity-weighted, in pixels) of each `h x w` frame; NaN where it is dark. */
export function paddleX(frames: Float32Array, b: number, h: number, w: number): number[] {
  const y0 = Math.floor((PADDLE_ROWS[0] * h) / 210), y1 = Math.ceil((PADDLE_ROWS[1] * h) / 210);
  const x0 = Math.ceil((PLAY_COLUMNS[0] * w) / 160), x1 = Math.floor((PLAY_COLUMNS[1] * w) / 160);
  return Array.from({ length: b }, (_, i) => {
    let mass = 0, moment = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const v = frames[i * h * w + y * w + x];
        mass += v;
        moment += v * x;
      }
    }
    return mass > 0.5 ? moment / mass : NaN;
  });
}

/** The check of the module doc, for the actions `meanings` maps to `codes` (null: no LEFT/RIGHT). */
export function controlCheck(
  cfg: LatentActionTrainConfig,
  ds: Dataset,
  model: LatentActionModel,
  mapping: ActionMapping,
): ControlCheck | null {
  const left = mapping.actionMeanings.indexOf("LEFT");
  const right = mapping.actionMeanings.indexOf("RIGHT");
  if (left < 0 || right < 0) return null;
  const { stacks, frames, b } = heldOutSequences(cfg, ds, 1);
  const [h, w] = ds.frameShape;
  const p = cfg.encoder.patch;
  const { tokens } = vitGrid(model.cfg.encoder);
  const before = paddleX(unpatchifyFloats(frames[0], b, h, w, 1, p), b, h, w);
  const shifts: Record<string, number> = {};
  const stack = tf.tensor3d(stacks[0], [b, tokens, p * p * cfg.stack]);
  mapping.actionMeanings.forEach((name, a) => {
    const codes = codesForActions(model, mapping, stack, new Int32Array(b).fill(a));
    const predicted = tf.tidy(() =>
      predictWithCodes(model, stack, codes).dataSync() as Float32Array
    );
    const after = paddleX(unpatchifyFloats(predicted, b, h, w, 1, p), b, h, w);
    const d = after.map((x, i) => x - before[i]).filter(Number.isFinite);
    shifts[name] = d.length ? d.reduce((s, v) => s + v, 0) / d.length : NaN;
  });
  stack.dispose();
  return {
    shifts,
    opposite: shifts.RIGHT > 0 && shifts.LEFT < 0,
    stacks: b,
  };
}
