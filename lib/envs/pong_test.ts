import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import { GrayCanvas, RgbCanvas, rgbToGray } from "./canvas.ts";
import { Pong } from "./pong.ts";
import { playHash } from "./game_testing.ts";

const NOOP = 0;
const FIRE = 1;
const RIGHT = 2;
const LEFT = 3;

function pixel(canvas: RgbCanvas, x: number, y: number): number[] {
  const i = (y * canvas.width + x) * 3;
  return [...canvas.data.subarray(i, i + 3)];
}

Deno.test("pong: ALE's interface (actions, state keys, no lives)", () => {
  const game = new Pong();
  assert.deepEqual(game.actionMeanings, ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]);
  assert.deepEqual(game.stateKeys, [
    "ballX",
    "ballY",
    "ballDx",
    "ballDy",
    "ballVisible",
    "playerY",
    "enemyY",
    "playerScore",
    "enemyScore",
  ]);
  assert.equal(game.lives(), 0);
  assert.deepEqual(Object.keys(game.state()), [...game.stateKeys]);
});

Deno.test("pong: the same seed and actions give the same frames", () => {
  const play = { seed: 7, actionSeed: 2, ticks: 600 };
  assert.equal(playHash(new Pong(), play), playHash(new Pong(), play));
});

Deno.test("pong: different seeds give different games", () => {
  const hashes = new Set<number>();
  for (let seed = 0; seed < 4; seed++) {
    hashes.add(playHash(new Pong(), { seed, actionSeed: 2, ticks: 600 }));
  }
  assert.ok(hashes.size > 1);
});

Deno.test("pong: the first serve comes at frame 58, down towards the computer", () => {
  const game = new Pong();
  game.reset(0);
  for (let t = 0; t < 58; t++) {
    game.tick(NOOP);
    assert.equal(game.state().ballVisible, 0);
  }
  game.tick(NOOP);
  const s = game.state();
  assert.equal(s.ballVisible, 1);
  assert.deepEqual([s.ballX, s.ballY, s.ballDx, s.ballDy], [78, 115, -1, 1]);
  game.tick(NOOP);
  assert.deepEqual([game.state().ballX, game.state().ballY], [77, 116]);
});

Deno.test("pong: RIGHT moves the paddle up, LEFT down, as ALE's paddle", () => {
  const game = new Pong();
  game.reset(0);
  const ys: number[] = [];
  for (let t = 0; t < 12; t++) {
    game.tick(RIGHT);
    ys.push(game.state().playerY);
  }
  // Measured on ALE (the ROM moves the paddle every other frame).
  assert.deepEqual(ys, [96, 93, 93, 86, 86, 76, 76, 65, 65, 55, 55, 44]);
  for (let t = 0; t < 80; t++) game.tick(LEFT);
  assert.equal(game.state().playerY, 190);
  for (let t = 0; t < 80; t++) game.tick(RIGHT);
  assert.equal(game.state().playerY, 25);
});

Deno.test("pong: the computer chases the ball at 2 px/frame at most", () => {
  const game = new Pong();
  game.reset(0);
  let prev = game.state().enemyY;
  let wasVisible = false;
  let moves = 0;
  for (let t = 0; t < 2000; t++) {
    game.tick(NOOP);
    const s = game.state();
    // At a serve the ROM puts the computer level with the ball; otherwise it has to move.
    if (!(s.ballVisible && !wasVisible)) {
      assert.ok(Math.abs(s.enemyY - prev) <= 2, `jump of ${s.enemyY - prev} at frame ${t}`);
    }
    if (s.enemyY !== prev) moves++;
    prev = s.enemyY;
    wasVisible = s.ballVisible === 1;
  }
  assert.ok(moves > 500);
});

Deno.test("pong: a ball past the computer scores +1 for the player", () => {
  const game = new Pong();
  game.reset(0);
  for (let t = 0; t < 60; t++) game.tick(NOOP);
  // Far from the computer's paddle, heading for its goal.
  const enemyY = game.state().enemyY;
  game.placeBall(30, enemyY > 110 ? 50 : 170, -2, 0);
  let reward = 0;
  for (let t = 0; t < 40 && reward === 0; t++) reward = game.tick(NOOP);
  assert.equal(reward, 1);
  assert.equal(game.state().playerScore, 1);
  assert.equal(game.state().enemyScore, 0);
  // The ball is gone until the serve 63 frames after the point, towards the computer.
  for (let t = 0; t < 62; t++) {
    game.tick(NOOP);
    assert.equal(game.state().ballVisible, 0);
  }
  game.tick(NOOP);
  assert.equal(game.state().ballVisible, 1);
  assert.equal(game.state().ballDx, -1);
});

Deno.test("pong: 21 points end the game, with +1/-1 rewards", () => {
  const game = new Pong();
  game.reset(1);
  const rng = new Rng(9);
  const rewards: number[] = [];
  let t = 0;
  for (; t < 100_000 && !game.gameOver(); t++) {
    const r = game.tick(rng.int(6));
    if (r !== 0) rewards.push(r);
  }
  assert.ok(game.gameOver(), `no winner after ${t} frames`);
  const s = game.state();
  assert.equal(Math.max(s.playerScore, s.enemyScore), 21);
  assert.ok(Math.min(s.playerScore, s.enemyScore) < 21);
  assert.ok(rewards.every((r) => r === 1 || r === -1));
  assert.equal(rewards.filter((r) => r > 0).length, s.playerScore);
  assert.equal(rewards.filter((r) => r < 0).length, s.enemyScore);
  assert.equal(game.tick(NOOP), 0);
});

Deno.test("pong: the returning paddle's band sets the angle; FIRE speeds the ball up", () => {
  const game = new Pong();
  game.reset(0);
  for (let t = 0; t < 60; t++) game.tick(NOOP);
  const paddleY = game.state().playerY;
  // Ball level with the paddle's middle bands, about to reach it.
  game.placeBall(136, paddleY + 5, 1, 0);
  for (let t = 0; t < 5 && game.state().ballDx > 0; t++) game.tick(NOOP);
  assert.equal(game.state().ballDx, -1);
  assert.equal(game.state().ballDy, 0);
  // Again, hitting the top band with FIRE held: steeper and faster.
  game.placeBall(136, paddleY - 2, 1, 0);
  for (let t = 0; t < 5 && game.state().ballDx > 0; t++) game.tick(FIRE);
  assert.equal(game.state().ballDx, -2);
  assert.equal(game.state().ballDy, -2);
});

Deno.test("pong: the first two frames after reset use ALE's startup hues", () => {
  const game = new Pong();
  game.reset(0);
  const c = new RgbCanvas(160, 210);
  game.draw(c);
  assert.deepEqual(pixel(c, 80, 120), [109, 118, 43]);
  assert.deepEqual(pixel(c, 80, 24), [53, 95, 24]);
  assert.deepEqual(pixel(c, 2, 45), [53, 95, 24], "frame 0's block at the left edge");
  game.tick(NOOP);
  game.draw(c);
  assert.deepEqual(pixel(c, 140, 96), [101, 111, 228]);
  assert.deepEqual(pixel(c, 2, 45), [109, 118, 43]);
  game.tick(NOOP);
  game.draw(c);
  assert.deepEqual(pixel(c, 80, 120), [144, 72, 17]);
});

Deno.test("pong: the frame matches ALE's layout and palette", () => {
  const game = new Pong();
  game.reset(0);
  const c = new RgbCanvas(160, 210);
  game.tick(NOOP);
  game.tick(NOOP); // past the startup hues
  game.draw(c);
  const brown = [144, 72, 17];
  const white = [236, 236, 236];
  const green = [92, 186, 92];
  const orange = [213, 130, 74];
  assert.deepEqual(pixel(c, 80, 120), brown);
  assert.deepEqual(pixel(c, 0, 0), [0, 0, 0]);
  assert.deepEqual(pixel(c, 8, 0), brown);
  // Borders: rows 24-33 and 194-209.
  assert.deepEqual(pixel(c, 80, 23), brown);
  assert.deepEqual(pixel(c, 80, 24), white);
  assert.deepEqual(pixel(c, 80, 33), white);
  assert.deepEqual(pixel(c, 80, 34), brown);
  assert.deepEqual(pixel(c, 80, 193), brown);
  assert.deepEqual(pixel(c, 80, 194), white);
  assert.deepEqual(pixel(c, 80, 209), white);
  // The player's paddle: x 140-143, rows 96-111.
  assert.deepEqual(pixel(c, 140, 96), green);
  assert.deepEqual(pixel(c, 143, 111), green);
  assert.deepEqual(pixel(c, 139, 100), brown);
  assert.deepEqual(pixel(c, 140, 112), brown);
  // Scores "0": the computer's in orange at x 36, the player's in green at x 116 (rows 1-20).
  assert.deepEqual(pixel(c, 36, 1), orange);
  assert.deepEqual(pixel(c, 40, 5), brown);
  assert.deepEqual(pixel(c, 47, 20), orange);
  assert.deepEqual(pixel(c, 116, 1), green);
  assert.deepEqual(pixel(c, 127, 20), green);
  // After the serve: the white 2x4 ball and the computer's paddle level with it.
  for (let t = 2; t <= 58; t++) game.tick(NOOP);
  game.draw(c);
  assert.deepEqual(pixel(c, 78, 115), white);
  assert.deepEqual(pixel(c, 79, 118), white);
  assert.deepEqual(pixel(c, 80, 115), brown);
  assert.deepEqual(pixel(c, 78, 119), brown);
  assert.deepEqual(pixel(c, 16, 115), orange);
  assert.deepEqual(pixel(c, 19, 130), orange);
});

Deno.test("pong: two-digit scores and gray frames", () => {
  const game = new Pong();
  game.reset(0);
  const rgb = new RgbCanvas(160, 210);
  const gray = new GrayCanvas(160, 210);
  const expected = new Uint8Array(160 * 210);
  // Lose ten points by standing still at the top.
  for (let t = 0; t < 20_000 && game.state().enemyScore < 10; t++) game.tick(RIGHT);
  assert.equal(game.state().enemyScore, 10);
  game.tick(RIGHT);
  game.draw(rgb);
  // "10": the tens digit one cell (16 px) left of the ones.
  assert.deepEqual(pixel(rgb, 24, 1), [213, 130, 74]);
  assert.deepEqual(pixel(rgb, 36, 1), [213, 130, 74]);
  game.draw(gray);
  assert.deepEqual(gray.data, rgbToGray(rgb.data, expected));
});
