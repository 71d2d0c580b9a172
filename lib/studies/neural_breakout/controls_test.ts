import assert from "node:assert/strict";
import { paddleX } from "./controls.ts";

Deno.test("the paddle's x is read off Breakout's paddle rows, walls and the dark left out", () => {
  const h = 84, w = 84;
  const frame = new Float32Array(h * w);
  // A paddle 6 px wide at x 40..45 in rows 75..77; a wall column at x 1 and the ball above.
  for (let y = 75; y <= 77; y++) {
    for (let x = 40; x < 46; x++) frame[y * w + x] = 0.43;
    frame[y * w + 1] = 0.55;
  }
  frame[30 * w + 60] = 1;
  const [x] = paddleX(frame, 1, h, w);
  assert.ok(Math.abs(x - 42.5) < 1e-9, `${x}`);
  assert.ok(Number.isNaN(paddleX(new Float32Array(h * w), 1, h, w)[0]), "no paddle: NaN");
});
