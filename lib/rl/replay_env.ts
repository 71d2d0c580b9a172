/**
 * A vector env whose state can be saved in a checkpoint and restored exactly, by replay.
 *
 * Every game of every copy starts from its own seed, `deriveSeed(seed, "env/<i>/game/<k>")`,
 * and the env stack is deterministic given that seed and the actions (sticky actions, no-op
 * starts and perturbations draw from the env's seeded stream; the ALE emulator runs with sticky
 * actions off and a fixed seed). So a copy's state is its game number and the actions played
 * since that game began: a snapshot stores those, and a restore re-seeds the game and replays
 * the actions (whole games are at most `maxEpisodeSteps` long; native games replay at about
 * 14,000 steps/s). Like `VectorEnv`, it auto-resets on the step that ends an episode: a lost
 * life under episodic life continues the game (`reset()`), a game over starts the next seeded
 * game.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { AtariStepInfo, EpisodeStats } from "../envs/atari.ts";
import type { Env, EnvSpec } from "../envs/types.ts";
import { deriveSeed } from "../tensor/rng.ts";

/** What a checkpoint stores of a {@linkcode ReplayVectorEnv}. */
export interface EnvSnapshot {
  /** Per copy: the number of the game in play. */
  games: number[];
  /** Per copy: the actions of the game in play so far, one byte each, base64. */
  actions: string[];
}

/** One batched step. */
export interface ReplayStep {
  rewards: Float32Array;
  /** `terminated || truncated` per copy (CleanRL's `next_done`). */
  dones: Uint8Array;
  /** Per copy: 1 where the episode ended by termination (no bootstrap from its final frame). */
  terminated: Uint8Array;
  /** Per copy: where the episode ended, its final observation (a copy; `obs` holds the reset). */
  finalObs: (Uint8Array | undefined)[];
  /** Per copy: the step's info (ground-truth state after the step, before any auto-reset). */
  infos: AtariStepInfo[];
  /** Per copy: the finished game's statistics on the step that ended a whole game. */
  episodes: (EpisodeStats | undefined)[];
}

/** See the module doc. */
export class ReplayVectorEnv {
  readonly spec: EnvSpec;
  readonly numEnvs: number;
  /** `[numEnvs, h, w, c]` uint8: the current observation of every copy. */
  readonly obs: Uint8Array;
  readonly #envs: Env[];
  readonly #frameBytes: number;
  readonly #games: number[];
  #logs: Uint8Array[];
  #lengths: number[];

  constructor(make: (index: number) => Env, numEnvs: number, readonly seed: number) {
    if (!(Number.isInteger(numEnvs) && numEnvs >= 1)) {
      throw new Error(`numEnvs must be an integer >= 1, got ${numEnvs}`);
    }
    this.#envs = Array.from({ length: numEnvs }, (_, i) => make(i));
    this.spec = this.#envs[0].spec;
    if (this.spec.actionMeanings.length > 256) {
      throw new Error(`${this.spec.id}: more than 256 actions cannot be logged as bytes`);
    }
    this.numEnvs = numEnvs;
    const [h, w, c] = this.spec.obsShape;
    this.#frameBytes = h * w * c;
    this.obs = new Uint8Array(numEnvs * this.#frameBytes);
    this.#games = new Array(numEnvs).fill(0);
    this.#logs = Array.from({ length: numEnvs }, () => new Uint8Array(1024));
    this.#lengths = new Array(numEnvs).fill(0);
  }

  /** The seed of game `game` of copy `index`. */
  gameSeed(index: number, game: number): number {
    return deriveSeed(this.seed, `env/${index}/game/${game}`);
  }

  /** Starts game 0 of every copy. */
  reset(): void {
    for (let i = 0; i < this.numEnvs; i++) this.#startGame(i, 0);
  }

  /** Steps every copy with its action; auto-resets the copies whose episode ended. */
  step(actions: ArrayLike<number>): ReplayStep {
    const n = this.numEnvs;
    if (actions.length !== n) throw new Error(`step: got ${actions.length} actions for ${n} envs`);
    const rewards = new Float32Array(n);
    const dones = new Uint8Array(n);
    const terminated = new Uint8Array(n);
    const finalObs: (Uint8Array | undefined)[] = new Array(n);
    const infos: AtariStepInfo[] = new Array(n);
    const episodes: (EpisodeStats | undefined)[] = new Array(n);
    for (let i = 0; i < n; i++) this.#envs[i].prefetch?.(actions[i]);
    for (let i = 0; i < n; i++) {
      const env = this.#envs[i];
      const r = env.step(actions[i]);
      this.#log(i, actions[i]);
      rewards[i] = r.reward;
      const done = r.terminated || r.truncated;
      dones[i] = done ? 1 : 0;
      terminated[i] = r.terminated ? 1 : 0;
      infos[i] = r.info as AtariStepInfo;
      const episode = infos[i].episode;
      episodes[i] = episode;
      if (done) finalObs[i] = r.obs.slice();
      if (!done) this.obs.set(r.obs, i * this.#frameBytes);
      else if (episode) this.#startGame(i, this.#games[i] + 1);
      else this.obs.set(env.reset().obs, i * this.#frameBytes);
    }
    return { rewards, dones, terminated, finalObs, infos, episodes };
  }

  /** The state to put in a checkpoint. */
  snapshot(): EnvSnapshot {
    return {
      games: [...this.#games],
      actions: this.#logs.map((log, i) =>
        Buffer.from(log.buffer, log.byteOffset, this.#lengths[i]).toString("base64")
      ),
    };
  }

  /** Puts every copy back where {@linkcode snapshot} found it, by re-seeding and replaying. */
  restore(snap: EnvSnapshot): void {
    if (snap.games.length !== this.numEnvs || snap.actions.length !== this.numEnvs) {
      throw new Error(
        `restore: the snapshot has ${snap.games.length} envs, this vector env ${this.numEnvs}`,
      );
    }
    for (let i = 0; i < this.numEnvs; i++) {
      const actions = new Uint8Array(Buffer.from(snap.actions[i], "base64"));
      this.#startGame(i, snap.games[i]);
      const env = this.#envs[i];
      let obs: Uint8Array | null = null;
      for (let t = 0; t < actions.length; t++) {
        const r = env.step(actions[t]);
        this.#log(i, actions[t]);
        if ((r.info as AtariStepInfo).episode) {
          throw new Error(
            `restore: env ${i} game ${snap.games[i]} ended at replayed step ${t + 1} of ` +
              `${actions.length}: the env is not deterministic, or the snapshot is not its own`,
          );
        }
        obs = r.terminated || r.truncated ? env.reset().obs : r.obs;
      }
      if (obs) this.obs.set(obs, i * this.#frameBytes);
    }
  }

  close(): void {
    for (const env of this.#envs) env.close();
  }

  #startGame(i: number, game: number): void {
    this.#games[i] = game;
    this.#lengths[i] = 0;
    this.obs.set(this.#envs[i].reset(this.gameSeed(i, game)).obs, i * this.#frameBytes);
  }

  #log(i: number, action: number): void {
    let log = this.#logs[i];
    if (this.#lengths[i] === log.length) {
      const grown = new Uint8Array(log.length * 2);
      grown.set(log);
      this.#logs[i] = log = grown;
    }
    log[this.#lengths[i]++] = action;
  }
}
