import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import { Breakout } from "./breakout.ts";
import { GrayCanvas, RgbCanvas, rgbToGray } from "./canvas.ts";
import { playHash } from "./game_testing.ts";

const NOOP = 0;
const FIRE = 1;
const RIGHT = 2;
const LEFT = 3;
const NO_BRICKS = [0, 0, 0, 0, 0, 0];

function pixel(canvas: RgbCanvas, x: number, y: number): number[] {
  const i = (y * canvas.width + x) * 3;
  return [...canvas.data.subarray(i, i + 3)];
}

/** Ticks until `done` or `limit` ticks; returns the rewards collected. */
function runUntil(game: Breakout, action: number, done: () => boolean, limit = 500): number[] {
  const rewards: number[] = [];
  for (let t = 0; t < limit && !done(); t++) {
    const r = game.tick(action);
    if (r !== 0) rewards.push(r);
  }
  return rewards;
}

Deno.test("breakout: ALE's interface (actions, state keys, lives)", () => {
  const game = new Breakout();
  assert.deepEqual(game.actionMeanings, ["NOOP", "FIRE", "RIGHT", "LEFT"]);
  assert.deepEqual(game.stateKeys, [
    "ballX",
    "ballY",
    "ballDx",
    "ballDy",
    "ballVisible",
    "paddleX",
    "paddleWidth",
    "bricksRemaining",
    "lives",
    "score",
  ]);
  assert.equal(game.height, 210);
  assert.equal(game.width, 160);
  assert.equal(game.lives(), 5);
  assert.deepEqual(Object.keys(game.state()), [...game.stateKeys]);
  assert.equal(game.state().bricksRemaining, 108);
});

Deno.test("breakout: the same seed and actions give the same frames", () => {
  const play = { seed: 3, actionSeed: 11, ticks: 400 };
  assert.equal(playHash(new Breakout(), play), playHash(new Breakout(), play));
});

Deno.test("breakout: different seeds serve differently", () => {
  const serves = new Set<string>();
  for (let seed = 0; seed < 8; seed++) {
    const game = new Breakout();
    game.reset(seed);
    game.tick(FIRE);
    const s = game.state();
    serves.add(`${s.ballX},${s.ballDx}`);
  }
  assert.ok(serves.size > 1, `all seeds served the same way: ${[...serves]}`);
  assert.notEqual(
    playHash(new Breakout(), { seed: 0, actionSeed: 11, ticks: 300 }),
    playHash(new Breakout(), { seed: 1, actionSeed: 11, ticks: 300 }),
  );
});

Deno.test("breakout: the ball waits for FIRE, then comes down at 1 px/frame", () => {
  const game = new Breakout();
  game.reset(0);
  for (let t = 0; t < 50; t++) {
    game.tick(NOOP);
    assert.equal(game.state().ballVisible, 0);
  }
  game.tick(FIRE);
  const served = game.state();
  assert.equal(served.ballVisible, 1);
  // ALE's four serve spots, all on row 122.
  assert.ok(
    [[78, -1], [80, 1], [142, -1], [16, 1]].some(([x, dx]) =>
      served.ballX === x && served.ballDx === dx
    ),
  );
  assert.equal(served.ballY, 122);
  assert.equal(served.ballDy, 1);
  game.tick(NOOP);
  const moved = game.state();
  assert.equal(moved.ballY, 123);
  assert.equal(moved.ballX, served.ballX + served.ballDx);
});

Deno.test("breakout: the serve spot follows the frame counter mod 4", () => {
  const game = new Breakout();
  const spots: number[] = [];
  for (let wait = 0; wait < 8; wait++) {
    game.reset(5);
    for (let t = 0; t < wait; t++) game.tick(NOOP);
    game.tick(FIRE);
    spots.push(game.state().ballX);
  }
  assert.deepEqual(spots.slice(4), spots.slice(0, 4));
  assert.deepEqual([...spots.slice(0, 4)].sort((a, b) => a - b), [16, 78, 80, 142]);
});

Deno.test("breakout: the paddle follows ALE's paddle controller", () => {
  // Measured on ALE: one frame of RIGHT from the start, then NOOP.
  const game = new Breakout();
  game.reset(0);
  const xs: number[] = [];
  for (const a of [NOOP, NOOP, NOOP, RIGHT, NOOP, NOOP, NOOP, NOOP]) {
    game.tick(a);
    xs.push(game.state().paddleX);
  }
  assert.deepEqual(xs, [99, 99, 99, 99, 102, 104, 105, 105]);
  // Measured on ALE: from the far left, RIGHT held (about 5.7 px/frame at full speed).
  for (let t = 0; t < 60; t++) game.tick(LEFT);
  assert.equal(game.state().paddleX, 8);
  const sweep: number[] = [];
  for (let t = 0; t < 30; t++) {
    game.tick(RIGHT);
    sweep.push(game.state().paddleX);
  }
  assert.deepEqual(sweep.slice(0, 12), [8, 9, 12, 17, 22, 28, 33, 38, 44, 50, 56, 62]);
  assert.equal(sweep.at(-1), 144);
});

Deno.test("breakout: a brick in each row is worth 7, 7, 4, 4, 1, 1", () => {
  const points: number[] = [];
  for (let row = 0; row < 6; row++) {
    const game = new Breakout();
    game.reset(0);
    const masks = [...NO_BRICKS];
    // Column 9 (x 80-87) of this row, plus column 0 of the bottom row so the wall stays up.
    masks[row] = 1 << 9;
    masks[5] |= 1;
    game.setBricks(masks);
    assert.equal(game.state().bricksRemaining, 2);
    // Send the ball straight up into column 9.
    game.placeBall(82, 150, 0, -1);
    const rewards = runUntil(game, NOOP, () => game.state().score > 0);
    assert.equal(rewards.length, 1, `row ${row}`);
    assert.equal(game.state().score, rewards[0]);
    assert.ok(game.state().ballDy > 0, "the ball bounces back down");
    points.push(rewards[0]);
  }
  assert.deepEqual(points, [7, 7, 4, 4, 1, 1]);
});

Deno.test("breakout: one brick per trip, then the ball must come back", () => {
  const game = new Breakout();
  game.reset(0);
  game.setBricks([0, 0, 0, 0, 1 << 9, 1 << 9]);
  // Straight up through column 9: the bottom brick goes, the one above survives the return.
  game.placeBall(82, 150, 0, -1);
  const rewards = runUntil(game, NOOP, () => game.state().ballY > 150);
  assert.deepEqual(rewards, [1]);
  assert.equal(game.state().bricksRemaining, 1);
});

Deno.test("breakout: the upper rows switch the ball to top speed", () => {
  const game = new Breakout();
  game.reset(0);
  game.setBricks([0, 0, 1 << 9, 0, 0, 1]);
  game.placeBall(82, 150, 0, -1);
  runUntil(game, NOOP, () => game.state().score > 0);
  assert.equal(game.state().ballDy, 3.375);
  assert.equal(Math.abs(game.state().ballDx), 2);
});

Deno.test("breakout: paddle hits speed the ball up after 4 hits, as in ALE", () => {
  const game = new Breakout();
  game.reset(0);
  game.setBricks(NO_BRICKS);
  const speeds: number[] = [];
  let prevDy = 0;
  // Serve and keep the paddle under the ball until four hits.
  game.tick(FIRE);
  for (let t = 0; t < 3000 && speeds.length < 5; t++) {
    const s = game.state();
    const center = s.paddleX + s.paddleWidth / 2;
    const action = s.ballX + 1 < center - 2 ? LEFT : s.ballX + 1 > center + 2 ? RIGHT : NOOP;
    game.tick(s.ballVisible ? action : FIRE);
    const dy = game.state().ballDy;
    if (prevDy > 0 && dy < 0) speeds.push(-dy);
    prevDy = dy;
  }
  assert.equal(speeds.length, 5);
  // Hits 1-3 leave at 1 or 1.5 px/frame vertically, the 4th and 5th at 2.
  for (const v of speeds.slice(0, 3)) assert.ok(v === 1 || v === 1.5, `slow hit ${v}`);
  assert.deepEqual(speeds.slice(3), [2, 2]);
});

Deno.test("breakout: a missed ball costs a life; five misses end the game", () => {
  const game = new Breakout();
  game.reset(0);
  const lives: number[] = [];
  for (let t = 0; t < 5000 && !game.gameOver(); t++) {
    const s = game.state();
    // Serve, then run away from the ball.
    const action = !s.ballVisible ? FIRE : s.ballX < s.paddleX + s.paddleWidth / 2 ? RIGHT : LEFT;
    const before = game.lives();
    game.tick(action);
    if (game.lives() !== before) {
      lives.push(game.lives());
      assert.equal(game.state().ballVisible, 0, "the ball is gone until the next FIRE");
    }
  }
  assert.deepEqual(lives, [4, 3, 2, 1, 0]);
  assert.ok(game.gameOver());
  // Nothing moves any more.
  const score = game.state().score;
  assert.equal(game.tick(FIRE), 0);
  assert.equal(game.state().ballVisible, 0);
  assert.equal(game.state().score, score);
});

Deno.test("breakout: the paddle shrinks to 12 px at the top wall until the next life", () => {
  const game = new Breakout();
  game.reset(0);
  game.setBricks(NO_BRICKS);
  assert.equal(game.state().paddleWidth, 16);
  game.placeBall(60, 45, 1, -1.5);
  runUntil(game, NOOP, () => game.state().ballDy > 0);
  assert.equal(game.state().paddleWidth, 12);
  // Let the ball fall past the paddle (kept far to the left).
  runUntil(game, LEFT, () => game.lives() === 4);
  assert.equal(game.state().paddleWidth, 16);
});

Deno.test("breakout: clearing the wall brings a second one; clearing that ends the game", () => {
  const game = new Breakout();
  game.reset(0);
  game.setBricks([0, 0, 0, 0, 0, 1 << 9]);
  game.placeBall(82, 150, 0, -1);
  runUntil(game, NOOP, () => game.state().score > 0);
  assert.equal(game.state().bricksRemaining, 108);
  assert.equal(game.gameOver(), false);
  // The second wall, down to its last brick.
  game.setBricks([0, 0, 0, 0, 0, 1 << 3]);
  game.placeBall(34, 150, 0, -1);
  runUntil(game, NOOP, () => game.gameOver());
  assert.ok(game.gameOver());
  assert.equal(game.state().bricksRemaining, 0);
  assert.equal(game.state().score, 2);
  assert.equal(game.lives(), 5);
});

Deno.test("breakout: the frame matches ALE's layout and palette", () => {
  const game = new Breakout();
  game.reset(0);
  const c = new RgbCanvas(160, 210);
  game.draw(c);
  const gray = [142, 142, 142];
  const black = [0, 0, 0];
  const red = [200, 72, 72];
  // Bricks: 6 rows of 6 px from row 57, colors top to bottom.
  const rowColors = [
    [200, 72, 72],
    [198, 108, 58],
    [180, 122, 48],
    [162, 162, 42],
    [72, 160, 72],
    [66, 72, 200],
  ];
  rowColors.forEach((color, r) => {
    assert.deepEqual(pixel(c, 8, 57 + 6 * r), color);
    assert.deepEqual(pixel(c, 151, 62 + 6 * r), color);
  });
  assert.deepEqual(pixel(c, 8, 56), black);
  assert.deepEqual(pixel(c, 8, 93), black);
  // Walls.
  assert.deepEqual(pixel(c, 80, 17), gray);
  assert.deepEqual(pixel(c, 80, 31), gray);
  assert.deepEqual(pixel(c, 80, 32), black);
  assert.deepEqual(pixel(c, 7, 188), gray);
  assert.deepEqual(pixel(c, 152, 100), gray);
  assert.deepEqual(pixel(c, 0, 195), [66, 158, 130]);
  assert.deepEqual(pixel(c, 159, 194), red);
  // Paddle: rows 189-192, x 99-114 at the start.
  assert.deepEqual(pixel(c, 99, 189), red);
  assert.deepEqual(pixel(c, 114, 192), red);
  assert.deepEqual(pixel(c, 98, 190), black);
  assert.deepEqual(pixel(c, 115, 190), black);
  assert.deepEqual(pixel(c, 100, 193), black);
  // Score "000" at x 36, 52, 68 (rows 5-14), lives "5" at x 100, player "1" at x 136.
  for (const x of [36, 52, 68]) {
    assert.deepEqual(pixel(c, x, 5), gray);
    assert.deepEqual(pixel(c, x + 4, 7), black, "a zero is hollow");
  }
  assert.deepEqual(pixel(c, 100, 5), gray);
  assert.deepEqual(pixel(c, 108, 7), black);
  assert.deepEqual(pixel(c, 136, 14), gray);
  assert.deepEqual(pixel(c, 135, 14), black);
  // No ball before the serve; a red 2x4 ball after it.
  game.tick(FIRE);
  game.draw(c);
  const s = game.state();
  for (let dy = 0; dy < 4; dy++) {
    assert.deepEqual(pixel(c, s.ballX, s.ballY + dy), red);
    assert.deepEqual(pixel(c, s.ballX + 1, s.ballY + dy), red);
  }
  assert.deepEqual(pixel(c, s.ballX + 2, s.ballY), black);
  assert.deepEqual(pixel(c, s.ballX, s.ballY + 4), black);
});

Deno.test("breakout: the ball takes the row colors inside the wall", () => {
  const game = new Breakout();
  game.reset(0);
  game.setBricks(NO_BRICKS);
  // Inside the wall the ROM draws it one line higher, in each line's brick color.
  game.placeBall(40, 80, 0, 0);
  const c = new RgbCanvas(160, 210);
  game.draw(c);
  assert.deepEqual(pixel(c, 40, 79), [162, 162, 42]);
  assert.deepEqual(pixel(c, 40, 81), [72, 160, 72]);
  assert.deepEqual(pixel(c, 40, 82), [72, 160, 72]);
  assert.deepEqual(pixel(c, 40, 83), [0, 0, 0]);
});

Deno.test("breakout: gray frames equal the grayscale of RGB frames", () => {
  const game = new Breakout();
  game.reset(2);
  const rng = new Rng(4);
  const rgb = new RgbCanvas(160, 210);
  const gray = new GrayCanvas(160, 210);
  const expected = new Uint8Array(160 * 210);
  for (let t = 0; t < 300; t++) {
    game.tick(rng.int(4));
    if (t % 50 !== 0) continue;
    game.draw(rgb);
    game.draw(gray);
    assert.deepEqual(gray.data, rgbToGray(rgb.data, expected));
  }
});
