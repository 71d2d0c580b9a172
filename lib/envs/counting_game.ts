/**
 * A tiny deterministic {@linkcode Game} for testing wrappers: the frame's brightness encodes
 * the emulator frame number, every frame gives reward equal to the action, and a life is lost
 * every `ticksPerLife` frames. Not a game anyone plays; it makes skip, pooling and life logic
 * checkable by arithmetic.
 *
 * @module
 */

import type { Canvas, Game, GameState } from "./types.ts";

/** See the module doc. */
export class CountingGame implements Game {
  readonly name = "counting";
  readonly actionMeanings = ["NOOP", "FIRE", "RIGHT", "LEFT"] as const;
  readonly stateKeys = ["tick", "lives", "seed"] as const;
  readonly height = 10;
  readonly width = 8;
  ticks = 0;
  #lives = 3;
  #seed = 0;
  /** Actions received, in order (for tests of sticky actions and resets). */
  readonly actions: number[] = [];

  constructor(readonly ticksPerLife = 20, readonly startLives = 3) {}

  reset(seed: number): void {
    this.ticks = 0;
    this.#lives = this.startLives;
    this.#seed = seed;
    this.actions.length = 0;
  }

  tick(action: number): number {
    this.ticks++;
    this.actions.push(action);
    if (this.ticks % this.ticksPerLife === 0) this.#lives--;
    return action;
  }

  lives(): number {
    return this.#lives;
  }

  gameOver(): boolean {
    return this.#lives <= 0;
  }

  state(): GameState {
    return { tick: this.ticks, lives: this.#lives, seed: this.#seed };
  }

  draw(canvas: Canvas): void {
    const v = this.ticks % 256;
    canvas.clear([v, v, v]);
    // Odd frames light the bottom row only: max-pooling two frames must show both halves.
    if (this.ticks % 2 === 1) canvas.fillRect(0, this.height - 1, this.width, 1, [255, 255, 255]);
    else canvas.fillRect(0, 0, this.width, 1, [255, 255, 255]);
  }
}
