/**
 * Breakout, native: a re-implementation of Atari 2600 Breakout as ALE v5 runs it (game mode 0,
 * `Breakout-v5`), built from measurements of the real ROM in ALE 0.12 (frame layout, palette,
 * paddle controller, ball speeds and angles, collision rules). Not an emulator: the rules are
 * re-stated in plain code. Fed the actions of ten recorded ALE games (66,000 frames), with the
 * serve phase of ALE's, it reproduced eight of them frame for frame (positions, rewards, lives,
 * pixels); the other two drifted after a brick hit judged differently.
 *
 * Rules, as measured:
 * - FIRE serves; the ball appears at one of four places, chosen by the frame counter mod 4 (as in
 *   ALE; the seed picks the counter's phase), moving down at 1 px/frame on both axes. The sub-pixel
 *   parts of the ball's position carry over from the previous ball, as in the ROM.
 * - The paddle has four angle zones; the ball's speed table changes at the 4th, 8th and 12th paddle
 *   hit of a life, and jumps to the fastest when the ball first breaks a brick in the three upper
 *   rows.
 * - After a brick, no other brick can be hit until the ball touches the paddle or the top wall
 *   (Atari Breakout never chains bricks in one trip).
 * - The first touch of the top wall shrinks the paddle from 16 to 12 px (ALE's Breakout shrinks
 *   it by a quarter, not by half) until the next life.
 * - Clearing the wall brings a second one; clearing that ends the game (864 points at most).
 *
 * @module
 */

import { Rng } from "../tensor/rng.ts";
import { type DigitFont, drawNumber, PaddlePot } from "./digits.ts";
import type { Canvas, Game, GameState, Rgb } from "./types.ts";

// ---- Layout of the 210x160 frame (measured on ALE) ----

const WIDTH = 160;
const HEIGHT = 210;

const BLACK: Rgb = [0, 0, 0];
const WALL_GRAY: Rgb = [142, 142, 142];
/** Paddle, ball and top brick row share this red. */
const RED: Rgb = [200, 72, 72];
/** The strip at the bottom of the left wall, beside the paddle. */
const LEFT_MARKER_GREEN: Rgb = [66, 158, 130];
/** Brick colors from the top row down. */
const BRICK_COLORS: readonly Rgb[] = [
  RED,
  [198, 108, 58],
  [180, 122, 48],
  [162, 162, 42],
  [72, 160, 72],
  [66, 72, 200],
];
/** Points per brick, top row first (7, 7, 4, 4, 1, 1). */
const BRICK_POINTS: readonly number[] = [7, 7, 4, 4, 1, 1];

const TOP_WALL_Y = 17;
const TOP_WALL_HEIGHT = 15;
const SIDE_WALL_Y = 32;
/** Side walls are gray down to row 188; the colored markers start below. */
const SIDE_WALL_HEIGHT = 157;
const SIDE_WALL_WIDTH = 8;
const RIGHT_WALL_X = 152;
const MARKER_Y = 189;
const LEFT_MARKER_HEIGHT = 7;
const RIGHT_MARKER_HEIGHT = 6;

const BRICK_ROW_TOP = 57;
const BRICK_HEIGHT = 6;
const BRICK_ROWS = 6;
const BRICK_COLS = 18;
const BRICK_WIDTH = 8;
const BRICK_LEFT = 8;
const BRICKS_PER_WALL = BRICK_ROWS * BRICK_COLS;
const FULL_ROW = (1 << BRICK_COLS) - 1;
const BRICK_ZONE_BOTTOM = BRICK_ROW_TOP + BRICK_ROWS * BRICK_HEIGHT;

const PADDLE_Y = 189;
const PADDLE_HEIGHT = 4;
const PADDLE_WIDTH = 16;
const PADDLE_WIDTH_SMALL = 12;
const PADDLE_MIN_X = 8;
const PADDLE_MAX_X = 144;
const PADDLE_START_X = 99;

const BALL_WIDTH = 2;
const BALL_HEIGHT = 4;
/**
 * The ball is only drawn between the top wall and the bottom of the side walls (ALE sometimes
 * shows it on row 195 too).
 */
const BALL_DRAW_TOP = 32;
const BALL_DRAW_BOTTOM = 195;

const SCORE_Y = 5;
/** Score digits: 4x2-px blocks, cells 16 px apart, three digits with leading zeros. */
const SCORE_FONT: DigitFont = { blockWidth: 4, blockHeight: 2, cellStep: 16 };
const SCORE_ONES_X = 68;
const SCORE_DIGITS = 3;
const LIVES_X = 100;
/** The player number ("1") in the top right. */
const PLAYER_NUMBER_X = 132;

// ---- Dynamics (measured on ALE; the ROM keeps positions and speeds in 8.8 fixed point) ----

/** Fixed-point scale of positions and velocities: 1 px = 256. */
const FP = 256;
const START_LIVES = 5;

/** Serve spots and horizontal directions, picked by the frame counter mod 4 (in this order). */
const SERVES: readonly (readonly [x: number, dx: number])[] = [
  [78, -1],
  [80, 1],
  [142, -1],
  [16, 1],
];
const SERVE_Y = 122;
/** Speed of a served ball, px/frame on each axis. */
const SERVE_SPEED = 1 * FP;

/**
 * |dx|, |dy| after a paddle hit, by speed level, for [shallow, steep] zones, in 1/256 px/frame:
 * hits 1-3: 1.5/1 and 1/1.5; hits 4-7: 1.5/2 and 0.5/2; hits 8-11: 2/1; 12+: 2/2; fast: 2/3.375.
 */
const SPEEDS: readonly (readonly (readonly [number, number])[])[] = [
  [[384, 256], [256, 384]],
  [[384, 512], [128, 512]],
  [[512, 256], [512, 256]],
  [[512, 512], [512, 512]],
  [[512, 864], [512, 864]],
];
/** The speed level goes up every this many paddle hits... */
const HITS_PER_LEVEL = 4;
/** ...until the hit counter stops here (level 3). */
const MAX_HIT_COUNT = 12;
/** Hit counter value meaning "fast": set when the ball reaches one of the top three rows. */
const FAST = 16;
/** Rows 0-2 (red, orange, amber) switch the ball to its top speed. */
const FAST_ROWS = 3;

/** Paddle zones by (ball x - paddle x) on a 16-px paddle: left shallow, left steep, right... */
const ZONE_STEEP_START = 2;
const ZONE_RIGHT_START = 7;
const ZONE_SHALLOW_RIGHT_START = 11;
/**
 * A ROM quirk: a hit at this (centered) offset also shifts the ball 4 px back against its
 * incoming direction.
 */
const QUIRK_OFFSET = 6;
const QUIRK_SHIFT = 4 * FP;

/** The ball bounces when its (drawn) position reaches these, checked before it moves. */
const BOUNCE_LEFT_X = 7;
const BOUNCE_RIGHT_X = 151;
const BOUNCE_TOP_Y = 33;
/** Below the walls (a missed ball on its way out) nothing bounces it back. */
const SIDE_WALL_END_Y = 196;
/** Rows of the ball's top edge for which the paddle can return it. */
const PADDLE_HIT_MIN_Y = 186;
const PADDLE_HIT_MAX_Y = 192;
/**
 * Brick collisions, as the ROM does them: a hit needs the ball to overlap a brick whose collision
 * box sits one line lower than its drawn rows (the playfield registers change a line after the
 * colors), and then removes the brick at row `(y - 59) / 6` (ball top y; above the first row
 * only when falling) in the column of the ball's left pixel, if that one is there; if not,
 * nothing happens. Agrees with ALE on 99.8% of 5,800 frames with the ball among the bricks.
 */
const BRICK_HIT_TOP = BRICK_ROW_TOP + 1;
const BRICK_ROW_OFFSET = 59;
/** A ball whose top reaches this row is lost. */
const LOST_Y = 217;

// The paddle: ALE turns a potentiometer; the ROM reads it each frame (an even count of scanlines,
// slightly non-linear in the resistance) and moves the paddle half way to the position the
// reading stands for, one frame late. This reproduces ALE's paddle x exactly on 65,000 frames.
// The coefficients are the quadratic with the widest margin (linear program) that gives ALE's
// reading for each of the 77 resistances at which the paddle's move shows it (an earlier
// least-squares fit was one reading off at 224,823, near the right wall: `deno task fidelity`).
/** Pot reading = 2 * floor(q / 2), q quadratic in resistance / 1e5 (fitted on ALE). */
const POT_Q2 = 0.08528;
const POT_Q1 = 24.06252;
const POT_Q0 = -10.52165;
/** Readings below this come out as 0 (the pot charges before the ROM starts counting). */
const POT_MIN_READING = 10;
const POT_MAX_READING = 184;
/** Paddle target x = POT_ORIGIN - reading. */
const POT_ORIGIN = 187;

const FIRE = 1;
const RIGHT = 2;
const LEFT = 3;

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Where the paddle heads for a given pot resistance (may lie beyond the paddle's range). */
function paddleTarget(resistance: number): number {
  const u = resistance / 1e5;
  const reading = 2 * Math.floor((POT_Q2 * u * u + POT_Q1 * u + POT_Q0) / 2);
  if (reading < POT_MIN_READING) return POT_ORIGIN;
  return POT_ORIGIN - Math.min(reading, POT_MAX_READING);
}

/** Row of `SPEEDS` for a hit count. */
function speedLevel(hits: number): number {
  return hits >= FAST ? SPEEDS.length - 1 : Math.floor(hits / HITS_PER_LEVEL);
}

/** Paddle zone 0-3 (left to right) of a hit at `offset` = ball x - paddle x on a 16-px paddle. */
function paddleZone(offset: number): number {
  if (offset < ZONE_STEEP_START) return 0;
  if (offset < ZONE_RIGHT_START) return 1;
  if (offset < ZONE_SHALLOW_RIGHT_START) return 2;
  return 3;
}

/** ALE's minimal action set of Breakout. */
export const BREAKOUT_ACTIONS = ["NOOP", "FIRE", "RIGHT", "LEFT"] as const;
/** The ground-truth variables of Breakout, in order (real ALE's RAM decodes to the same ones). */
export const BREAKOUT_STATE_KEYS = [
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
] as const;

/** Atari 2600 Breakout as ALE v5 plays it; see the module doc. */
export class Breakout implements Game {
  readonly name = "breakout";
  readonly actionMeanings = BREAKOUT_ACTIONS;
  readonly stateKeys = BREAKOUT_STATE_KEYS;
  readonly height = HEIGHT;
  readonly width = WIDTH;

  /** Frames since reset; with `#servePhase` it picks the serve spot. */
  #frame = 0;
  #servePhase = 0;
  #lives = START_LIVES;
  #score = 0;
  /** What the display shows: the ROM draws the score and lives of the frame before. */
  #shownScore = 0;
  #shownLives = START_LIVES;
  #wall = 1;
  #cleared = false;
  /** One bit per brick (bit c = column c), one mask per row, top row first. */
  readonly #rows = new Int32Array(BRICK_ROWS);
  #bricksLeft = BRICKS_PER_WALL;

  #ballInPlay = false;
  /** Ball top-left and velocity in 1/256 px. */
  #x = 0;
  #y = 0;
  #vx = 0;
  #vy = 0;
  /** Paddle hits this life (capped at 12), or FAST. */
  #hits = 0;
  /** False from a brick hit until the ball touches the paddle or the top wall. */
  #bricksArmed = true;

  readonly #pot = new PaddlePot();
  #paddleX = PADDLE_START_X;
  #paddleTarget = PADDLE_START_X;
  #paddleSmall = false;

  constructor() {
    this.reset(0);
  }

  reset(seed: number): void {
    this.#frame = 0;
    this.#servePhase = new Rng(seed).int(SERVES.length);
    this.#lives = this.#shownLives = START_LIVES;
    this.#score = this.#shownScore = 0;
    this.#wall = 1;
    this.#cleared = false;
    this.#fillWall();
    this.#ballInPlay = false;
    this.#x = 0;
    this.#y = 0;
    this.#vx = 0;
    this.#vy = 0;
    this.#hits = 0;
    this.#bricksArmed = true;
    this.#pot.reset();
    this.#paddleX = PADDLE_START_X;
    this.#paddleTarget = paddleTarget(this.#pot.resistance);
    this.#paddleSmall = false;
  }

  tick(action: number): number {
    this.#shownScore = this.#score;
    this.#shownLives = this.#lives;
    let reward = 0;
    if (!this.gameOver()) {
      if (this.#ballInPlay) reward = this.#stepBall();
      else if (action === FIRE) this.#serve();
    }
    this.#stepPaddle(action);
    this.#frame++;
    return reward;
  }

  lives(): number {
    return this.#lives;
  }

  gameOver(): boolean {
    return this.#lives <= 0 || this.#cleared;
  }

  /**
   * Ball top-left (whole pixels, as the ROM positions it; among and above the bricks the screen
   * shows it one line higher) and velocity in px/frame, zeros while no ball is in play; paddle
   * left edge and width; bricks left in the current wall; lives; score.
   */
  state(): GameState {
    const visible = this.#ballInPlay;
    return {
      ballX: visible ? this.#x >> 8 : 0,
      ballY: visible ? this.#y >> 8 : 0,
      ballDx: visible ? this.#vx / FP : 0,
      ballDy: visible ? this.#vy / FP : 0,
      ballVisible: visible ? 1 : 0,
      paddleX: this.#paddleX,
      paddleWidth: this.#paddleWidth(),
      bricksRemaining: this.#bricksLeft,
      lives: this.#lives,
      score: this.#score,
    };
  }

  draw(canvas: Canvas): void {
    canvas.clear(BLACK);
    const font = SCORE_FONT;
    drawNumber(canvas, this.#shownScore, SCORE_ONES_X, SCORE_Y, font, WALL_GRAY, SCORE_DIGITS);
    drawNumber(canvas, this.#shownLives, LIVES_X, SCORE_Y, font, WALL_GRAY);
    drawNumber(canvas, 1, PLAYER_NUMBER_X, SCORE_Y, font, WALL_GRAY);
    this.#drawWalls(canvas);
    this.#drawBricks(canvas);
    canvas.fillRect(this.#paddleX, PADDLE_Y, this.#paddleWidth(), PADDLE_HEIGHT, RED);
    if (this.#ballInPlay) this.#drawBall(canvas);
  }

  /**
   * Puts the ball in play at pixel position (x, y) (top-left) with velocity (dx, dy) in
   * px/frame, bricks armed. A hook for tests and scripted scenarios; regular play never calls it.
   */
  placeBall(x: number, y: number, dx: number, dy: number): void {
    this.#ballInPlay = true;
    this.#x = Math.round(x * FP);
    this.#y = Math.round(y * FP);
    this.#vx = Math.round(dx * FP);
    this.#vy = Math.round(dy * FP);
    this.#bricksArmed = true;
  }

  /**
   * Replaces the bricks of the current wall: one 18-bit mask per row, top row first (bit c =
   * column c, from the left). A hook for tests and scripted scenarios.
   */
  setBricks(rowMasks: readonly number[]): void {
    if (rowMasks.length !== BRICK_ROWS) {
      throw new Error(`setBricks: expected ${BRICK_ROWS} row masks, got ${rowMasks.length}`);
    }
    let left = 0;
    for (let r = 0; r < BRICK_ROWS; r++) {
      this.#rows[r] = rowMasks[r] & FULL_ROW;
      for (let m = this.#rows[r]; m !== 0; m &= m - 1) left++;
    }
    this.#bricksLeft = left;
  }

  #fillWall(): void {
    this.#rows.fill(FULL_ROW);
    this.#bricksLeft = BRICKS_PER_WALL;
  }

  #paddleWidth(): number {
    return this.#paddleSmall ? PADDLE_WIDTH_SMALL : PADDLE_WIDTH;
  }

  #serve(): void {
    const [x, dx] = SERVES[(this.#frame + this.#servePhase) % SERVES.length];
    this.#ballInPlay = true;
    this.#x = x * FP + (this.#x & (FP - 1));
    this.#y = SERVE_Y * FP + (this.#y & (FP - 1));
    this.#vx = dx * SERVE_SPEED;
    this.#vy = SERVE_SPEED;
    this.#hits = 0;
    this.#bricksArmed = true;
  }

  /** One frame of ball flight: collisions at the drawn position, then the move. */
  #stepBall(): number {
    const bx = this.#x >> 8;
    const by = this.#y >> 8;
    if (by >= LOST_Y) {
      this.#loseBall();
      return 0;
    }
    this.#hitPaddle(bx, by);
    // Walls act after the paddle: a ball hit at the paddle's end against a wall goes back out.
    if (by < SIDE_WALL_END_Y) {
      if (bx <= BOUNCE_LEFT_X) this.#vx = Math.abs(this.#vx);
      else if (bx >= BOUNCE_RIGHT_X) this.#vx = -Math.abs(this.#vx);
    }
    if (by <= BOUNCE_TOP_Y && this.#vy < 0) {
      this.#vy = -this.#vy;
      this.#paddleSmall = true;
      this.#bricksArmed = true;
    }
    const reward = this.#hitBrick(bx, by);
    this.#x += this.#vx;
    this.#y += this.#vy;
    return reward;
  }

  #loseBall(): void {
    this.#ballInPlay = false;
    this.#lives--;
    this.#hits = 0;
    this.#paddleSmall = false;
  }

  #hitPaddle(bx: number, by: number): void {
    if (this.#vy <= 0 || by < PADDLE_HIT_MIN_Y || by > PADDLE_HIT_MAX_Y) return;
    const width = this.#paddleWidth();
    const offset = bx - this.#paddleX;
    // The 2-px ball counts as a hit from one pixel left of the paddle on.
    if (offset < 1 - BALL_WIDTH || offset >= width) return;
    if (this.#hits < MAX_HIT_COUNT) this.#hits++;
    // Zones sit around the paddle's center: the narrow paddle keeps the same zone widths.
    const centered = offset + (PADDLE_WIDTH - width) / 2;
    if (centered === QUIRK_OFFSET) this.#x -= Math.sign(this.#vx) * QUIRK_SHIFT;
    const zone = paddleZone(centered);
    const steep = zone === 1 || zone === 2 ? 1 : 0;
    const speed = SPEEDS[speedLevel(this.#hits)][steep];
    this.#vx = zone < 2 ? -speed[0] : speed[0];
    this.#vy = -speed[1];
    this.#bricksArmed = true;
  }

  #hitBrick(bx: number, by: number): number {
    if (!this.#bricksArmed || bx < BRICK_LEFT - 1 || bx >= RIGHT_WALL_X) return 0;
    const col = clamp((bx - BRICK_LEFT) >> 3, 0, BRICK_COLS - 1);
    const rightCol = clamp((bx + BALL_WIDTH - 1 - BRICK_LEFT) >> 3, 0, BRICK_COLS - 1);
    const bit = 1 << col;
    if (!this.#touchesBrick(by, bit | (1 << rightCol))) return 0;
    let row = Math.floor((by - BRICK_ROW_OFFSET) / BRICK_HEIGHT);
    // Above the wall's first row only a falling ball finds the top row.
    if (row < 0 && this.#vy < 0) return 0;
    row = clamp(row, 0, BRICK_ROWS - 1);
    if ((this.#rows[row] & bit) === 0) return 0;
    this.#rows[row] &= ~bit;
    this.#bricksArmed = false;
    if (row < FAST_ROWS && this.#hits < FAST) {
      this.#hits = FAST;
      const speed = SPEEDS[speedLevel(FAST)][0];
      this.#vx = this.#vx < 0 ? -speed[0] : speed[0];
      this.#vy = this.#vy < 0 ? -speed[1] : speed[1];
    }
    this.#vy = -this.#vy;
    const points = BRICK_POINTS[row];
    this.#score += points;
    if (--this.#bricksLeft === 0) {
      if (this.#wall === 1) {
        this.#wall = 2;
        this.#fillWall();
      } else {
        this.#cleared = true;
      }
    }
    return points;
  }

  /** Whether a ball with top row `by` overlaps a brick collision box in the columns of `bits`. */
  #touchesBrick(by: number, bits: number): boolean {
    const first = Math.floor((by - BRICK_HIT_TOP) / BRICK_HEIGHT);
    const last = Math.floor((by + BALL_HEIGHT - 1 - BRICK_HIT_TOP) / BRICK_HEIGHT);
    for (let r = Math.max(first, 0); r <= Math.min(last, BRICK_ROWS - 1); r++) {
      if ((this.#rows[r] & bits) !== 0) return true;
    }
    return false;
  }

  /** Moves the paddle half way to where the pot pointed last frame, then turns the pot. */
  #stepPaddle(action: number): void {
    const x = (this.#paddleX + this.#paddleTarget + 1) >> 1;
    this.#paddleX = clamp(x, PADDLE_MIN_X, PADDLE_MAX_X);
    this.#pot.turn(action === RIGHT ? -1 : action === LEFT ? 1 : 0);
    this.#paddleTarget = paddleTarget(this.#pot.resistance);
  }

  #drawWalls(canvas: Canvas): void {
    canvas.fillRect(0, TOP_WALL_Y, WIDTH, TOP_WALL_HEIGHT, WALL_GRAY);
    canvas.fillRect(0, SIDE_WALL_Y, SIDE_WALL_WIDTH, SIDE_WALL_HEIGHT, WALL_GRAY);
    canvas.fillRect(RIGHT_WALL_X, SIDE_WALL_Y, SIDE_WALL_WIDTH, SIDE_WALL_HEIGHT, WALL_GRAY);
    canvas.fillRect(0, MARKER_Y, SIDE_WALL_WIDTH, LEFT_MARKER_HEIGHT, LEFT_MARKER_GREEN);
    canvas.fillRect(RIGHT_WALL_X, MARKER_Y, SIDE_WALL_WIDTH, RIGHT_MARKER_HEIGHT, RED);
  }

  /** Each row as runs of adjacent bricks, one rectangle per run. */
  #drawBricks(canvas: Canvas): void {
    for (let r = 0; r < BRICK_ROWS; r++) {
      const mask = this.#rows[r];
      if (mask === 0) continue;
      const y = BRICK_ROW_TOP + r * BRICK_HEIGHT;
      const color = BRICK_COLORS[r];
      let c = 0;
      while (c < BRICK_COLS) {
        if ((mask & (1 << c)) === 0) {
          c++;
          continue;
        }
        const start = c;
        while (c < BRICK_COLS && (mask & (1 << c)) !== 0) c++;
        canvas.fillRect(
          BRICK_LEFT + start * BRICK_WIDTH,
          y,
          (c - start) * BRICK_WIDTH,
          BRICK_HEIGHT,
          color,
        );
      }
    }
  }

  /**
   * The ball. Down to the wall's last row the ROM draws it one line higher than its position, in
   * the color of the line (gray above the wall, the brick colors in it); below, red and unshifted.
   */
  #drawBall(canvas: Canvas): void {
    const left = this.#x >> 8;
    const x0 = Math.max(left, SIDE_WALL_WIDTH);
    const x1 = Math.min(left + BALL_WIDTH, RIGHT_WALL_X);
    if (x1 <= x0) return;
    const top = this.#y >> 8;
    const bottom = Math.min(top + BALL_HEIGHT, BALL_DRAW_BOTTOM);
    const lowTop = Math.max(top, BRICK_ZONE_BOTTOM);
    if (bottom > lowTop) canvas.fillRect(x0, lowTop, x1 - x0, bottom - lowTop, RED);
    const shiftedEnd = Math.min(top - 1 + BALL_HEIGHT, BRICK_ZONE_BOTTOM);
    let y = Math.max(top - 1, BALL_DRAW_TOP);
    while (y < shiftedEnd) {
      const row = Math.floor((y - BRICK_ROW_TOP) / BRICK_HEIGHT);
      const end = Math.min(shiftedEnd, BRICK_ROW_TOP + (row + 1) * BRICK_HEIGHT);
      canvas.fillRect(x0, y, x1 - x0, end - y, row < 0 ? WALL_GRAY : BRICK_COLORS[row]);
      y = end;
    }
  }
}
