/**
 * The "Encoder swap" section of a pipeline run's report, rebuilt from what the `swap` phase left
 * in `<run>/swap`: its config, the robustness table (Parquet, read with polars), the grid's
 * figures, and the published study's numbers beside ours (marked as theirs, and as comparable
 * only on real ALE Breakout).
 *
 * @module
 */

import pl from "nodejs-polars";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { RobustnessRow } from "../../eval/robustness.ts";
import { robustnessMarkdown } from "./robustness_table.ts";
import type { SwapConfig } from "./grid.ts";
import { publishedComparison, randomPlayLine } from "./report.ts";
import type { ReportItem } from "../../viz/report_items.ts";

/** Figures of the grid, in the order the section shows them, with their captions. */
const FIGURES: [string, string][] = [
  ["robustness_levels", "Mean return per perturbation level and condition (seeds as dots)"],
  ["robustness_ratio", "Robustness ratio = mean(perturbed / clean) per condition"],
  ["learning_curves", "Training return per condition (mean over seeds, band: the seeds' range)"],
];

/** The section's items; empty when the run has no swap phase output. */
export function swapReportItems(runDir: string): ReportItem[] {
  const dir = join(runDir, "swap");
  const configPath = join(dir, "config.json");
  const tablePath = join(dir, "robustness.parquet");
  if (!existsSync(configPath) || !existsSync(tablePath)) return [];
  const cfg = JSON.parse(readFileSync(configPath, "utf8")) as SwapConfig;
  const rows: RobustnessRow[] = pl.readParquet(tablePath).toRecords().map((r) => ({
    condition: String(r.condition),
    level: String(r.level),
    mean: r.mean === null ? NaN : Number(r.mean),
    std: r.std === null ? NaN : Number(r.std),
    seeds: Number(r.seeds),
  }));
  const randomPath = join(dir, "random_play.json");
  const random = existsSync(randomPath)
    ? JSON.parse(readFileSync(randomPath, "utf8")) as { means: Record<string, number> }
    : null;
  const items: ReportItem[] = [];
  const out: string[] = [
    "## Encoder swap (PPO under visual perturbations)",
    "",
    `PPO agents (CleanRL's hyper-parameters, ${cfg.ppo.totalSteps} env steps per run, training ` +
    `seeds ${cfg.seeds.join(", ")}) on \`${cfg.env.id}\`, each with an encoder: the Nature CNN ` +
    "trained end to end, or this run's I-JEPA, autoencoder or a random-init ViT, frozen (only the " +
    "heads train) or fine-tuned at a tenth of the learning rate" +
    (cfg.agent.centerFeatures
      ? ", its features centred and scaled by statistics of random play (fixed before training)"
      : "") +
    ". Each agent plays " +
    `${cfg.eval.episodes} games per level and evaluation seed (${cfg.eval.seeds.join(", ")}) ` +
    "clean and under four perturbations; mean ± std over training seeds:",
    "",
    robustnessMarkdown(rows),
    "",
    ...(random ? [randomPlayLine(random.means), ""] : []),
    ...publishedComparison(cfg.env.id, rows),
    "",
  ];
  const flush = () => items.push({ kind: "markdown", text: out.splice(0).join("\n") });
  for (const [name, caption] of FIGURES) {
    const path = join(dir, "figures", `${name}.svg`);
    if (!existsSync(path)) continue;
    flush();
    items.push({ kind: "figure", name: `swap_${name}`, svg: readFileSync(path, "utf8"), caption });
  }
  out.push("", `${swapDetails(join(dir, "figures"))}: [swap/REPORT.md](swap/REPORT.md).`, "");
  flush();
  return items;
}

/**
 * What the grid's own report adds, as a phrase: saliency maps and the GIF need an agent's
 * checkpoint, so a grid reported from summaries alone has only the per-run table.
 */
function swapDetails(figures: string): string {
  const files = existsSync(figures) ? [...Deno.readDirSync(figures)].map((e) => e.name) : [];
  const parts = [
    ...(files.includes("saliency.png") ? ["Saliency maps"] : []),
    ...(files.some((f) => f.endsWith(".gif")) ? ["a clean-vs-hard GIF"] : []),
    "the per-run table",
  ];
  const text = parts.length === 1
    ? parts[0]
    : `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`;
  return text[0].toUpperCase() + text.slice(1);
}
