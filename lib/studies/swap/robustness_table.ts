/**
 * The robustness table of the encoder-swap study as markdown.
 *
 * @module
 */

import type { RobustnessRow } from "../../eval/robustness.ts";
import { PERTURB_LEVELS } from "../../envs/perturb.ts";

/** The table as markdown: one row per condition, one column per level, then the ratio. */
export function robustnessMarkdown(rows: readonly RobustnessRow[]): string {
  const conditions = [...new Set(rows.map((r) => r.condition))];
  const levels = [...PERTURB_LEVELS.filter((l) => rows.some((r) => r.level === l)), "ratio"];
  const cell = (condition: string, level: string) => {
    const r = rows.find((x) => x.condition === condition && x.level === level);
    if (!r || !Number.isFinite(r.mean)) return "-";
    const digits = level === "ratio" ? 3 : 2;
    return `${r.mean.toFixed(digits)} ± ${r.std.toFixed(digits)}`;
  };
  const seeds = (condition: string) =>
    Math.max(...rows.filter((r) => r.condition === condition).map((r) => r.seeds));
  return [
    `| condition | seeds | ${levels.join(" | ")} |`,
    `|---|---:|${levels.map(() => "---:").join("|")}|`,
    ...conditions.map((c) =>
      `| ${c} | ${seeds(c)} | ${levels.map((l) => cell(c, l)).join(" | ")} |`
    ),
  ].join("\n");
}
