/**
 * Tables, figures and markdown of the world-model study (`study.ts`) and of
 * latent planning (`plan.ts`): what `stage1/REPORT.md`, `stage2/REPORT.md` and
 * `plan/PLAN.md` say, and the "World model" section of a pipeline run's report, rebuilt from
 * the results files those runs leave (`results.json`, `plan.json`, `config.json`).
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type WorldModelEvaluation } from "../../eval/rollout.ts";
import { rolloutErrorFigure } from "./figures.ts";
import type { GoalSummary } from "../../plan/goal.ts";
import type { MetricRecord } from "../../run/run_dir.ts";
import type { PlanTaskConfig, WorldModelTaskConfig } from "./presets.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import type { ReportItem } from "../../viz/report_items.ts";

/** `stage1/results.json`. */
export interface Stage1Results {
  stage: 1;
  dataset: string;
  steps: number;
  stoppedEarly: boolean;
  best: { step: number; valLoss: number; dir: string } | null;
  lastLoss: number;
  evaluatedCheckpoint: string;
  evaluatedStep: number;
  /** Held-out R^2 of a linear paddle-x probe on pooled latents. */
  paddleProbeR2: { vjepa: number; random: number };
  encoderParams: Record<string, number>;
  seconds: number;
}

/** `stage2/results.json`. */
export interface Stage2Results extends WorldModelEvaluation {
  stage: 2;
  dataset: string;
  encoderCheckpoint: string;
  /** Seconds per part: world-model, blind, decoder, evaluation. */
  timings: Record<string, number>;
}

/** `plan/plan.json`. */
export interface PlanResults {
  config: PlanTaskConfig;
  summary: GoalSummary[];
  seconds: number;
}

/** Points `{step, value}` of one numeric field of the metric records of one kind. */
export function metricPoints(
  records: MetricRecord[],
  kind: string,
  key: string,
): { step: number; value: number }[] {
  return records.filter((r) => r.kind === kind && typeof r[key] === "number").map((r) => ({
    step: r.step as number,
    value: r[key] as number,
  }));
}

/** A line figure of loss series (train, held-out, ...) over steps; null when all are empty. */
export function lossFigure(
  title: string,
  series: Record<string, { step: number; value: number }[]>,
): string | null {
  const rows = Object.entries(series).flatMap(([name, points]) =>
    points.map((p) => ({ ...p, series: name }))
  );
  if (!rows.length) return null;
  return plotToSvg({
    title,
    height: 260,
    x: { label: "step" },
    y: { label: "loss", grid: true },
    color: { legend: true },
    marks: [Plot.line(rows, { x: "step", y: "value", stroke: "series" })],
  });
}

/** The stage-2 loss series: train and held-out, for the world model and its action-blind control. */
export function stage2LossSeries(
  records: MetricRecord[],
): Record<string, { step: number; value: number }[]> {
  const of = (model: string) => records.filter((r) => r.model === model);
  return {
    "world model (train)": metricPoints(of("world-model"), "train", "loss"),
    "world model (held-out)": metricPoints(of("world-model"), "val", "valLoss"),
    "action-blind (train)": metricPoints(of("blind"), "train", "loss"),
    "action-blind (held-out)": metricPoints(of("blind"), "val", "valLoss"),
  };
}

const f4 = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(4));

/** The rollout-error point at horizon `h` (the last one when the curve is shorter). */
export function atHorizon(curve: Stage2Results["curve"], h: number) {
  return curve[Math.min(h, curve.length) - 1];
}

/** Rollout error at horizons 1, 2, 4, 8, 16 (those measured): world model, action-blind, copy. */
export function rolloutTable(curve: Stage2Results["curve"]): string[] {
  return [
    "| horizon | world model | action-blind | copy last |",
    "|---:|---:|---:|---:|",
    ...[1, 2, 4, 8, 16].filter((h) => h <= curve.length).map((h) => {
      const p = atHorizon(curve, h);
      return `| ${h} | ${f4(p.model)} | ${f4(p.blind)} | ${f4(p.copy)} |`;
    }),
  ];
}

/** How often held LEFT / RIGHT rollouts move the probed paddle the right way, per model. */
export function sensitivityTable(s: Stage2Results["sensitivity"]): string[] {
  const row = (name: string, r: { correct: number; meanShift: number }) =>
    `| ${name} | ${(100 * r.correct).toFixed(1)}% | ${r.meanShift.toFixed(1)} px |`;
  return [
    "| model | right way | mean x(RIGHT) - x(LEFT) |",
    "|---|---:|---:|",
    row("world model", s.model),
    ...(s.blind ? [row("action-blind", s.blind)] : []),
  ];
}

/** What the action-sensitivity numbers measure, in one sentence. */
function sensitivityText(r: Stage2Results, horizon: number): string {
  return `From ${r.sensitivity.model.n} held-out states, LEFT and RIGHT held for ${horizon} ` +
    `steps; a linear probe (held-out R^2 ${r.probeR2.toFixed(3)}) reads the paddle x of ` +
    `the predicted latents.`;
}

/** Success rate and final error per planner. */
export function planTable(summary: GoalSummary[]): string[] {
  return [
    "| planner | success | mean final error (px) |",
    "|---|---:|---:|",
    ...summary.map((s) =>
      `| ${s.planner} | ${(100 * s.success).toFixed(0)}% | ${s.meanError.toFixed(1)} |`
    ),
  ];
}

/** The goal-reaching task and the planner's settings, in one paragraph. */
export function planDescription(cfg: PlanTaskConfig, tasks: number): string {
  const g = cfg.goal;
  const p = cfg.planner;
  return `${tasks} tasks: from a state after ${g.warmup[0]}-${g.warmup[1]} steps of play, ` +
    `bring the paddle within ${g.tolerance} px of its x in a goal frame reached by steering ` +
    `it ${g.shift[0]}-${g.shift[1]} px away in ${g.horizon} steps. CEM: ${p.samples} samples, ` +
    `${p.iterations} iterations, ${p.elites} elites, ${
      p.replan ? "re-planning every step" : "open loop"
    }; cost = L1 distance of the last predicted latent to the goal latent.`;
}

/** The title of the planning success figure. */
export function planFigureTitle(cfg: PlanTaskConfig): string {
  return `Goal reaching in ${cfg.goal.horizon} steps (within ${cfg.goal.tolerance} px)`;
}

/** `stage1/REPORT.md`; `dataset` describes the dataset in one line. */
export function stage1Markdown(r: Stage1Results, dataset: string): string {
  const best = r.best ? `${r.best.valLoss.toFixed(5)} at step ${r.best.step}` : "-";
  return [
    "# World model, stage 1: masked-latent pretraining",
    "",
    `- ${dataset}`,
    `- ${r.steps} steps${r.stoppedEarly ? " (early stop)" : ""}; best held-out loss ${best}`,
    `- encoder evaluated from ${r.evaluatedCheckpoint} (step ${r.evaluatedStep})`,
    `- paddle-x linear probe R^2 on held-out episodes: V-JEPA ${
      r.paddleProbeR2.vjepa.toFixed(3)
    }, random-init ${r.paddleProbeR2.random.toFixed(3)}`,
    `- ${r.seconds.toFixed(0)} s`,
    "",
    "![loss](figures/loss.svg)",
    "",
  ].join("\n");
}

/** `stage2/REPORT.md`; `dataset` describes the dataset in one line. */
export function stage2Markdown(
  r: Stage2Results,
  dataset: string,
  sensitivityHorizon: number,
): string {
  return [
    "# World model, stage 2: action-conditioned predictor",
    "",
    `- ${dataset}; frozen encoder ${r.encoderCheckpoint}`,
    `- training time: ${
      Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(", ")
    }`,
    "",
    "## Rollout error on held-out episodes (L1 on layer-normed latents)",
    "",
    ...rolloutTable(r.curve),
    "",
    "![rollout error](figures/rollout_error.svg)",
    "",
    "## Action sensitivity",
    "",
    sensitivityText(r, sensitivityHorizon),
    "",
    ...sensitivityTable(r.sensitivity),
    "",
    "## Real vs imagined",
    "",
    "Left: real frames; middle: decoded real latents; right: decoded predictions (from the first " +
    "frame and the real actions).",
    "",
    "![real vs imagined](figures/real_vs_imagined.gif)",
    "",
    "![loss](figures/loss.svg)",
    "",
  ].join("\n");
}

/** The one-line summary stage 2 logs at its end. */
export function stage2LogLine(r: Stage2Results): string {
  const s = r.sensitivity;
  const at = (h: number) => atHorizon(r.curve, h);
  return `stage 2 done: rollout error h=1 ${f4(at(1).model)} (blind ${f4(at(1).blind)}, copy ${
    f4(at(1).copy)
  }), h=${r.curve.length} ${f4(at(16).model)}; right way ${(100 * s.model.correct).toFixed(0)}% ` +
    `(blind ${s.blind ? (100 * s.blind.correct).toFixed(0) : "-"}%)`;
}

/** `plan/PLAN.md`. */
export function planMarkdown(r: PlanResults, tasks: number): string {
  return [
    "# Latent planning: Breakout goal reaching",
    "",
    planDescription(r.config, tasks),
    "",
    ...planTable(r.summary),
    "",
    "![success](figures/success.svg)",
    "",
    "Task 0 with the world-model planner (left: goal, right: the game):",
    "",
    "![planning](figures/planning.gif)",
    "",
    `${r.seconds.toFixed(0)} s.`,
    "",
  ].join("\n");
}

function readJson<T>(path: string): T | null {
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as T : null;
}

/**
 * The "World model" section of a pipeline run's report, from the files of its `worldmodel`
 * and `plan` phases alone: stage 1's probe, the rollout error vs horizon (world model vs
 * action-blind vs copy) as a figure and a table, action sensitivity, a link to the
 * real-vs-imagined GIF, and the planning success table. Empty when the run has no world model.
 */
export function worldModelReportItems(runDir: string): ReportItem[] {
  const stage1 = readJson<Stage1Results>(join(runDir, "worldmodel", "stage1", "results.json"));
  const stage2 = readJson<Stage2Results>(join(runDir, "worldmodel", "stage2", "results.json"));
  const plan = readJson<PlanResults>(join(runDir, "plan", "plan.json"));
  if (!stage1 && !stage2 && !plan) return [];
  const items: ReportItem[] = [];
  const out: string[] = [
    "## World model (V-JEPA 2-style, two stages)",
    "",
    "On its own dataset of scripted play mixed with held random actions: stage 1 pretrains a ViT " +
    "by masked-latent prediction against an EMA target; stage 2 freezes it and trains a " +
    "block-causal, action-conditioned predictor of the next latents, beside the same predictor " +
    "with its actions blanked (action-blind). Everything is measured on held-out episodes.",
    "",
  ];
  const flush = () => {
    if (out.length) items.push({ kind: "markdown", text: out.splice(0).join("\n") });
  };
  if (stage1) {
    out.push(
      `Stage 1: ${stage1.steps} steps${stage1.stoppedEarly ? " (early stop)" : ""}; paddle-x ` +
        `linear probe R^2 of the pooled latents: V-JEPA ${
          stage1.paddleProbeR2.vjepa.toFixed(3)
        }, random-init ${stage1.paddleProbeR2.random.toFixed(3)}.`,
      "",
    );
  }
  if (stage2) {
    flush();
    items.push({
      kind: "figure",
      name: "worldmodel_rollout_error",
      svg: rolloutErrorFigure(stage2.curve),
      caption: "Rollout error vs horizon on held-out episodes: world model, action-blind " +
        "control, copying the last latent",
    });
    const config = readJson<Pick<WorldModelTaskConfig, "eval">>(
      join(runDir, "worldmodel", "stage2", "config.json"),
    );
    out.push(
      ...rolloutTable(stage2.curve),
      "",
      "### Action sensitivity",
      "",
      sensitivityText(stage2, config?.eval.sensitivityHorizon ?? NaN),
      "",
      ...sensitivityTable(stage2.sensitivity),
      "",
      "[Real vs imagined frames (GIF)](worldmodel/stage2/figures/real_vs_imagined.gif): real " +
        "frames, decoded real latents, decoded predictions from the first frame and the real " +
        "actions. Details: [worldmodel/stage2/REPORT.md](worldmodel/stage2/REPORT.md).",
      "",
    );
  }
  if (plan) {
    const tasks = plan.summary[0]?.tasks ?? 0;
    out.push(
      "### Latent planning (CEM toward a goal frame)",
      "",
      planDescription(plan.config, tasks),
      "",
      ...planTable(plan.summary),
      "",
      "Details: [plan/PLAN.md](plan/PLAN.md).",
      "",
    );
  }
  flush();
  return items;
}
