/**
 * Test helper shared by the game tests: a fingerprint of a game's play under seeded random
 * actions, for determinism checks (same seeds, same hash; different game seed, different hash).
 *
 * @module
 */

import { RgbCanvas } from "./canvas.ts";
import type { Game } from "./types.ts";
import { Rng } from "../tensor/rng.ts";

function fnv1a(data: Uint8Array, h: number): number {
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
  return h;
}

/** What {@linkcode playHash} plays. */
export interface PlayHashOptions {
  /** Seed the game is reset with. */
  seed: number;
  /** Seed of the uniform random actions. */
  actionSeed: number;
  /** Frames (ticks) to play. */
  ticks: number;
}

/**
 * Hash of the rewards and every 5th RGB frame of `ticks` frames of `game`, reset with `seed`,
 * under uniform random actions drawn with `actionSeed`.
 */
export function playHash(game: Game, opts: PlayHashOptions): number {
  const { seed, actionSeed, ticks } = opts;
  game.reset(seed);
  const rng = new Rng(actionSeed);
  const canvas = new RgbCanvas(game.width, game.height);
  const actions = game.actionMeanings.length;
  const rewardByte = new Uint8Array(1);
  let h = 0x811c9dc5;
  for (let t = 0; t < ticks; t++) {
    // A negative reward hashes as its two's-complement byte: still distinct from positive ones.
    rewardByte[0] = game.tick(rng.int(actions));
    if (t % 5 === 0) {
      game.draw(canvas);
      h = fnv1a(canvas.data, h);
    }
    h = fnv1a(rewardByte, h);
  }
  return h;
}
