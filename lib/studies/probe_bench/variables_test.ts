import assert from "node:assert/strict";
import { benchVariables, checkStateKeys, classLabels } from "./variables.ts";

Deno.test("positions are classed by the observation's pixels, other variables as they are", () => {
  const vars = benchVariables("native:breakout");
  const state = {
    ballX: Float64Array.from([0, 1, 2, 159]),
    ballY: Float64Array.from([0, 2, 3, 209]),
    score: Float64Array.from([0, 1, 7, 40]),
  };
  const labels = classLabels(state, vars.filter((v) => v.key in state), [84, 84, 1]);
  // 160 screen pixels onto 84: x 1 and 2 share observation pixel 1 (floor(2 * 84 / 160) = 1).
  assert.deepEqual(Array.from(labels.ballX), [0, 0, 1, 83]);
  assert.deepEqual(Array.from(labels.ballY), [0, 0, 1, 83]);
  assert.deepEqual(Array.from(labels.score), [0, 1, 7, 40]);
  assert.deepEqual(Array.from(state.ballX), [0, 1, 2, 159]);
});

Deno.test("a state without a variable's key names the dataset and the missing keys", () => {
  assert.throws(
    () => checkStateKeys("data/x", ["ballX"], benchVariables("ale:pong")),
    /data\/x: the dataset has no ground-truth state 'playerY', 'enemyY', 'ballVisible', 'ballY'/,
  );
});
