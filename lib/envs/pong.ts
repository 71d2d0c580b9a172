/**
 * Pong, native: a re-implementation of Atari 2600 Pong (Video Olympics, game 1) as ALE v5 runs
 * it (`Pong-v5`), built from measurements of the real ROM in ALE 0.12: frame layout and palette,
 * the paddle controller, ball speeds and angles, the computer opponent, serve timing.
 *
 * Rules, as measured:
 * - The player is the green paddle on the right; RIGHT moves it up, LEFT down (ALE's paddle
 *   emulation). The orange computer paddle on the left chases the ball at 2 px/frame, resting
 *   one frame in eight, so fast balls beat it. Which of the eight frames is the only random
 *   element: ALE's Pong is deterministic, the seed picks this phase (ALE's own is 1).
 * - Where the ball meets a paddle (4-px bands) sets its vertical speed (-2..2 px/frame). Holding
 *   FIRE in the frame before the player's paddle meets the ball speeds it up by 1 px/frame
 *   horizontally (1 to 4); every serve starts at 1.
 * - A point ends the rally; the ball is served 63 frames later towards the side that lost it,
 *   keeping its last vertical direction (the first serve, at frame 58, goes down towards the
 *   computer).
 * - First to 21 wins; reward +1 / -1 per point won / lost.
 *
 * @module
 */

import { Rng } from "../tensor/rng.ts";
import { type DigitFont, drawNumber, PaddlePot } from "./digits.ts";
import type { Canvas, Game, GameState, Rgb } from "./types.ts";

// ---- Layout of the 210x160 frame (measured on ALE) ----

const WIDTH = 160;
const HEIGHT = 210;

/** Colours of the game, and of its first two frames after a reset (ALE shows those in other hues). */
interface Palette {
  background: Rgb;
  white: Rgb;
  enemy: Rgb;
  player: Rgb;
}
const PALETTE: Palette = {
  background: [144, 72, 17],
  white: [236, 236, 236],
  enemy: [213, 130, 74],
  player: [92, 186, 92],
};
const STARTUP_PALETTE: Palette = {
  background: [109, 118, 43],
  white: [53, 95, 24],
  enemy: [210, 182, 86],
  player: [101, 111, 228],
};
const STARTUP_FRAMES = 2;
/** On the very first frame the ROM also draws a ball-sized block at the left edge. */
const STARTUP_BLOCK = { x: 2, y: 45 } as const;
/** The ROM's HMOVE blank leaves the first 8 pixels of the top line black. */
const HMOVE_BAR: Rgb = [0, 0, 0];
const HMOVE_BAR_WIDTH = 8;

const TOP_BORDER_Y = 24;
const TOP_BORDER_HEIGHT = 10;
const BOTTOM_BORDER_Y = 194;
const BOTTOM_BORDER_HEIGHT = 16;
/** Paddles and ball are drawn only between the borders. */
const FIELD_TOP = TOP_BORDER_Y + TOP_BORDER_HEIGHT;
const FIELD_BOTTOM = BOTTOM_BORDER_Y;

const SCORE_Y = 1;
/** Score digits: 4x4-px blocks, cells 16 px apart, no leading zeros. */
const SCORE_FONT: DigitFont = { blockWidth: 4, blockHeight: 4, cellStep: 16 };
const ENEMY_SCORE_X = 36;
const PLAYER_SCORE_X = 116;

const PLAYER_X = 140;
const ENEMY_X = 16;
const PADDLE_WIDTH = 4;
const PADDLE_HEIGHT = 16;
const BALL_WIDTH = 2;
const BALL_HEIGHT = 4;
/**
 * From about this column on, a ball on an odd row is drawn one line higher (ALE shows it so in
 * 50-60% of frames at columns 127-130 and nearly always from 133 on; we use one threshold).
 */
const BALL_RAISE_MIN_X = 131;

// ---- Dynamics (measured on ALE) ----

const WIN_SCORE = 21;
/** The first serve comes on this frame after reset, later ones this many frames after a point. */
const FIRST_SERVE_FRAME = 58;
const SERVE_DELAY = 63;
/** Serve spot: x by horizontal direction, y by vertical direction. */
const SERVE_X_RIGHT = 80;
const SERVE_X_LEFT = 78;
const SERVE_Y_DOWN = 115;
const SERVE_Y_UP = 113;
const MAX_SPEED = 4;

/** The ball bounces off the borders when its top reaches these rows (checked before it moves). */
const BOUNCE_TOP_Y = 31;
const BOUNCE_BOTTOM_Y = 192;
/** A bounce off a border also pushes the ball one more pixel into the field. */
const BORDER_PUSH = 1;
/** A point is scored when the ball reaches these columns. */
const PLAYER_MISS_X = 156;
const ENEMY_MISS_X = 3;
/** Ball x range (left edge) over which each paddle can return the ball. */
const PLAYER_HIT_MIN_X = PLAYER_X - BALL_WIDTH + 1;
const PLAYER_HIT_MAX_X = PLAYER_X + PADDLE_WIDTH - 1;
const ENEMY_HIT_MIN_X = ENEMY_X - BALL_WIDTH + 1;
const ENEMY_HIT_MAX_X = ENEMY_X + PADDLE_WIDTH - 1;
/** Height of the paddle bands that set the return angle (-2..2 px/frame from top to bottom). */
const ANGLE_BAND = 4;
/** The computer's bands sit 2 px higher than the player's (and give -3 at its very top). */
const ENEMY_BAND_SHIFT = 2;

/** Computer paddle: speed, the frame it rests in every 8, its aim, and where it starts. */
const ENEMY_SPEED = 2;
const ENEMY_REST_PERIOD = 8;
/** It moves until its top is within 1 px above the ball's top. */
const ENEMY_AIM = 1;
/** Where it is at reset (ALE's RAM on the first frame; it has moved to 5 by the second). */
const ENEMY_START_Y = 7;
/** While no ball is in play the ROM parks it at this y, and the computer chases that. */
const HIDDEN_BALL_Y = -14;

// The player's paddle: ALE turns a potentiometer; the ROM reads it every other frame (an even
// count of scanlines) and on the frames between moves the paddle half way to the reading.
// This reproduces ALE's paddle position exactly on 180,000 frames.
/** Pot reading = 2 * floor(q / 2), q quadratic in resistance / 1e5, clamped (fitted on ALE). */
const POT_Q2 = -0.0073;
const POT_Q1 = 25.10933;
const POT_Q0 = 7.67355;
const POT_MIN_READING = 38;
const POT_MAX_READING = 204;
/** The ROM's paddle coordinate is 13 more than the paddle's top row on screen. */
const PADDLE_Y_OFFSET = 13;
const PLAYER_START = 109;

const FIRE = 1;
const RIGHT = 2;
const LEFT = 3;
const RIGHTFIRE = 4;
const LEFTFIRE = 5;

/**
 * The ball touches a paddle where their rows overlap inside the field. For the player's paddle,
 * which the ROM draws on line pairs, both tops are first rounded down to even rows.
 */
function touches(ballY: number, paddleY: number, evenRows: boolean): boolean {
  const b = evenRows ? ballY & ~1 : ballY;
  const p = evenRows ? paddleY & ~1 : paddleY;
  const top = Math.max(b, p, FIELD_TOP);
  const bottom = Math.min(b + BALL_HEIGHT, p + PADDLE_HEIGHT, FIELD_BOTTOM);
  return top < bottom;
}

function potReading(resistance: number): number {
  const u = resistance / 1e5;
  const reading = 2 * Math.floor((POT_Q2 * u * u + POT_Q1 * u + POT_Q0) / 2);
  return reading < POT_MIN_READING ? POT_MIN_READING : Math.min(reading, POT_MAX_READING);
}

/** ALE's minimal action set of Pong. */
export const PONG_ACTIONS = ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"] as const;
/** The ground-truth variables of Pong, in order (real ALE's RAM decodes to the same ones). */
export const PONG_STATE_KEYS = [
  "ballX",
  "ballY",
  "ballDx",
  "ballDy",
  "ballVisible",
  "playerY",
  "enemyY",
  "playerScore",
  "enemyScore",
] as const;

/** Atari 2600 Pong as ALE v5 plays it; see the module doc. */
export class Pong implements Game {
  readonly name = "pong";
  readonly actionMeanings = PONG_ACTIONS;
  readonly stateKeys = PONG_STATE_KEYS;
  readonly height = HEIGHT;
  readonly width = WIDTH;

  #frame = 0;
  /** The frame (mod 8) on which the computer paddle rests. */
  #restPhase = 0;
  #playerScore = 0;
  #enemyScore = 0;
  /** What the display shows: the ROM draws the scores of the frame before. */
  #shownPlayerScore = 0;
  #shownEnemyScore = 0;

  #ballVisible = false;
  /** True from a point until the next serve (the ball stays on screen for that one frame). */
  #ballOut = true;
  /** Frame of the next serve. */
  #serveFrame = FIRST_SERVE_FRAME;
  /** Direction of the next serve: +1 towards the player, -1 towards the computer; down or up. */
  #serveDir = -1;
  #serveDown = true;
  #x = 0;
  #y = HIDDEN_BALL_Y;
  #vx = 0;
  #vy = 0;
  #speed = 1;
  #firePressed = false;

  readonly #pot = new PaddlePot();
  /** Player paddle in the ROM's coordinate (top row + 13) and the last pot reading. */
  #paddle = PLAYER_START;
  #reading = -1;
  #enemyY = ENEMY_START_Y;

  constructor() {
    this.reset(0);
  }

  reset(seed: number): void {
    this.#frame = 0;
    this.#restPhase = new Rng(seed).int(ENEMY_REST_PERIOD);
    this.#playerScore = this.#enemyScore = 0;
    this.#shownPlayerScore = this.#shownEnemyScore = 0;
    this.#ballVisible = false;
    this.#ballOut = true;
    this.#serveFrame = FIRST_SERVE_FRAME;
    this.#serveDir = -1;
    this.#serveDown = true;
    this.#x = 0;
    this.#y = HIDDEN_BALL_Y;
    this.#vx = this.#vy = 0;
    this.#speed = 1;
    this.#firePressed = false;
    this.#pot.reset();
    this.#paddle = PLAYER_START;
    this.#reading = -1;
    this.#enemyY = ENEMY_START_Y;
  }

  tick(action: number): number {
    this.#shownPlayerScore = this.#playerScore;
    this.#shownEnemyScore = this.#enemyScore;
    let reward = 0;
    let chase = this.#ballVisible ? this.#y : HIDDEN_BALL_Y;
    if (!this.gameOver()) {
      if (this.#ballOut) chase = this.#waitForServe();
      else {
        reward = this.#stepBall();
        chase = this.#y;
      }
    }
    this.#stepEnemy(chase);
    // The paddles move after the ball: hits are judged against last frame's paddles.
    this.#stepPlayer(action);
    this.#firePressed = action === FIRE || action === RIGHTFIRE || action === LEFTFIRE;
    this.#frame++;
    return reward;
  }

  lives(): number {
    return 0;
  }

  gameOver(): boolean {
    return this.#playerScore >= WIN_SCORE || this.#enemyScore >= WIN_SCORE;
  }

  /**
   * Ball top-left and velocity in px and px/frame (zeros while no ball is in play), the paddles'
   * top rows (the player's as the ROM holds it; the screen shows it from the even row at or
   * above), and the scores.
   */
  state(): GameState {
    const visible = this.#ballVisible;
    return {
      ballX: visible ? this.#x : 0,
      ballY: visible ? this.#y : 0,
      ballDx: visible ? this.#vx : 0,
      ballDy: visible ? this.#vy : 0,
      ballVisible: visible ? 1 : 0,
      playerY: this.#paddle - PADDLE_Y_OFFSET,
      enemyY: this.#enemyY,
      playerScore: this.#playerScore,
      enemyScore: this.#enemyScore,
    };
  }

  draw(canvas: Canvas): void {
    const c = this.#frame < STARTUP_FRAMES ? STARTUP_PALETTE : PALETTE;
    canvas.clear(c.background);
    canvas.fillRect(0, 0, HMOVE_BAR_WIDTH, 1, HMOVE_BAR);
    drawNumber(canvas, this.#shownEnemyScore, ENEMY_SCORE_X, SCORE_Y, SCORE_FONT, c.enemy);
    drawNumber(canvas, this.#shownPlayerScore, PLAYER_SCORE_X, SCORE_Y, SCORE_FONT, c.player);
    canvas.fillRect(0, TOP_BORDER_Y, WIDTH, TOP_BORDER_HEIGHT, c.white);
    canvas.fillRect(0, BOTTOM_BORDER_Y, WIDTH, BOTTOM_BORDER_HEIGHT, c.white);
    if (this.#frame === 0) {
      canvas.fillRect(STARTUP_BLOCK.x, STARTUP_BLOCK.y, BALL_WIDTH, BALL_HEIGHT, c.white);
    }
    fillField(canvas, ENEMY_X, this.#enemyY, PADDLE_WIDTH, PADDLE_HEIGHT, c.enemy);
    // The player's paddle is drawn on line pairs: from the even row at or above its position.
    const playerY = (this.#paddle - PADDLE_Y_OFFSET) & ~1;
    fillField(canvas, PLAYER_X, playerY, PADDLE_WIDTH, PADDLE_HEIGHT, c.player);
    if (this.#ballVisible) {
      // Towards the player's paddle the ROM draws an odd-row ball from the line above, mostly.
      const y = this.#x >= BALL_RAISE_MIN_X ? this.#y & ~1 : this.#y;
      fillField(canvas, this.#x, y, BALL_WIDTH, BALL_HEIGHT, c.white);
    }
  }

  /**
   * Puts the ball in play at pixel position (x, y) (top-left) with velocity (dx, dy) in
   * px/frame. A hook for tests and scripted scenarios; regular play never calls it.
   */
  placeBall(x: number, y: number, dx: number, dy: number): void {
    this.#ballVisible = true;
    this.#ballOut = false;
    this.#x = Math.round(x);
    this.#y = Math.round(y);
    this.#vx = Math.round(dx);
    this.#vy = Math.round(dy);
    this.#speed = Math.max(1, Math.abs(this.#vx));
  }

  /** Between a point and the serve; returns the y the computer paddle should chase. */
  #waitForServe(): number {
    this.#ballVisible = false;
    if (this.#frame < this.#serveFrame) return HIDDEN_BALL_Y;
    const down = this.#serveDown;
    this.#ballVisible = true;
    this.#ballOut = false;
    this.#x = this.#serveDir > 0 ? SERVE_X_RIGHT : SERVE_X_LEFT;
    this.#y = down ? SERVE_Y_DOWN : SERVE_Y_UP;
    this.#speed = 1;
    this.#vx = this.#serveDir;
    this.#vy = down ? 1 : -1;
    // The computer paddle is put level with the ball, then chases where it will be next.
    this.#enemyY = this.#y;
    return this.#y + this.#vy;
  }

  /** One frame of ball flight: scoring, returns and bounces at the drawn position, then the move. */
  #stepBall(): number {
    if (this.#x >= PLAYER_MISS_X) return this.#point(-1);
    if (this.#x <= ENEMY_MISS_X) return this.#point(1);
    // A bounce off a border leaves no room for a paddle in the same frame.
    let push = 0;
    if (this.#y <= BOUNCE_TOP_Y && this.#vy < 0) {
      this.#vy = -this.#vy;
      push = BORDER_PUSH;
    } else if (this.#y >= BOUNCE_BOTTOM_Y && this.#vy > 0) {
      this.#vy = -this.#vy;
      push = -BORDER_PUSH;
    } else {
      this.#returnBall();
    }
    this.#x += this.#vx;
    this.#y += this.#vy + push;
    return 0;
  }

  /**
   * Sends the ball back from a paddle it touches, at the angle of the band it meets. The ROM
   * tests this on every frame the ball overlaps a paddle, even when it is already on its way
   * back, so a paddle moving along with the ball can change its angle (and speed) again.
   */
  #returnBall(): void {
    const x = this.#x;
    if (x >= PLAYER_HIT_MIN_X && x <= PLAYER_HIT_MAX_X) {
      const paddleY = this.#paddle - PADDLE_Y_OFFSET;
      if (!touches(this.#y, paddleY, true)) return;
      const offset = this.#y - paddleY;
      if (this.#firePressed && this.#speed < MAX_SPEED) this.#speed++;
      this.#vx = -this.#speed;
      this.#vy = Math.floor(offset / ANGLE_BAND) - 1;
    } else if (x >= ENEMY_HIT_MIN_X && x <= ENEMY_HIT_MAX_X) {
      if (!touches(this.#y, this.#enemyY, false)) return;
      const offset = this.#y - this.#enemyY;
      this.#vx = this.#speed;
      this.#vy = Math.floor((offset + ENEMY_BAND_SHIFT) / ANGLE_BAND) - 2;
    }
  }

  /** A point: `winner` +1 for the player, -1 for the computer. Returns the reward. */
  #point(winner: number): number {
    if (winner > 0) this.#playerScore++;
    else this.#enemyScore++;
    this.#ballOut = true;
    this.#serveFrame = this.#frame + SERVE_DELAY;
    this.#serveDir = -winner;
    this.#serveDown = this.#vy >= 0;
    return winner;
  }

  /** The player's paddle: half way to the last pot reading on odd frames; pot read on even. */
  #stepPlayer(action: number): void {
    const even = (this.#frame & 1) === 0;
    if (!even && this.#reading >= 0) this.#paddle = (this.#paddle + this.#reading) >> 1;
    const up = action === RIGHT || action === RIGHTFIRE;
    const down = action === LEFT || action === LEFTFIRE;
    this.#pot.turn(up ? -1 : down ? 1 : 0);
    if (even) this.#reading = potReading(this.#pot.resistance);
  }

  /** The computer paddle: 2 px towards the ball, resting one frame in eight. */
  #stepEnemy(ballY: number): void {
    if (this.#frame % ENEMY_REST_PERIOD === this.#restPhase) return;
    const gap = ballY - this.#enemyY;
    if (gap > ENEMY_AIM) this.#enemyY += ENEMY_SPEED;
    else if (gap < ENEMY_AIM) this.#enemyY -= ENEMY_SPEED;
  }
}

/** A rectangle clipped to the field between the borders (paddles slide under them). */
function fillField(canvas: Canvas, x: number, y: number, w: number, h: number, color: Rgb): void {
  const top = Math.max(y, FIELD_TOP);
  const bottom = Math.min(y + h, FIELD_BOTTOM);
  if (bottom > top) canvas.fillRect(x, top, w, bottom - top, color);
}
