import assert from "node:assert/strict";
import type { GameState } from "../../envs/types.ts";
import { Coverage } from "./coverage.ts";

const info = (state: GameState) => ({ state, lives: 5, episodeFrame: 0 });

Deno.test("coverage counts ball squares, paddle columns and bricks broken, and survives a snapshot", () => {
  const c = new Coverage(8);
  c.observe(info({ ballX: 3, ballY: 3, ballVisible: 1, paddleX: 60, bricksRemaining: 108 }));
  c.observe(info({ ballX: 5, ballY: 6, ballVisible: 1, paddleX: 62, bricksRemaining: 107 }));
  c.observe(info({ ballX: 100, ballY: 200, ballVisible: 0, paddleX: 90, bricksRemaining: 105 }));
  // A new wall (or game) refills the bricks: no bricks broken there.
  c.observe(info({ ballX: 20, ballY: 30, ballVisible: 1, paddleX: 90, bricksRemaining: 108 }));
  assert.deepEqual(c.summary(), { ballCells: 2, paddleColumns: 2, bricksBroken: 3 });
  assert.equal(c.ball[0], 2, "two visits of the top-left square");
  const copy = new Coverage(8);
  copy.restore(JSON.parse(JSON.stringify(c.snapshot())));
  copy.observe(info({ ballX: 20, ballY: 30, ballVisible: 1, paddleX: 90, bricksRemaining: 107 }));
  assert.deepEqual(copy.summary(), { ballCells: 2, paddleColumns: 2, bricksBroken: 4 });
  assert.throws(() => new Coverage(16).restore(c.snapshot()), /another grid \(cell 16\)/);
});
