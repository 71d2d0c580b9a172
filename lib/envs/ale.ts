/**
 * Real Atari behind our {@linkcode Env} interface: the Arcade Learning Environment (PyPI's
 * `ale-py`) as a {@linkcode FrameSource}, so that `ale:<game>` envs go through the very same
 * `AtariEnv` frame pipeline (sticky actions, no-op starts, frame skip, max-pool, perturbation,
 * gray, resize) and episode wrappers as the native games. Each emulator runs in a small Python
 * helper process (`ale_helper.py`, via `ale_process.ts`); one agent step is one round trip that
 * carries the frame-skip's actions out and the kept frames (ALE's own RGB or grayscale), the
 * reward, lives and RAM back. The RAM becomes the same ground-truth state as the native games'
 * (`ale_state.ts`).
 *
 * ale-py is optional: `aleStatus` says whether this machine has it, and choosing an `ale:` env
 * without it is an error that says how to install it.
 *
 * @module
 */

import { ALE_INSTALL_HINT, AleProcess, alePython, type AleReply } from "./ale_process.ts";
import { RAM_DECODERS, type RamDecoder, ramDecoder } from "./ale_state.ts";
import { BREAKOUT_ACTIONS } from "./breakout.ts";
import { PONG_ACTIONS } from "./pong.ts";
import type { AdvanceResult, FrameBuffer, FrameSource, GameState } from "./types.ts";

/** Minimal action sets of the games we know, so that building an env need not wait for ALE. */
export const KNOWN_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  breakout: BREAKOUT_ACTIONS,
  pong: PONG_ACTIONS,
};

/** ALE's frame size, the same for every game. */
const ALE_HEIGHT = 210;
const ALE_WIDTH = 160;

/** Options of {@linkcode AleFrames}. */
export interface AleFramesOptions {
  /** Interpreter with ale-py (default `$JEPA_PYTHON` or `python3`). */
  python?: string;
  /** Longest wait for the helper's reply before it is killed (ms). */
  timeoutMs?: number;
}

/**
 * One real Atari game as a frame source. ALE's games are deterministic given their actions
 * (sticky actions are off inside ALE: `AtariEnv` draws them), so `reset`'s seed is unused;
 * episodes differ through the no-op start, the sticky actions and the policy.
 */
export class AleFrames implements FrameSource {
  readonly actionMeanings: readonly string[];
  readonly stateKeys: readonly string[];
  readonly height = ALE_HEIGHT;
  readonly width = ALE_WIDTH;
  /** The helper process (its pid, for tests that kill it). */
  readonly process: AleProcess;
  readonly #decoder: RamDecoder;
  readonly #result: AdvanceResult = { reward: 0, frames: 0, pooled: false };
  #reply: AleReply | null = null;
  #state: GameState | null = null;
  #checked = false;
  /** The next `advance` was sent ahead by `prefetch`. */
  #prefetched = false;

  constructor(readonly game: string, opts: AleFramesOptions = {}) {
    this.process = new AleProcess({ game, ...opts });
    this.#decoder = ramDecoder(game);
    this.stateKeys = this.#decoder.stateKeys;
    // Unknown games: ask the helper for the action set (waits for it to start).
    this.actionMeanings = KNOWN_ACTIONS[game] ?? this.process.hello().actions;
  }

  reset(_seed: number): void {
    if (!this.#checked) this.#checkActions();
    this.#prefetched = false;
    this.#set(this.process.reset());
  }

  prefetch(
    actions: ArrayLike<number>,
    frames: number,
    last: FrameBuffer,
    prev: FrameBuffer | null,
  ): void {
    this.process.sendStep(actions, frames, last.data.length, prev !== null);
    this.#prefetched = true;
  }

  advance(
    actions: ArrayLike<number>,
    frames: number,
    last: FrameBuffer,
    prev: FrameBuffer | null,
  ): AdvanceResult {
    if (!this.#prefetched) this.prefetch(actions, frames, last, prev);
    this.#prefetched = false;
    const reply = this.process.receiveStep(last.data, prev ? prev.data : null);
    this.#set(reply);
    const result = this.#result;
    result.reward = reply.reward;
    result.frames = reply.frames;
    result.pooled = reply.pooled;
    return result;
  }

  lives(): number {
    return this.#current().lives;
  }

  gameOver(): boolean {
    return this.#current().gameOver;
  }

  state(): GameState {
    const reply = this.#current();
    this.#state ??= this.#decoder.decode(reply.ram, reply.lives);
    return this.#state;
  }

  close(): void {
    this.process.close();
  }

  #set(reply: AleReply): void {
    this.#reply = reply;
    this.#state = null;
  }

  #current(): AleReply {
    if (!this.#reply) throw new Error(`ale:${this.game}: reset() before reading the game`);
    return this.#reply;
  }

  /** Our static action table must be ALE's: a mismatch would scramble every action. */
  #checkActions(): void {
    const actual = this.process.hello().actions;
    if (actual.join() !== this.actionMeanings.join()) {
      throw new Error(
        `ale:${this.game}: ALE's minimal action set is ${actual.join(", ")}, ` +
          `expected ${this.actionMeanings.join(", ")}`,
      );
    }
    this.#checked = true;
  }
}

/** Whether real Atari is available to this process, and what it offers. */
export interface AleStatus {
  available: boolean;
  /** The interpreter asked. */
  python: string;
  /** ale-py version. */
  version?: string;
  /** ROM names ale-py bundles (`breakout`, `pong`, ...). */
  roms?: string[];
  /** Why it is not available, with the install hint. */
  error?: string;
}

const PROBE = "import json, ale_py, ale_py.roms as r\n" +
  'print(json.dumps({"version": ale_py.__version__, "roms": r.get_all_rom_ids()}))';
const statusCache = new Map<string, AleStatus>();

/**
 * Asks the interpreter (default `$JEPA_PYTHON` or `python3`) whether it can import ale-py
 * (once per interpreter and process; about half a second).
 */
export function aleStatus(python = alePython()): AleStatus {
  const cached = statusCache.get(python);
  if (cached) return cached;
  let status: AleStatus;
  try {
    const out = new Deno.Command(python, { args: ["-c", PROBE], stdout: "piped", stderr: "piped" })
      .outputSync();
    if (out.success) {
      const info = JSON.parse(new TextDecoder().decode(out.stdout));
      status = { available: true, python, version: info.version, roms: info.roms };
    } else {
      const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
      status = {
        available: false,
        python,
        error: `ale-py is not importable by ${python} (${stderr}). Real Atari (ale:*) envs ` +
          `need it: ${ALE_INSTALL_HINT} (or point JEPA_PYTHON at a Python that has it)`,
      };
    }
  } catch (err) {
    status = {
      available: false,
      python,
      error: `cannot run ${python} (${(err as Error).message}). Real Atari (ale:*) envs need ` +
        `Python 3 with ale-py: ${ALE_INSTALL_HINT} (set JEPA_PYTHON to choose the interpreter)`,
    };
  }
  statusCache.set(python, status);
  return status;
}

/**
 * Throws unless `ale:<game>` can be built here: ale-py importable (else the error says how to
 * install it) and a ROM of that name bundled.
 */
export function requireAle(game: string): void {
  const status = aleStatus();
  if (!status.available) throw new Error(`env 'ale:${game}': ${status.error}`);
  if (!status.roms!.includes(game)) {
    const known = Object.keys(RAM_DECODERS).map((g) => `ale:${g}`).join(", ");
    throw new Error(
      `env 'ale:${game}': ale-py ${status.version} has no ROM named '${game}' (with ground-truth ` +
        `state: ${known}; all ${status.roms!.length} ROMs: ${status.roms!.join(", ")})`,
    );
  }
}
