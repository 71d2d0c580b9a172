/**
 * State coverage of a run, from the ground-truth state after every env step: where the ball went
 * (visits per `cell x cell` square of the 210x160 screen), where the paddle went (visits per
 * column of cells), and bricks broken (each drop of `bricksRemaining`; a new wall or a new game
 * refills it and counts nothing). The seed project explores with RND so that its recordings show
 * more of the game; these counts say how much more.
 *
 * @module
 */

import type { StepInfo } from "../../envs/types.ts";
import type { StepObserver } from "../../rl/dqn.ts";

/** What a coverage count saves in a checkpoint. */
export interface CoverageSnapshot {
  ball: number[];
  paddle: number[];
  bricksBroken: number;
  lastBricks: number | null;
}

/** The summary a report puts in its table. */
export interface CoverageSummary {
  /** Squares the ball was seen in at least once. */
  ballCells: number;
  /** Columns the paddle was seen in at least once. */
  paddleColumns: number;
  bricksBroken: number;
}

const SCREEN: [number, number] = [210, 160];

/** The counts of the module doc, for Breakout-like state (`ballX`, `ballY`, `paddleX`). */
export class Coverage implements StepObserver {
  readonly rows: number;
  readonly cols: number;
  ball: Float64Array;
  paddle: Float64Array;
  bricksBroken = 0;
  #lastBricks: number | null = null;

  constructor(readonly cell: number) {
    this.rows = Math.ceil(SCREEN[0] / cell);
    this.cols = Math.ceil(SCREEN[1] / cell);
    this.ball = new Float64Array(this.rows * this.cols);
    this.paddle = new Float64Array(this.cols);
  }

  observe(info: StepInfo): void {
    const s = info.state;
    const visible = s.ballVisible === undefined ? s.ballY !== 0 : s.ballVisible !== 0;
    if (visible && s.ballX !== undefined && s.ballY !== undefined) {
      const r = this.#clamp(Math.floor(s.ballY / this.cell), this.rows);
      const c = this.#clamp(Math.floor(s.ballX / this.cell), this.cols);
      this.ball[r * this.cols + c]++;
    }
    if (s.paddleX !== undefined) {
      this.paddle[this.#clamp(Math.floor(s.paddleX / this.cell), this.cols)]++;
    }
    if (s.bricksRemaining !== undefined) {
      if (this.#lastBricks !== null && s.bricksRemaining < this.#lastBricks) {
        this.bricksBroken += this.#lastBricks - s.bricksRemaining;
      }
      this.#lastBricks = s.bricksRemaining;
    }
  }

  summary(): CoverageSummary {
    return {
      ballCells: this.ball.filter((v) => v > 0).length,
      paddleColumns: this.paddle.filter((v) => v > 0).length,
      bricksBroken: this.bricksBroken,
    };
  }

  snapshot(): CoverageSnapshot {
    return {
      ball: Array.from(this.ball),
      paddle: Array.from(this.paddle),
      bricksBroken: this.bricksBroken,
      lastBricks: this.#lastBricks,
    };
  }

  restore(snapshot: unknown): void {
    const s = snapshot as CoverageSnapshot;
    if (s.ball?.length !== this.ball.length || s.paddle?.length !== this.paddle.length) {
      throw new Error(`coverage: a saved count of another grid (cell ${this.cell})`);
    }
    this.ball = Float64Array.from(s.ball);
    this.paddle = Float64Array.from(s.paddle);
    this.bricksBroken = s.bricksBroken;
    this.#lastBricks = s.lastBricks;
  }

  #clamp(i: number, n: number): number {
    return Math.max(0, Math.min(n - 1, i));
  }
}
