/**
 * Pieces shared by the native Atari-style games: the score font (both Breakout and Pong draw the
 * same 3x5-block digits, only the block size differs), number drawing as rectangles, and ALE's
 * emulation of the Atari paddle controller (both games are paddle games in ALE).
 *
 * Everything here was measured on ALE 0.12 (ale-py), see the constants' comments.
 *
 * @module
 */

import type { Canvas, Rgb } from "./types.ts";

/**
 * The digit glyphs of Breakout's and Pong's score displays, 5 rows of 3 blocks each ("1" = lit),
 * read off ALE frames (identical in both games).
 */
export const DIGIT_GLYPHS: readonly (readonly string[])[] = [
  ["111", "101", "101", "101", "111"],
  ["010", "010", "010", "010", "010"],
  ["111", "001", "111", "100", "111"],
  ["111", "001", "011", "001", "111"],
  ["101", "101", "111", "001", "001"],
  ["111", "100", "111", "001", "111"],
  ["100", "100", "111", "101", "111"],
  ["111", "001", "001", "001", "001"],
  ["111", "101", "111", "101", "111"],
  ["111", "101", "111", "001", "001"],
];

/** A rectangle in glyph blocks: x, y, width, height. */
type BlockRect = readonly [bx: number, by: number, bw: number, bh: number];

/**
 * Covers a glyph with few rectangles: horizontal runs per row, merged downwards while the next
 * rows repeat the run. Drawing a digit then costs 1-5 `fillRect` calls instead of up to 15.
 */
export function glyphRects(glyph: readonly string[]): BlockRect[] {
  const runs: [number, number, number, number][] = [];
  for (let by = 0; by < glyph.length; by++) {
    const row = glyph[by];
    for (let bx = 0; bx < row.length;) {
      if (row[bx] !== "1") {
        bx++;
        continue;
      }
      let end = bx;
      while (end < row.length && row[end] === "1") end++;
      const above = runs.find((r) => r[0] === bx && r[2] === end - bx && r[1] + r[3] === by);
      if (above) above[3]++;
      else runs.push([bx, by, end - bx, 1]);
      bx = end;
    }
  }
  return runs;
}

const GLYPH_RECTS: readonly BlockRect[][] = DIGIT_GLYPHS.map(glyphRects);

/** Geometry of a score font: block size and the distance between digit cells, in pixels. */
export interface DigitFont {
  readonly blockWidth: number;
  readonly blockHeight: number;
  /** Horizontal distance from one digit cell to the next. */
  readonly cellStep: number;
}

/** Draws one digit (0-9) with its top-left corner at (x, y). */
export function drawDigit(
  canvas: Canvas,
  digit: number,
  x: number,
  y: number,
  font: DigitFont,
  color: Rgb,
): void {
  const rects = GLYPH_RECTS[digit];
  const bw = font.blockWidth;
  const bh = font.blockHeight;
  for (let i = 0; i < rects.length; i++) {
    const r = rects[i];
    canvas.fillRect(x + r[0] * bw, y + r[1] * bh, r[2] * bw, r[3] * bh, color);
  }
}

/**
 * Draws a non-negative integer right-aligned on the cell at `onesX` (the ones digit's cell; the
 * tens go one `cellStep` to the left, and so on), padded with zeros to `minDigits` digits.
 */
export function drawNumber(
  canvas: Canvas,
  value: number,
  onesX: number,
  y: number,
  font: DigitFont,
  color: Rgb,
  minDigits = 1,
): void {
  let v = Math.max(0, Math.floor(value));
  for (let i = 0; i < minDigits || v > 0; i++) {
    drawDigit(canvas, v % 10, onesX - i * font.cellStep, y, font, color);
    v = Math.floor(v / 10);
  }
}

// ALE drives paddle games through a simulated potentiometer (ALE's StellaEnvironment): each frame
// of LEFT or RIGHT turns it by a fixed resistance step, clamped to a range.
/** ALE's paddle resistance step per frame of LEFT/RIGHT (PADDLE_DELTA). */
export const PADDLE_DELTA = 23000;
/** ALE's lowest paddle resistance (PADDLE_MIN). */
export const PADDLE_MIN = 27450;
/** ALE's highest paddle resistance (PADDLE_MAX). */
export const PADDLE_MAX = 790196;
/** ALE's paddle resistance after reset: the middle of the range. */
export const PADDLE_DEFAULT = Math.floor((PADDLE_MAX - PADDLE_MIN) / 2) + PADDLE_MIN;

/**
 * The paddle potentiometer as ALE moves it: RIGHT lowers the resistance, LEFT raises it, one
 * `PADDLE_DELTA` per frame. What the resistance means on screen is each game's business.
 */
export class PaddlePot {
  resistance = PADDLE_DEFAULT;

  reset(): void {
    this.resistance = PADDLE_DEFAULT;
  }

  /** Turns the knob for one frame: `direction` -1 (RIGHT), +1 (LEFT) or 0. */
  turn(direction: number): void {
    if (direction === 0) return;
    const r = this.resistance + direction * PADDLE_DELTA;
    this.resistance = r < PADDLE_MIN ? PADDLE_MIN : r > PADDLE_MAX ? PADDLE_MAX : r;
  }
}
