import assert from "node:assert/strict";
import { PERTURB_LEVELS, type PerturbLevel } from "../envs/perturb.ts";
import { Rng } from "../tensor/rng.ts";
import {
  type EpisodeRecord,
  meanByLevel,
  robustnessRatio,
  summarizeRobustness,
} from "./robustness.ts";
import { type AgentEpisodes, percentile, robustnessStats } from "./robustness_stats.ts";

/**
 * An agent whose game j returns `clean_j` on clean frames and `keep * clean_j` (plus noise)
 * under every perturbation; 2 evaluation seeds x `games` games.
 */
function agent(condition: string, seed: number, keep: number, games = 10): AgentEpisodes {
  const rng = new Rng(1000 * seed + condition.length);
  const episodes: EpisodeRecord[] = [];
  for (const evalSeed of [100, 101]) {
    for (let episode = 0; episode < games; episode++) {
      const clean = 8 + 4 * rng.float();
      for (const level of PERTURB_LEVELS as readonly PerturbLevel[]) {
        const ret = level === "clean" ? clean : keep * clean + 0.5 * (rng.float() - 0.5);
        episodes.push({ level, evalSeed, episode, return: ret, length: 100, truncated: false });
      }
    }
  }
  return { condition, seed, episodes };
}

const grid = [0, 1, 2].flatMap((s) => [agent("jepa_frozen", s, 0.8), agent("cnn", s, 0.6)]);

Deno.test("point estimates are the table's: per-agent means, then mean ± std over seeds", () => {
  const stats = robustnessStats(grid, { resamples: 200 });
  const table = summarizeRobustness(
    grid.map((a) => ({ condition: a.condition, seed: a.seed, means: meanByLevel(a.episodes) })),
  );
  for (const row of table) {
    const est = stats.conditions[row.condition].values[row.level as "clean"]!;
    assert.ok(Math.abs(est.mean - row.mean) < 1e-9, `${row.condition} ${row.level}`);
    assert.ok(Math.abs(est.std - row.std) < 1e-9);
  }
  assert.deepEqual(stats.conditions.cnn.seeds, [0, 1, 2]);
  assert.equal(stats.games, 20);
});

Deno.test("the intervals hold the effect, and the claim's difference excludes zero when it is real", () => {
  const stats = robustnessStats(grid, { resamples: 500, seed: 3 });
  const ratio = stats.conditions.jepa_frozen.values.ratio!;
  assert.ok(ratio.ci95[0] < ratio.mean && ratio.mean < ratio.ci95[1], JSON.stringify(ratio));
  assert.ok(ratio.ci95[0] > 0.7 && ratio.ci95[1] < 0.9, "the ratio's interval is about 0.8");
  const diff = stats.difference("jepa_frozen", "cnn", "ratio");
  assert.ok(Math.abs(diff.mean - 0.2) < 0.02, `difference ${diff.mean}`);
  assert.ok(diff.ci95[0] > 0, `excludes zero: ${diff.ci95}`);
  // The same condition against itself under another name: no difference in any replicate.
  const twin = grid.filter((a) => a.condition === "cnn").map((a) => ({ ...a, condition: "twin" }));
  const same = robustnessStats([...grid, ...twin], { resamples: 100 });
  const d = same.difference("cnn", "twin", "ratio");
  assert.equal(d.mean, 0);
  assert.ok(d.ci95[0] < 0 && d.ci95[1] > 0, "independent seed draws spread around zero");
});

Deno.test("more seeds and games narrow the interval; the same seed gives the same numbers", () => {
  const width = (agents: AgentEpisodes[]) => {
    const ci = robustnessStats(agents, { resamples: 400, seed: 1 }).conditions.cnn.values.clean!
      .ci95;
    return ci[1] - ci[0];
  };
  const few = [0, 1].map((s) => agent("cnn", s, 0.6, 3));
  const many = [0, 1, 2, 3, 4, 5].map((s) => agent("cnn", s, 0.6, 20));
  assert.ok(width(many) < width(few), `${width(many)} vs ${width(few)}`);
  assert.deepEqual(
    robustnessStats(grid, { resamples: 50, seed: 9 }).conditions,
    robustnessStats(grid, { resamples: 50, seed: 9 }).conditions,
  );
});

Deno.test("an agent missing a game at a level is an error naming it; a zero clean return is counted", () => {
  const broken = agent("cnn", 4, 0.6);
  broken.episodes = broken.episodes.filter((e) => !(e.level === "noise" && e.episode === 3));
  assert.throws(
    () => robustnessStats([...grid, broken], { resamples: 10 }),
    /cnn seed 4 has no noise result for game 10[01]\/3/,
  );
  const zero = agent("dead", 0, 0.5);
  zero.episodes = zero.episodes.map((e) => ({ ...e, return: 0 }));
  const stats = robustnessStats([zero], { resamples: 20 });
  const ratio = stats.conditions.dead.values.ratio!;
  assert.ok(Number.isNaN(ratio.mean) && ratio.undefinedResamples === 20);
  assert.ok(Number.isNaN(robustnessRatio(meanByLevel(zero.episodes))));
});

Deno.test("percentile interpolates between sorted values", () => {
  assert.equal(percentile([0, 10], 0.5), 5);
  assert.equal(percentile([1, 2, 3, 4, 5], 0.975), 4.9);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});
