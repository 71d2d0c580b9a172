/**
 * Robustness of agents to the visual perturbations of the encoder-swap study: whole games at
 * each level (clean, color_jitter, noise, mild, hard) through the training wrapper stack
 * (`evalEnvConfig` of the training config: the same frame pipeline, whole games, raw scores),
 * the robustness ratio `mean(perturbed / clean)` over the four perturbed levels, and a table of
 * mean +/- std over training seeds.
 *
 * Episode j of evaluation seed s is seeded the same at every level and for every agent, so the
 * levels and the agents are compared on the same games.
 *
 * @module
 */

import { type EnvConfig, evalEnvConfig, makeEnv } from "../envs/make.ts";
import type { AtariStepInfo } from "../envs/atari.ts";
import { PERTURB_LEVELS, type PerturbLevel } from "../envs/perturb.ts";
import type { Env } from "../envs/types.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";

/** The perturbed levels the ratio averages over. */
export const PERTURBED_LEVELS: readonly PerturbLevel[] = PERTURB_LEVELS.filter((l) =>
  l !== "clean"
);

/** Chooses actions for `n` observations `[n, h, w, c]` (sampling from `rng`). */
export type ActFn = (obs: Uint8Array, n: number, rng: Rng) => ArrayLike<number>;

/** What to evaluate. */
export interface EvalOptions {
  levels: readonly PerturbLevel[];
  /** Episodes (whole games) per level and evaluation seed. */
  episodes: number;
  seeds: readonly number[];
  /** Cap on a game's agent steps (0: the training config's `maxEpisodeSteps`). */
  maxEpisodeSteps: number;
}

/** One evaluated game. */
export interface EpisodeRecord {
  level: PerturbLevel;
  evalSeed: number;
  episode: number;
  return: number;
  length: number;
  /** Cut by the step cap rather than ended by the game. */
  truncated: boolean;
}

/**
 * Plays `episodes` whole games per level and evaluation seed with `act`, all games of a
 * (level, seed) pair in one batch. `make` builds an env from a config and seed (default
 * `makeEnv`).
 */
export function evaluateRobustness(
  train: EnvConfig,
  act: ActFn,
  opts: EvalOptions,
  make: (config: EnvConfig, seed: number) => Env = makeEnv,
  onEpisode?: (e: EpisodeRecord) => void,
): EpisodeRecord[] {
  const records: EpisodeRecord[] = [];
  for (const level of opts.levels) {
    const config = evalEnvConfig(train, level);
    if (opts.maxEpisodeSteps > 0) config.maxEpisodeSteps = opts.maxEpisodeSteps;
    for (const evalSeed of opts.seeds) {
      const envs = Array.from(
        { length: opts.episodes },
        (_, j) => make(config, deriveSeed(evalSeed, `eval/${j}`)),
      );
      try {
        // The same policy stream at every level: the levels differ only in what the agent sees.
        for (const r of playBatch(envs, act, new Rng(deriveSeed(evalSeed, "policy")))) {
          const rec = { level, evalSeed, ...r };
          records.push(rec);
          onEpisode?.(rec);
        }
      } finally {
        for (const env of envs) env.close();
      }
    }
  }
  return records;
}

/** Plays one game in each env (seeded at construction), batching the policy's calls. */
function playBatch(
  envs: Env[],
  act: ActFn,
  rng: Rng,
): { episode: number; return: number; length: number; truncated: boolean }[] {
  const n = envs.length;
  const [h, w, c] = envs[0].spec.obsShape;
  const frameBytes = h * w * c;
  const obs = new Uint8Array(n * frameBytes);
  envs.forEach((env, i) => obs.set(env.reset().obs, i * frameBytes));
  const results: { episode: number; return: number; length: number; truncated: boolean }[] =
    new Array(n);
  let active = Array.from({ length: n }, (_, i) => i);
  let batch = new Uint8Array(n * frameBytes);
  while (active.length > 0) {
    if (active.length !== n) {
      batch = batch.subarray(0, active.length * frameBytes);
      active.forEach((i, j) =>
        batch.set(obs.subarray(i * frameBytes, (i + 1) * frameBytes), j * frameBytes)
      );
    } else batch.set(obs);
    const actions = act(batch, active.length, rng);
    const still: number[] = [];
    active.forEach((i, j) => {
      const r = envs[i].step(actions[j]);
      const episode = (r.info as AtariStepInfo).episode;
      if (r.terminated || r.truncated) {
        // Whole games (no episodic life here): every end is a game's end, with its statistics.
        results[i] = {
          episode: i,
          return: episode?.return ?? NaN,
          length: episode?.length ?? NaN,
          truncated: r.truncated,
        };
      } else {
        obs.set(r.obs, i * frameBytes);
        still.push(i);
      }
    });
    active = still;
  }
  return results;
}

/** Mean return per level of a set of games. */
export function meanByLevel(
  records: readonly EpisodeRecord[],
): Partial<Record<PerturbLevel, number>> {
  const sums = new Map<PerturbLevel, [number, number]>();
  for (const r of records) {
    const [s, k] = sums.get(r.level) ?? [0, 0];
    sums.set(r.level, [s + r.return, k + 1]);
  }
  return Object.fromEntries([...sums].map(([level, [s, k]]) => [level, s / k]));
}

/**
 * Robustness ratio: the mean over the perturbed levels of (mean return at the level / mean
 * clean return). NaN when the clean return is 0 or a level is missing.
 */
export function robustnessRatio(means: Partial<Record<PerturbLevel, number>>): number {
  const clean = means.clean;
  if (clean === undefined || clean === 0) return NaN;
  let sum = 0;
  for (const level of PERTURBED_LEVELS) {
    const m = means[level];
    if (m === undefined) return NaN;
    sum += m / clean;
  }
  return sum / PERTURBED_LEVELS.length;
}

/**
 * How far each perturbation moves an encoder's features, in units of how far the game itself
 * moves them. The same `n` frame stacks are rendered clean and at each level (the same game
 * states: only the pixels differ), and
 *
 *   shift(level) = sqrt( mean_ij (f_level[i, j] - f_clean[i, j])^2 ) / sqrt( mean_j var_i f_clean[i, j] )
 *
 * for features `f [n, d]`: 0 where the encoder ignores the perturbation, 1 where it moves the
 * features as much as a typical difference between two frames of the game. A policy reading the
 * features sees a perturbation of shift >= 1 as a different game state. The ratio is unchanged by
 * any shift and common scale of the features (an agent's centring does not change it).
 */
export function featureShift(
  features: (obs: Uint8Array, n: number) => Float32Array,
  clean: Uint8Array,
  perturbed: Partial<Record<PerturbLevel, Uint8Array>>,
  n: number,
): Partial<Record<PerturbLevel, number>> {
  if (n < 2) throw new Error(`featureShift: needs at least 2 frame stacks, got ${n}`);
  const f = features(clean, n);
  const d = f.length / n;
  let variance = 0;
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += f[i * d + j] / n;
    for (let i = 0; i < n; i++) variance += (f[i * d + j] - mean) ** 2 / (n * d);
  }
  const out: Partial<Record<PerturbLevel, number>> = {};
  for (const [level, frames] of Object.entries(perturbed) as [PerturbLevel, Uint8Array][]) {
    if (frames.length !== clean.length) {
      throw new Error(
        `featureShift: ${level} has ${frames.length} bytes of frames, clean ${clean.length}`,
      );
    }
    const g = features(frames, n);
    let squared = 0;
    for (let k = 0; k < n * d; k++) squared += (g[k] - f[k]) ** 2 / (n * d);
    out[level] = Math.sqrt(squared / variance);
  }
  return out;
}

/** One agent's evaluation: its condition, training seed and per-level means. */
export interface AgentEvaluation {
  condition: string;
  seed: number;
  means: Partial<Record<PerturbLevel, number>>;
}

/** A row of the robustness table: one condition at one level (or `ratio`). */
export interface RobustnessRow {
  condition: string;
  /** A perturbation level, or `ratio` for the robustness ratio. */
  level: string;
  /** Mean over training seeds of the per-agent value. */
  mean: number;
  /** Sample standard deviation over training seeds (0 with one seed). */
  std: number;
  /** Training seeds averaged. */
  seeds: number;
}

/** Mean and sample standard deviation (n - 1; 0 for a single value), ignoring NaNs. */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } {
  const xs = values.filter(Number.isFinite);
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/**
 * The table: per condition and level, mean +/- std over training seeds of each agent's mean
 * return; and per condition the ratio (computed per agent, then averaged over seeds).
 */
export function summarizeRobustness(evals: readonly AgentEvaluation[]): RobustnessRow[] {
  const conditions = [...new Set(evals.map((e) => e.condition))];
  const rows: RobustnessRow[] = [];
  for (const condition of conditions) {
    const agents = evals.filter((e) => e.condition === condition);
    for (const level of PERTURB_LEVELS) {
      const vals = agents.map((a) => a.means[level]).filter((v): v is number => v !== undefined);
      if (vals.length === 0) continue;
      const s = meanStd(vals);
      rows.push({ condition, level, mean: s.mean, std: s.std, seeds: s.n });
    }
    const s = meanStd(agents.map((a) => robustnessRatio(a.means)));
    rows.push({ condition, level: "ratio", mean: s.mean, std: s.std, seeds: s.n });
  }
  return rows;
}
