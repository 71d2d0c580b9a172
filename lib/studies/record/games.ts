/**
 * {@linkcode GameScheduler}: the games of a recording played several at once, one env per slot,
 * the player's forward pass batched over the games in play, and handed out whole in index order.
 * Each game draws from its own random streams ({@linkcode gameRng}), so what it plays does not
 * depend on the games beside it: a resumed recording replays the games an uninterrupted one
 * played, whatever the batch.
 *
 * @module
 */

import { finalObservationRow, type StepRow } from "../../data/format.ts";
import { ScreenStack } from "../../envs/screen.ts";
import type { Env, StepInfo } from "../../envs/types.ts";
import { Rng } from "../../tensor/rng.ts";
import type { Player } from "./player.ts";
import type { RecordConfig } from "./presets.ts";

/** Games started beyond the oldest unfinished one, per slot: bounds the games held at once. */
const LOOKAHEAD_PER_SLOT = 4;

/**
 * Screens held (in play, finished and waiting for the oldest unfinished game, or handed out and
 * not yet recycled) beyond which no new game starts: one long game would otherwise hold the
 * many short ones that finish beside it (a full Breakout screen is 100 KB, a game up to 27,000
 * agent steps).
 */
export const DEFAULT_HELD_BYTES = 2 * 2 ** 30;

/**
 * The random streams of game `index` of a recording seeded `seed`: `env` (the reset seed),
 * `policy` (the player's randomness) and `random` (the action replacements).
 */
export function gameRng(seed: number, index: number): Rng {
  return new Rng(seed).fork(`game/${index}`);
}

/** A game in play or played: its screens and rows so far, and its random streams. */
export interface Game {
  index: number;
  env: Env;
  /** The player's view of the game (null when it reads no observations). */
  view: ScreenStack | null;
  /** The stack the player acts on next. */
  obs: Uint8Array | null;
  info: StepInfo;
  /** The player's randomness (PPO's sampling, DQN's epsilon, random play). */
  policyRng: Rng;
  /** The draws that replace actions by random ones. */
  randomRng: Rng;
  screens: Uint8Array[];
  rows: StepRow[];
  return: number;
}

/**
 * Plays games `first..games-1` on one env per slot, the policy batched over the games in play,
 * and hands them out whole, in index order. A game is started only within a few games per slot
 * of the oldest unfinished one, so the games held while it plays stay few.
 */
export class GameScheduler {
  readonly #config: RecordConfig;
  readonly #player: Player;
  readonly #envs: Env[];
  /** The player's view of each slot's game (null when it reads no observations). */
  readonly #views: (ScreenStack | null)[];
  readonly #playing: (Game | null)[];
  readonly #done = new Map<number, Game>();
  readonly #spare: Uint8Array[] = [];
  readonly #batch: Uint8Array | null;
  readonly #stackBytes: number;
  readonly #maxHeldScreens: number;
  #held = 0;
  #next: number;
  #started: number;

  /**
   * `envs`: one per slot, each playing the player's raw screens (`recordingEnvConfig`);
   * `heldBytes`: the screens held at once beyond which no new game starts (the oldest unfinished
   * game always plays on, so the recording goes on whatever the budget).
   */
  constructor(
    config: RecordConfig,
    player: Player,
    envs: Env[],
    first: number,
    heldBytes = DEFAULT_HELD_BYTES,
  ) {
    this.#config = config;
    this.#player = player;
    this.#envs = envs;
    this.#views = envs.map((env) => {
      const [height, width] = env.spec.obsShape;
      return player.obsShape ? new ScreenStack(height, width, player.env) : null;
    });
    this.#playing = envs.map(() => null);
    const shape = player.obsShape;
    this.#stackBytes = shape ? shape[0] * shape[1] * shape[2] : 0;
    this.#batch = shape ? new Uint8Array(envs.length * this.#stackBytes) : null;
    const [h, w, c] = envs[0].spec.obsShape;
    this.#maxHeldScreens = Math.max(1, Math.floor(heldBytes / (h * w * c)));
    this.#next = first;
    this.#started = first;
  }

  /** Screens held now: in games in play, finished, or handed out and not yet recycled. */
  get heldScreens(): number {
    return this.#held;
  }

  /**
   * Takes back the screens of a game handed out and written: the next games' screens reuse
   * their buffers (a fresh 100 KB buffer per agent step cost a tenth of a recording's time).
   */
  recycle(game: Game): void {
    this.#spare.push(...game.screens);
    this.#held -= game.screens.length;
    game.screens.length = 0;
  }

  /** A copy of a screen the env will overwrite, in a recycled buffer where there is one. */
  #keep(screen: Uint8Array): Uint8Array {
    const copy = this.#spare.pop() ?? new Uint8Array(screen.length);
    copy.set(screen);
    this.#held++;
    return copy;
  }

  /** The games in index order, each as soon as it and every game before it are over. */
  *play(): Generator<Game> {
    const { games } = this.#config;
    while (this.#next < games) {
      this.#fillSlots();
      this.#step();
      for (let game = this.#done.get(this.#next); game; game = this.#done.get(this.#next)) {
        this.#done.delete(this.#next++);
        yield game;
      }
    }
  }

  #fillSlots(): void {
    const limit = Math.min(
      this.#config.games,
      this.#next + LOOKAHEAD_PER_SLOT * this.#envs.length,
    );
    for (let s = 0; s < this.#playing.length && this.#started < limit; s++) {
      // Over the budget only the oldest unfinished game may start: it is the one written next.
      if (this.#held >= this.#maxHeldScreens && this.#started > this.#next) return;
      if (!this.#playing[s]) this.#playing[s] = this.#startGame(this.#started++, s);
    }
  }

  #startGame(index: number, slot: number): Game {
    const rng = gameRng(this.#config.seed, index);
    const env = this.#envs[slot];
    const { obs, info } = env.reset(rng.fork("env").uint32());
    const view = this.#views[slot];
    view?.reset();
    return {
      index,
      env,
      view,
      obs: view ? view.push(obs) : null,
      info,
      policyRng: rng.fork("policy"),
      randomRng: rng.fork("random"),
      screens: [this.#keep(obs)],
      rows: [],
      return: 0,
    };
  }

  /** One agent step of every game in play. */
  #step(): void {
    const games = this.#playing.filter((g): g is Game => g !== null);
    if (games.length === 0) return;
    const n = games.length;
    const batch = this.#batch;
    if (batch) games.forEach((g, i) => batch.set(g.obs!, i * this.#stackBytes));
    const chosen = this.#player.act(
      batch ? batch.subarray(0, n * this.#stackBytes) : new Uint8Array(0),
      n,
      games.map((g) => g.policyRng),
    );
    const p = this.#config.percentRandom / 100;
    const actions = games.map((g, i) =>
      g.randomRng.float() < p ? g.randomRng.int(this.#player.numActions) : chosen[i]
    );
    // Emulators in helper processes (real Atari) play their frames meanwhile.
    games.forEach((g, i) => g.env.prefetch?.(actions[i]));
    games.forEach((g, i) => this.#advance(g, actions[i]));
  }

  #advance(game: Game, action: number): void {
    const r = game.env.step(action);
    const step = game.rows.length;
    game.rows.push({
      episode: game.index,
      step,
      action,
      reward: r.reward,
      terminated: r.terminated,
      truncated: r.truncated,
      lives: game.info.lives,
      // A copy: the rows wait for the game's end, and a source may reuse its state object.
      state: { ...game.info.state },
    });
    game.return += r.reward;
    game.screens.push(this.#keep(r.obs));
    game.info = r.info;
    if (r.terminated || r.truncated) {
      game.rows.push(
        finalObservationRow(game.index, step + 1, { ...r.info, state: { ...r.info.state } }),
      );
      this.#done.set(game.index, game);
      this.#playing[this.#playing.indexOf(game)] = null;
      return;
    }
    if (game.view) game.obs = game.view.push(r.obs);
  }
}
