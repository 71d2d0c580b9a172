/**
 * Statistics of a robustness grid (`robustness.ts`): for every condition, the mean ± std over
 * training seeds of each level's return and of the robustness ratio, a 95% bootstrap interval
 * for each, and the interval of a difference between two conditions (the encoder-swap study's
 * claim: `ratio(jepa_frozen) - ratio(cnn)`).
 *
 * The bootstrap resamples both sources of spread, in two stages, `resamples` times:
 *
 *   1. the evaluation games: |G| draws with replacement from the games G (a game is an
 *      (evaluation seed, episode) pair, seeded the same at every level and for every agent), one
 *      draw per replicate shared by every agent and level, so that agents and levels stay
 *      compared on the same games;
 *   2. the training seeds: per condition, as many draws with replacement as it has seeds.
 *
 * Per replicate an agent's level mean is the mean over the drawn games, its ratio
 * `mean_l(level mean / clean mean)` as `robustnessRatio`, and a condition's value the mean over
 * its drawn seeds. The interval is the 2.5th and 97.5th percentiles of the replicates
 * (percentile bootstrap); replicates where a value is undefined (a drawn agent with clean mean
 * 0) are left out and counted.
 *
 * @module
 */

import { PERTURB_LEVELS, type PerturbLevel } from "../envs/perturb.ts";
import { Rng } from "../tensor/rng.ts";
import { type EpisodeRecord, meanStd, PERTURBED_LEVELS } from "./robustness.ts";

/** One trained agent's evaluation games. */
export interface AgentEpisodes {
  condition: string;
  seed: number;
  episodes: readonly EpisodeRecord[];
}

/** A value over training seeds: mean, sample std, and the bootstrap's 95% interval. */
export interface Estimate {
  mean: number;
  std: number;
  ci95: [number, number];
  /** Replicates left out because the value was undefined in them. */
  undefinedResamples?: number;
}

/** One condition: its seeds, and each level's return and the ratio. */
export interface ConditionStats {
  seeds: number[];
  values: Partial<Record<StatKey, Estimate>>;
}

/** The bootstrap's settings. */
export interface BootstrapOptions {
  /** Replicates (2000 by default). */
  resamples?: number;
  /** Seed of the resampling. */
  seed?: number;
}

/** The keys of a condition's values: the levels present, then `ratio`. */
export type StatKey = PerturbLevel | "ratio";

/** Everything {@linkcode robustnessStats} computes. */
export interface RobustnessStats {
  resamples: number;
  /** Games per agent and level that the bootstrap draws from. */
  games: number;
  conditions: Record<string, ConditionStats>;
  /**
   * `difference(a, b, key)`: `key(a) - key(b)`, its interval from the same replicates, and as
   * `std` the replicates' standard deviation (the bootstrap's standard error).
   */
  difference(a: string, b: string, key: StatKey): Estimate;
}

/**
 * Computes the statistics of the module doc. Every agent must have every level's result for
 * the same games; an agent missing a game is an error naming it.
 */
export function robustnessStats(
  agents: readonly AgentEpisodes[],
  opts: BootstrapOptions = {},
): RobustnessStats {
  const resamples = opts.resamples ?? 2000;
  const levels = PERTURB_LEVELS.filter((l) =>
    agents.some((a) => a.episodes.some((e) => e.level === l))
  );
  const gameKey = (e: EpisodeRecord) => `${e.evalSeed}/${e.episode}`;
  const games = [...new Set(agents.flatMap((a) => a.episodes.map(gameKey)))].sort();
  const gameIndex = new Map(games.map((g, i) => [g, i]));
  // returns[agent][level][game]
  const returns = agents.map((a) => {
    const byLevel = new Map<PerturbLevel, Float64Array>();
    for (const level of levels) byLevel.set(level, new Float64Array(games.length).fill(NaN));
    for (const e of a.episodes) byLevel.get(e.level)![gameIndex.get(gameKey(e))!] = e.return;
    for (const [level, r] of byLevel) {
      const missing = r.findIndex((x) => Number.isNaN(x));
      if (missing >= 0) {
        throw new Error(
          `robustness stats: ${a.condition} seed ${a.seed} has no ${level} result for game ` +
            `${games[missing]} (every agent needs the same games at every level)`,
        );
      }
    }
    return byLevel;
  });
  const keys: StatKey[] = [...levels, "ratio"];
  /** An agent's values for game weights `w` (draw counts). */
  const agentValues = (i: number, w: Float64Array): Record<StatKey, number> => {
    const total = w.reduce((s, x) => s + x, 0);
    const means: Partial<Record<StatKey, number>> = {};
    for (const level of levels) {
      const r = returns[i].get(level)!;
      let s = 0;
      for (let g = 0; g < r.length; g++) s += w[g] * r[g];
      means[level] = s / total;
    }
    const clean = means.clean;
    means.ratio = clean && PERTURBED_LEVELS.every((l) => means[l] !== undefined)
      ? PERTURBED_LEVELS.reduce((s, l) => s + means[l]! / clean, 0) / PERTURBED_LEVELS.length
      : NaN;
    return means as Record<StatKey, number>;
  };
  const conditions = [...new Set(agents.map((a) => a.condition))];
  const members = new Map(conditions.map((c) => [
    c,
    agents.flatMap((a, i) => (a.condition === c ? [i] : [])),
  ]));

  const ones = new Float64Array(games.length).fill(1);
  const point = agents.map((_, i) => agentValues(i, ones));
  // replicates[condition][key][r]
  const replicates = new Map(conditions.map((c) => [
    c,
    Object.fromEntries(keys.map((k) => [k, new Float64Array(resamples)])) as Record<
      StatKey,
      Float64Array
    >,
  ]));
  const rng = new Rng(opts.seed ?? 0);
  const w = new Float64Array(games.length);
  for (let r = 0; r < resamples; r++) {
    w.fill(0);
    for (let g = 0; g < games.length; g++) w[rng.int(games.length)]++;
    const values = agents.map((_, i) => agentValues(i, w));
    for (const c of conditions) {
      const idx = members.get(c)!;
      const drawn = idx.map(() => idx[rng.int(idx.length)]);
      for (const k of keys) {
        replicates.get(c)![k][r] = drawn.reduce((s, i) => s + values[i][k], 0) / drawn.length;
      }
    }
  }

  const estimate = (values: number[], reps: Float64Array): Estimate => {
    const { mean, std } = meanStd(values);
    return { mean, std, ...interval(reps) };
  };
  const out: Record<string, ConditionStats> = {};
  for (const c of conditions) {
    const idx = members.get(c)!;
    out[c] = {
      seeds: idx.map((i) => agents[i].seed),
      values: Object.fromEntries(
        keys.map((k) => [k, estimate(idx.map((i) => point[i][k]), replicates.get(c)![k])]),
      ),
    };
  }
  return {
    resamples,
    games: games.length,
    conditions: out,
    difference(a: string, b: string, key: StatKey): Estimate {
      for (const c of [a, b]) {
        if (!replicates.has(c)) {
          throw new Error(`robustness stats: no condition '${c}' (have ${conditions.join(", ")})`);
        }
      }
      const ra = replicates.get(a)![key], rb = replicates.get(b)![key];
      const diff = ra.map((x, r) => x - rb[r]);
      return {
        mean: out[a].values[key]!.mean - out[b].values[key]!.mean,
        std: meanStd([...diff]).std,
        ...interval(diff),
      };
    },
  };
}

/** The 95% percentile interval of replicates, and how many were undefined (left out). */
function interval(reps: Float64Array): Pick<Estimate, "ci95" | "undefinedResamples"> {
  const finite = [...reps].filter(Number.isFinite).sort((a, b) => a - b);
  const left = reps.length - finite.length;
  return {
    ci95: [percentile(finite, 0.025), percentile(finite, 0.975)],
    ...(left ? { undefinedResamples: left } : {}),
  };
}

/** The q-quantile of sorted values by linear interpolation (NaN when there are none). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
