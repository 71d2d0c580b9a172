/**
 * N copies of an environment stepped together, with observations in one batch buffer and
 * same-step auto-reset (Gymnasium's `SyncVectorEnv` convention before 1.0, which CleanRL uses):
 * when a copy's episode ends, the step reports its reward and flags, and its observation is
 * already the first of the next episode.
 *
 * @module
 */

import { deriveSeed } from "../tensor/rng.ts";
import type { Env, EnvSpec, StepInfo } from "./types.ts";

/** One batched step. */
export interface VectorStep {
  /** `[numEnvs, h, w, c]` uint8, row-major. Overwritten by the next step. */
  obs: Uint8Array;
  rewards: Float32Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  /** Each copy's info; for a copy that ended, the info of its final step (with `episode`). */
  infos: StepInfo[];
}

/** Steps `envs` in lockstep. */
export class VectorEnv {
  readonly spec: EnvSpec;
  readonly numEnvs: number;
  readonly obs: Uint8Array;
  readonly #frameBytes: number;

  constructor(readonly envs: Env[]) {
    if (envs.length === 0) throw new Error("VectorEnv needs at least one env");
    this.spec = envs[0].spec;
    this.numEnvs = envs.length;
    const [h, w, c] = this.spec.obsShape;
    this.#frameBytes = h * w * c;
    this.obs = new Uint8Array(this.numEnvs * this.#frameBytes);
  }

  /** Builds `numEnvs` envs with `make`, each seeded from `seed` and its index. */
  static create(make: (seed: number) => Env, numEnvs: number, seed: number): VectorEnv {
    return new VectorEnv(
      Array.from({ length: numEnvs }, (_, i) => make(deriveSeed(seed, `env/${i}`))),
    );
  }

  /** Resets every copy; with a seed, copy i is seeded from (seed, i). */
  reset(seed?: number): { obs: Uint8Array; infos: StepInfo[] } {
    const infos = this.envs.map((env, i) => {
      const r = env.reset(seed === undefined ? undefined : deriveSeed(seed, `env/${i}`));
      this.obs.set(r.obs, i * this.#frameBytes);
      return r.info;
    });
    return { obs: this.obs, infos };
  }

  /** Steps every copy with its action and auto-resets the ones whose episode ended. */
  step(actions: ArrayLike<number>): VectorStep {
    if (actions.length !== this.numEnvs) {
      throw new Error(`VectorEnv.step: got ${actions.length} actions for ${this.numEnvs} envs`);
    }
    const rewards = new Float32Array(this.numEnvs);
    const terminated = new Uint8Array(this.numEnvs);
    const truncated = new Uint8Array(this.numEnvs);
    const infos: StepInfo[] = new Array(this.numEnvs);
    // Lets every helper process (real Atari) play its frames while the others are collected.
    for (let i = 0; i < this.numEnvs; i++) this.envs[i].prefetch?.(actions[i]);
    for (let i = 0; i < this.numEnvs; i++) {
      const env = this.envs[i];
      const r = env.step(actions[i]);
      rewards[i] = r.reward;
      terminated[i] = r.terminated ? 1 : 0;
      truncated[i] = r.truncated ? 1 : 0;
      infos[i] = r.info;
      const obs = r.terminated || r.truncated ? env.reset().obs : r.obs;
      this.obs.set(obs, i * this.#frameBytes);
    }
    return { obs: this.obs, rewards, terminated, truncated, infos };
  }

  close(): void {
    for (const env of this.envs) env.close();
  }
}
