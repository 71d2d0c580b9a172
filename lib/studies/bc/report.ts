/**
 * The behaviour-cloning study's report: `bc.json` (every variant's metrics, the baselines),
 * `BC.md` (the variant table beside the majority class, the action prior, the demonstrator and
 * random play; the best variant's confusion matrix) and `figures/bc_accuracy.svg`.
 *
 * @module
 */

import { meanStd } from "../../eval/robustness.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import type { RunDir } from "../../run/run_dir.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import type { BcStudyConfig } from "./presets.ts";
import type { BcStudyResult } from "./study.ts";

/** Game scores as `mean ± std` ("-" for none). */
function scores(xs: number[]): string {
  if (xs.length === 0) return "-";
  const { mean, std } = meanStd(xs);
  return `${mean.toFixed(2)} ± ${std.toFixed(2)}`;
}

/** The markdown report. */
export function bcMarkdown(cfg: BcStudyConfig, r: BcStudyResult, preset?: string): string {
  const b = r.baselines;
  const pct = (x: number) => (100 * x).toFixed(1);
  const best = [...r.rows].sort((x, y) => y.metrics.accuracy - x.metrics.accuracy)[0];
  const softmax = r.rows.find((x) => x.loss === "softmax");
  const bestJepa = [...r.rows].filter((x) => x.loss !== "softmax")
    .sort((x, y) => y.metrics.accuracy - x.metrics.accuracy)[0];
  const out = [
    `# Frame-to-action JEPA: behaviour cloning on ${r.dataset.env}`,
    "",
    `${
      preset ? `Preset \`${preset}\`, s` : "S"
    }eed ${cfg.seed}. Demonstrations: ${cfg.data.source}` +
    ` (${r.dataset.frames} frames, ${r.dataset.episodes} episodes); held out by ${r.split.by}: ` +
    `${r.split.val} episodes (${r.split.train} for training), never split by frame. Inputs: ` +
    `stacks of ${cfg.stack} frames. Every variant trains on the same split with the same ` +
    `schedule (${cfg.train.steps} steps at most, batch ${cfg.train.batchSize}` +
    (cfg.train.earlyStop.every > 0 ? `, early stopping on the held-out loss` : "") +
    `); metrics on every held-out decision.`,
    "",
    "| variant | encoder | target | predictor | loss | masking | gaze | accuracy % | top-3 % | MRR | closed loop (per game) | steps | s |",
    "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...r.rows.map((x) =>
      `| ${x.variant} | ${x.encoder} | ${x.target} | ${x.predictor} | ${x.loss} | ${x.masking} | ${x.gaze} | ` +
      `${pct(x.metrics.accuracy)} | ${pct(x.metrics.top3)} | ${x.metrics.mrr.toFixed(3)} | ` +
      `${scores(x.play)} | ${x.steps} | ${x.seconds.toFixed(0)} |`
    ),
    `| majority class | - | - | - | - | - | - | ${pct(b.majority.accuracy)} | ${
      pct(b.majority.top3)
    } | ${b.majority.mrr.toFixed(3)} | - | - | - |`,
    `| action prior | - | - | - | - | - | - | ${pct(b.prior.accuracy)} | ${pct(b.prior.top3)} | ${
      b.prior.mrr.toFixed(3)
    } | - | - | - |`,
    `| demonstrator | - | - | - | - | - | - | - | - | - | ${scores(b.demonstrator)} | - | - |`,
    `| random play | - | - | - | - | - | - | - | - | - | ${scores(b.random)} | - | - |`,
    "",
    "Closed loop: the model plays the game through the training wrappers (whole games, raw " +
    `scores), the top-scored action with a ${cfg.play.epsilon} chance of a random one, ` +
    `${cfg.play.games} seeded games per variant (the same games for random play); the ` +
    "demonstrator's row is its own held-out games.",
    "",
  ];
  if (softmax && bestJepa) {
    const gap = 100 * (bestJepa.metrics.accuracy - softmax.metrics.accuracy);
    out.push(
      `Best JEPA variant: ${bestJepa.variant}, ${pct(bestJepa.metrics.accuracy)}% against the ` +
        `softmax baseline's ${pct(softmax.metrics.accuracy)}% (${gap >= 0 ? "+" : ""}${
          gap.toFixed(1)
        } points) and the majority class's ${pct(b.majority.accuracy)}%.`,
      "",
    );
  }
  if (best) {
    out.push(
      `Confusion matrix of ${best.variant} (rows: the action taken, columns: predicted; ` +
        `actions ${r.actionMeanings.join(", ")}):`,
      "",
      `| taken \\ predicted | ${r.actionMeanings.join(" | ")} |`,
      `|---|${r.actionMeanings.map(() => "---:").join("|")}|`,
      ...best.metrics.confusion.map((row, i) => `| ${r.actionMeanings[i]} | ${row.join(" | ")} |`),
      "",
    );
  }
  out.push("![held-out accuracy per variant](figures/bc_accuracy.svg)", "");
  return out.join("\n");
}

/** Held-out accuracy and MRR per variant, with the baselines as rules. */
export function bcFigureSvg(r: BcStudyResult): string {
  const points = r.rows.flatMap((x) => [
    { variant: x.variant, metric: "accuracy", value: x.metrics.accuracy },
    { variant: x.variant, metric: "MRR", value: x.metrics.mrr },
  ]);
  const rules = [
    { metric: "accuracy", value: r.baselines.majority.accuracy },
    { metric: "MRR", value: r.baselines.prior.mrr },
  ];
  return plotToSvg({
    title: `Behaviour cloning on ${r.dataset.env}: held-out accuracy and MRR`,
    subtitle: "red: the majority class (accuracy) and the action prior (MRR)",
    width: 760,
    height: 80 + 24 * r.rows.length * 2,
    marginLeft: 150,
    x: { domain: [0, 1], grid: true, label: null },
    y: { domain: r.rows.map((x) => x.variant), label: null },
    fy: { label: null },
    facet: { data: points, y: "metric", marginRight: 70 },
    marks: [
      Plot.barX(points, { y: "variant", x: "value", fy: "metric", fill: "#9ab" }),
      Plot.ruleX(rules, { x: "value", fy: "metric", stroke: "#c33", strokeWidth: 2 }),
    ],
  });
}

/** Writes `bc.json`, `BC.md` and the figure; returns the markdown. */
export async function writeBcReport(
  run: RunDir,
  cfg: BcStudyConfig,
  r: BcStudyResult,
  preset?: string,
): Promise<string> {
  const md = bcMarkdown(cfg, r, preset);
  await writeFileAtomic(run.path("bc.json"), JSON.stringify({ config: cfg, ...r }, null, 1) + "\n");
  await writeFileAtomic(run.path("figures", "bc_accuracy.svg"), bcFigureSvg(r));
  await writeFileAtomic(run.path("BC.md"), md);
  return md;
}
