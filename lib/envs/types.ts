/**
 * The one environment interface every game, wrapper and vector env in the project implements,
 * modelled on Gymnasium's `reset` / `step` with `terminated` / `truncated`, and ALE's conventions
 * (minimal action sets, lives, 210x160x3 uint8 RGB frames).
 *
 * @module
 */

/** Ground-truth variables of a game at one step, keyed by name (see each game's `stateKeys`). */
export type GameState = Record<string, number>;

/** Shape of an observation, height x width x channels (channels last, as tfjs expects). */
export type ObsShape = readonly [height: number, width: number, channels: number];

/** What every step and reset reports besides the observation. */
export interface StepInfo {
  /** Lives left (ALE's `lives()`); 0 for games without lives. */
  lives: number;
  /** Ground-truth state after this step, for probes and datasets. */
  state: GameState;
  /** Emulator frames since the episode began (counts skipped frames too). */
  episodeFrame: number;
}

/** Result of `reset`. */
export interface ResetResult {
  obs: Uint8Array;
  info: StepInfo;
}

/** Result of `step`, as in Gymnasium. */
export interface StepResult {
  obs: Uint8Array;
  reward: number;
  /** The episode ended inside the game (game over, or a life lost under episodic-life). */
  terminated: boolean;
  /** The episode was cut from outside (step limit). */
  truncated: boolean;
  info: StepInfo;
}

/** Static description of an environment. */
export interface EnvSpec {
  /** e.g. `native:breakout`, `ale:pong`. */
  id: string;
  /** Names of the actions, index = action id (ALE's minimal action set). */
  actionMeanings: readonly string[];
  /** Shape of the observations this env returns. */
  obsShape: ObsShape;
  /** Names of the ground-truth state variables, in a fixed order. */
  stateKeys: readonly string[];
}

/**
 * A single environment. Observations returned by `reset` and `step` may be views into an
 * internal buffer that the next call overwrites: copy them (`obs.slice()`) to keep them.
 */
export interface Env {
  readonly spec: EnvSpec;
  /** Starts a new episode; a seed re-seeds the env's random stream. */
  reset(seed?: number): ResetResult;
  step(action: number): StepResult;
  /**
   * Optional: a promise that the next call is `step(action)`, so that an emulator in another
   * process can start on it now. A vector env prefetches every copy before stepping any, and
   * the helper processes of real Atari games then run in parallel. Native games ignore it.
   */
  prefetch?(action: number): void;
  /** Releases resources (helper processes for ALE); a no-op for native games. */
  close(): void;
}

/** An RGB color. */
export type Rgb = readonly [r: number, g: number, b: number];

/**
 * A surface a game draws its frame on. Games only draw axis-aligned rectangles (as the Atari's
 * playfield and sprites are), which lets the same drawing code target RGB or straight-to-gray
 * buffers; the gray target skips an RGB frame when no perturbation needs one.
 */
export interface Canvas {
  readonly width: number;
  readonly height: number;
  /** Fills the whole surface with one color. */
  clear(color: Rgb): void;
  /** Fills `[x, x+w) x [y, y+h)`, clipped to the surface. */
  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void;
}

/**
 * An emulated game: deterministic given its seed and actions. `tick` advances one emulator
 * frame; `draw` paints the current frame. Separating the two lets frame-skip wrappers render
 * only the frames they keep.
 */
export interface Game {
  readonly name: string;
  readonly actionMeanings: readonly string[];
  readonly stateKeys: readonly string[];
  /** Frame size in pixels (ALE: 210 x 160). */
  readonly height: number;
  readonly width: number;
  /** Starts a new game; randomness (serve directions etc.) comes from this seed's stream. */
  reset(seed: number): void;
  /** Advances one emulator frame with an action; returns the reward of that frame. */
  tick(action: number): number;
  /** Lives left. */
  lives(): number;
  /** True when the game is over (no lives left, or all walls cleared). */
  gameOver(): boolean;
  /** Ground-truth state of the current frame. */
  state(): GameState;
  /** Paints the current frame. */
  draw(canvas: Canvas): void;
}

/** A frame buffer that a {@linkcode FrameSource} renders into: RGB or gray, row-major. */
export interface FrameBuffer extends Canvas {
  /** `height x width x 3` bytes (RGB) or `height x width` (ALE's grayscale). */
  readonly data: Uint8Array;
}

/** What {@linkcode FrameSource.advance} reports. */
export interface AdvanceResult {
  /** Sum of the rewards of the frames played. */
  reward: number;
  /** Frames played: fewer than asked when the game ended. */
  frames: number;
  /** Whether the frame before the last was rendered into `prev`. */
  pooled: boolean;
}

/**
 * Where an ALE-style env's emulator frames come from: a native {@linkcode Game}, or a real Atari
 * emulator behind a pipe. Frames are advanced in bulk, so that an emulator in another process
 * costs one round trip per agent step, and only the frames a frame-skip wrapper keeps are
 * rendered (the last one, and the one before it for the max-pool).
 */
export interface FrameSource {
  readonly actionMeanings: readonly string[];
  readonly stateKeys: readonly string[];
  readonly height: number;
  readonly width: number;
  /** Starts a new game; `seed` feeds whatever randomness the game has of its own. */
  reset(seed: number): void;
  /**
   * Plays `frames` emulator frames, `actions[k]` on frame k (sticky actions already applied),
   * stopping after the frame on which the game ends. Renders the last frame played into
   * `last`, and into `prev` (when given) the second-to-last of the `frames` if the game was
   * still on after it. `frames` may be 0: then only `last` is rendered.
   */
  advance(
    actions: ArrayLike<number>,
    frames: number,
    last: FrameBuffer,
    prev: FrameBuffer | null,
  ): AdvanceResult;
  /**
   * Optional: starts the `advance` that will follow with the same arguments, without waiting
   * for it (for emulators in other processes; see {@linkcode Env.prefetch}).
   */
  prefetch?(
    actions: ArrayLike<number>,
    frames: number,
    last: FrameBuffer,
    prev: FrameBuffer | null,
  ): void;
  /** Lives left. */
  lives(): number;
  /** True when the game is over. */
  gameOver(): boolean;
  /** Ground-truth state of the last frame played. */
  state(): GameState;
  /** Releases the emulator (ends a helper process); a no-op for native games. */
  close(): void;
}
