/**
 * The encoder-swap grid's statistics (`lib/eval/robustness_stats.ts` on its evaluation games):
 * `summary.json` and the report's section with 95% intervals, and the study's claim, whether a
 * frozen JEPA is more robust than an end-to-end CNN: `ratio(jepa_frozen) - ratio(cnn)` with its
 * interval, and whether the interval excludes zero.
 *
 * @module
 */

import { PERTURB_LEVELS } from "../../envs/perturb.ts";
import { type Estimate, type RobustnessStats, type StatKey } from "../../eval/robustness_stats.ts";

/** The study's claim: condition `a` minus condition `b` on `key`. */
export const SWAP_CLAIM = { a: "jepa_frozen", b: "cnn", key: "ratio" as StatKey };

/** How the intervals are made, in words (report and summary.json). */
export function bootstrapMethod(stats: RobustnessStats): string {
  return `percentile bootstrap, ${stats.resamples} resamples; each resample draws the ` +
    `${stats.games} evaluation games with replacement (one draw shared by every agent and ` +
    `level, so all are compared on the same games), then each condition's training seeds with ` +
    `replacement`;
}

/** The claim's difference, or null when the grid lacks one of its conditions. */
export function claimEstimate(stats: RobustnessStats): Estimate | null {
  const { a, b, key } = SWAP_CLAIM;
  if (!stats.conditions[a] || !stats.conditions[b]) return null;
  return stats.difference(a, b, key);
}

/**
 * `summary.json`: `{env, conditions: {<condition>: {seeds, clean: {mean, std, ci95}, ...,
 * ratio: {...}}}, claim, bootstrap}`; NaN values as null.
 */
export function swapSummary(envId: string, stats: RobustnessStats): Record<string, unknown> {
  const claim = claimEstimate(stats);
  const { a, b, key } = SWAP_CLAIM;
  return {
    env: envId,
    conditions: Object.fromEntries(
      Object.entries(stats.conditions).map(([c, s]) => [c, { seeds: s.seeds, ...s.values }]),
    ),
    claim: claim
      ? {
        what: `${key}(${a}) - ${key}(${b})`,
        ...claim,
        excludesZero: claim.ci95[0] > 0 || claim.ci95[1] < 0,
      }
      : null,
    bootstrap: { resamples: stats.resamples, games: stats.games, method: bootstrapMethod(stats) },
  };
}

function cell(e: Estimate | undefined, digits: number): string {
  if (!e || !Number.isFinite(e.mean)) return "-";
  const [lo, hi] = e.ci95.map((x) => (Number.isFinite(x) ? x.toFixed(digits) : "?"));
  return `${e.mean.toFixed(digits)} ± ${e.std.toFixed(digits)} [${lo}, ${hi}]`;
}

/** The report's statistics section: the table with intervals, the claim, the method. */
export function statisticsMarkdown(stats: RobustnessStats): string[] {
  const conditions = Object.keys(stats.conditions);
  const keys = [
    ...PERTURB_LEVELS.filter((l) => conditions.some((c) => stats.conditions[c].values[l])),
    "ratio",
  ] as StatKey[];
  const claim = claimEstimate(stats);
  const { a, b, key } = SWAP_CLAIM;
  const out = [
    "## Statistics: mean ± std over training seeds [95% interval]",
    "",
    `| condition | seeds | ${keys.join(" | ")} |`,
    `|---|---:|${keys.map(() => "---:").join("|")}|`,
    ...conditions.map((c) => {
      const s = stats.conditions[c];
      return `| ${c} | ${s.seeds.length} | ${
        keys.map((k) => cell(s.values[k], k === "ratio" ? 3 : 2)).join(" | ")
      } |`;
    }),
    "",
    `Intervals: ${bootstrapMethod(stats)}.`,
    "",
  ];
  const undefinedOnes = conditions.flatMap((c) =>
    keys.flatMap((k) => {
      const left = stats.conditions[c].values[k]?.undefinedResamples;
      return left ? [`${c} ${k} ${left}`] : [];
    })
  );
  if (undefinedOnes.length) {
    out.push(
      `Resamples left out where the value is undefined (a drawn agent's clean mean of 0 leaves ` +
        `its ratio undefined), of ${stats.resamples}: ${undefinedOnes.join(", ")}.`,
      "",
    );
  }
  if (claim) {
    const excludes = claim.ci95[0] > 0 || claim.ci95[1] < 0;
    out.push(
      `**The claim** (a frozen JEPA is more robust than the end-to-end CNN): ${key}(${a}) - ` +
        `${key}(${b}) = ${claim.mean.toFixed(3)}, 95% interval [${claim.ci95[0].toFixed(3)}, ` +
        `${claim.ci95[1].toFixed(3)}] (bootstrap standard error ${claim.std.toFixed(3)}): the ` +
        `interval ${excludes ? "excludes" : "includes"} zero, so this grid ${
          excludes
            ? (claim.mean > 0 ? "supports the claim" : "contradicts the claim")
            : "cannot tell the two apart"
        }.`,
      "",
    );
  } else {
    out.push(`The claim (${key}(${a}) - ${key}(${b})) needs both conditions in the grid.`, "");
  }
  return out;
}
