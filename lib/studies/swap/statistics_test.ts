import assert from "node:assert/strict";
import { PERTURB_LEVELS } from "../../envs/perturb.ts";
import type { EpisodeRecord } from "../../eval/robustness.ts";
import { robustnessStats } from "../../eval/robustness_stats.ts";
import { statisticsMarkdown, swapSummary } from "./statistics.ts";

/** Agents whose perturbed returns keep `keep` of the clean ones, game by game. */
function agents(condition: string, keep: number) {
  return [0, 1, 2].map((seed) => ({
    condition,
    seed,
    episodes: Array.from(
      { length: 6 },
      (_, episode) =>
        PERTURB_LEVELS.map((level): EpisodeRecord => {
          const clean = 5 + episode + seed;
          const ret = level === "clean" ? clean : keep * clean + 0.1 * ((episode + seed) % 3);
          return { level, evalSeed: 100, episode, return: ret, length: 50, truncated: false };
        }),
    ).flat(),
  }));
}

Deno.test("summary.json has the issue's shape and the claim's interval; the report says what it shows", () => {
  const stats = robustnessStats([...agents("cnn", 0.6), ...agents("jepa_frozen", 0.8)], {
    resamples: 300,
  });
  const summary = swapSummary("native:breakout", stats) as {
    env: string;
    conditions: Record<string, Record<string, unknown>>;
    claim: { what: string; mean: number; ci95: number[]; excludesZero: boolean };
  };
  assert.equal(summary.env, "native:breakout");
  assert.deepEqual(Object.keys(summary.conditions.cnn), ["seeds", ...PERTURB_LEVELS, "ratio"]);
  assert.deepEqual(Object.keys(summary.conditions.cnn.clean as object), ["mean", "std", "ci95"]);
  assert.equal(summary.claim.what, "ratio(jepa_frozen) - ratio(cnn)");
  assert.ok(summary.claim.mean > 0.15 && summary.claim.excludesZero);
  const md = statisticsMarkdown(stats).join("\n");
  assert.match(md, /\| jepa_frozen \| 3 \| \d+\.\d\d ± \d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\] \|/);
  assert.match(md, /the interval excludes zero, so this grid supports the claim/);
  const same = robustnessStats([...agents("cnn", 0.7), ...agents("jepa_frozen", 0.7)], {
    resamples: 300,
  });
  assert.match(statisticsMarkdown(same).join("\n"), /includes zero, so this grid cannot tell/);
});
