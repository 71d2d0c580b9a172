/**
 * Ground truth on real Atari: the state variables of Breakout and Pong decoded from the 128
 * bytes of RAM, into the same keys, units and pixel coordinates as our native games' `state()`,
 * so that every probe and scripted policy runs on both.
 *
 * Addresses are AtariARI's (Anand et al. 2019, `atariari/benchmark/ram_annotations.py`), plus
 * the ball velocity registers and Breakout's paddle width and score, which AtariARI does not
 * list. Offsets to pixels were calibrated on ALE 0.12 frames: `ale_test.ts` finds the ball and
 * the paddles in real frames and checks them against these decoders.
 *
 * - Breakout: ball x 99 (-49), ball y 101 (+9; 0 when no ball), paddle x 72 (-47), brick bit
 *   map 0-35 (2 bits per brick plus 4 wall bits per row), score in BCD at 77 (ones, tens) and 76
 *   (hundreds) as ALE's own reward code reads it (AtariARI's "score" at 84 is a different
 *   counter), velocity in 8.8 fixed point at 105/106 (x, negated) and 103/104 (y), paddle
 *   width / 2 at 108.
 * - Pong: ball x 49 (-49), ball y 54 (-14; 0 when no ball), player y 51 (-13), enemy y 50
 *   (-15), scores 14 (player) and 13 (enemy), velocity at 58 (x, negated) and 56 (y).
 *
 * @module
 */

import { BREAKOUT_STATE_KEYS } from "./breakout.ts";
import { PONG_STATE_KEYS } from "./pong.ts";
import type { GameState } from "./types.ts";

/** Turns one frame's RAM (and ALE's lives counter) into a game's ground-truth state. */
export interface RamDecoder {
  readonly stateKeys: readonly string[];
  decode(ram: Uint8Array, lives: number): GameState;
}

/** A byte as a signed 8-bit number. */
function s8(v: number): number {
  return v > 127 ? v - 256 : v;
}

/** Two BCD digits. */
function bcd(v: number): number {
  return (v >> 4) * 10 + (v & 15);
}

function popcount(v: number): number {
  let n = 0;
  for (; v !== 0; v &= v - 1) n++;
  return n;
}

/** Bits of the brick map that are not bricks: the side walls, 4 per row over 6 rows. */
const BREAKOUT_WALL_BITS = 24;

const breakout: RamDecoder = {
  stateKeys: BREAKOUT_STATE_KEYS,
  decode(ram, lives) {
    // The ROM zeroes the ball's y when the ball is lost (on the frame after its top passes 217,
    // as in the native game) and until the next serve.
    const visible = ram[101] !== 0;
    let bits = 0;
    for (let i = 0; i < 36; i++) bits += popcount(ram[i]);
    return {
      ballX: visible ? ram[99] - 49 : 0,
      ballY: visible ? ram[101] + 9 : 0,
      ballDx: visible ? -(s8(ram[105]) + ram[106] / 256) : 0,
      ballDy: visible ? s8(ram[103]) + ram[104] / 256 : 0,
      ballVisible: visible ? 1 : 0,
      paddleX: ram[72] - 47,
      paddleWidth: 2 * ram[108],
      bricksRemaining: (bits - BREAKOUT_WALL_BITS) / 2,
      lives,
      score: bcd(ram[77]) + 100 * (ram[76] & 15),
    };
  },
};

const pong: RamDecoder = {
  stateKeys: PONG_STATE_KEYS,
  decode(ram) {
    // y 0: no ball in play; x 0 (-49 px, off screen): the ROM's RAM before the first frame.
    const visible = ram[54] !== 0 && ram[49] !== 0;
    return {
      ballX: visible ? ram[49] - 49 : 0,
      ballY: visible ? ram[54] - 14 : 0,
      ballDx: visible ? -s8(ram[58]) : 0,
      ballDy: visible ? s8(ram[56]) : 0,
      ballVisible: visible ? 1 : 0,
      playerY: ram[51] - 13,
      enemyY: ram[50] - 15,
      playerScore: ram[14],
      enemyScore: ram[13],
    };
  },
};

/** Games without annotations: no ground-truth state. */
const NO_STATE: RamDecoder = { stateKeys: [], decode: () => ({}) };

/** Decoders by ALE ROM name. */
export const RAM_DECODERS: Readonly<Record<string, RamDecoder>> = { breakout, pong };

/** The decoder of a ROM (one with no state variables for games we have no annotations for). */
export function ramDecoder(game: string): RamDecoder {
  return RAM_DECODERS[game] ?? NO_STATE;
}
