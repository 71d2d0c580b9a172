import assert from "node:assert/strict";
import { RgbCanvas } from "./canvas.ts";
import {
  DIGIT_GLYPHS,
  drawNumber,
  glyphRects,
  PADDLE_DEFAULT,
  PADDLE_DELTA,
  PADDLE_MAX,
  PADDLE_MIN,
  PaddlePot,
} from "./digits.ts";

Deno.test("glyph rectangles cover each lit block exactly once", () => {
  for (const glyph of DIGIT_GLYPHS) {
    const cover = glyph.map((row) => [...row].map(() => 0));
    for (const [bx, by, bw, bh] of glyphRects(glyph)) {
      for (let y = by; y < by + bh; y++) for (let x = bx; x < bx + bw; x++) cover[y][x]++;
    }
    assert.deepEqual(cover.map((row) => row.join("")), glyph.map((row) => row));
  }
  // Merging keeps the count low: a "1" is one rectangle, a "0" four (not twelve blocks).
  assert.equal(glyphRects(DIGIT_GLYPHS[1]).length, 1);
  assert.equal(glyphRects(DIGIT_GLYPHS[0]).length, 4);
  for (const glyph of DIGIT_GLYPHS) assert.ok(glyphRects(glyph).length <= 7);
});

Deno.test("drawNumber lays digits right to left, padded to minDigits", () => {
  const font = { blockWidth: 4, blockHeight: 2, cellStep: 16 };
  const canvas = new RgbCanvas(80, 12);
  const lit = (x: number, y: number) => canvas.data[(y * 80 + x) * 3] === 255;
  canvas.clear([0, 0, 0]);
  drawNumber(canvas, 7, 48, 0, font, [255, 255, 255], 3);
  // "007": zeros at x 16 and 32 (hollow middle), a 7 at x 48 (top bar, right column).
  assert.ok(lit(16, 0) && !lit(20, 2) && lit(24, 8));
  assert.ok(lit(32, 0) && !lit(36, 2));
  assert.ok(lit(48, 0) && lit(56, 8) && !lit(48, 8));
  canvas.clear([0, 0, 0]);
  drawNumber(canvas, 21, 48, 0, font, [255, 255, 255]);
  assert.ok(!lit(16, 0), "no leading zero");
  assert.ok(lit(32, 0) && lit(40, 2) && lit(32, 6), "a 2 in the tens cell");
  assert.ok(lit(52, 0) && !lit(48, 0), "a 1 in the ones cell");
});

Deno.test("the paddle pot moves and clamps like ALE's", () => {
  const pot = new PaddlePot();
  assert.equal(pot.resistance, PADDLE_DEFAULT);
  pot.turn(1);
  assert.equal(pot.resistance, PADDLE_DEFAULT + PADDLE_DELTA);
  for (let i = 0; i < 100; i++) pot.turn(-1);
  assert.equal(pot.resistance, PADDLE_MIN);
  for (let i = 0; i < 100; i++) pot.turn(1);
  assert.equal(pot.resistance, PADDLE_MAX);
  pot.reset();
  assert.equal(pot.resistance, PADDLE_DEFAULT);
});
