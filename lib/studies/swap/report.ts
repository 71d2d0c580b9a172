/**
 * The report of an encoder-swap grid (`swap.ts`): the robustness table (Parquet and markdown),
 * figures (Observable Plot: robustness per level and condition, the ratio per condition,
 * learning curves with seed bands), saliency maps of each condition's policy on the same frames
 * (PNG), and a GIF of one agent playing the same game clean and under the `hard` perturbation.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { evalEnvConfig, makeEnv } from "../../envs/make.ts";
import type { PerturbLevel } from "../../envs/perturb.ts";
import {
  type AgentEvaluation,
  meanStd,
  PERTURBED_LEVELS,
  robustnessRatio,
  type RobustnessRow,
  summarizeRobustness,
} from "../../eval/robustness.ts";
import { robustnessMarkdown } from "./robustness_table.ts";
import { encodeGif } from "../../viz/gif.ts";
import { LINE_COLORS, Plot, plotToSvg, seedBandFigure } from "../../viz/plot.ts";
import { type CurvePoint, seedBandCurves } from "../../eval/curves.ts";
import { encodePng, tileFrames, upscaleNearest } from "../../viz/png.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { type MetricRecord, readMetricsJsonl, writeParquetAtomic } from "../../run/run_dir.ts";
import { hasCheckpoint } from "../../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../../tensor/rng.ts";
import type { Agent } from "../../rl/agent.ts";
import { loadAgent } from "../../rl/ppo.ts";
import { robustnessStats } from "../../eval/robustness_stats.ts";
import { statisticsMarkdown, swapSummary } from "./statistics.ts";
import { agentPolicy } from "../../rl/agent_policy.ts";
import {
  FEATURE_SHIFT_STACKS,
  gridStatus,
  randomPlay,
  type RunEvaluation,
  runName,
  type RunStatus,
  type SwapConfig,
} from "./grid.ts";

/**
 * The published encoder-swap study's results on ALE Breakout (DESIGN.md section 5): mean clean
 * return and robustness ratio per condition. Theirs, not ours: shown beside our numbers only for
 * real-ALE grids (our native Breakout scores differently), as dashes on the ratio figure and a
 * column of the pipeline report.
 */
export const PUBLISHED_SWAP: Record<string, { clean: number; ratio?: number }> = {
  cnn: { clean: 7.6, ratio: 0.612 },
  jepa_frozen: { clean: 5.6, ratio: 0.764 },
  ae_frozen: { clean: 2.0 },
};

/**
 * Our clean return and ratio per condition beside the published study's, as markdown lines,
 * with a sentence saying whether the two are comparable (only on real ALE Breakout).
 */
export function publishedComparison(envId: string, rows: readonly RobustnessRow[]): string[] {
  const ours = (condition: string, level: string, digits: number) => {
    const r = rows.find((x) => x.condition === condition && x.level === level);
    return r && Number.isFinite(r.mean) ? r.mean.toFixed(digits) : "-";
  };
  const conditions = [
    ...new Set([...rows.map((r) => r.condition), ...Object.keys(PUBLISHED_SWAP)]),
  ];
  return [
    comparableWithPublished(envId)
      ? "Published numbers (theirs: a JEPA-on-Breakout study on ALE) beside ours on the same " +
        "game. The protocols differ: they trained at 4 emulator frames per step and evaluated " +
        "at 16 (other wrappers than they trained with), and trained far longer; ours trains and " +
        "evaluates through one wrapper stack (frame skip 4, whole games, raw scores). Their " +
        "frozen JEPA is their own I-JEPA (ViT, patch 12, width 192, depth 4, about 100K " +
        "frames); ours is the `small` pretraining recipe on our scripted play:"
      : `Published numbers (theirs, on real ALE Breakout) for reference only: this grid ran on ` +
        `\`${envId}\`, whose scores are not comparable with ALE's.`,
    "",
    "| condition | clean (ours) | clean (theirs) | ratio (ours) | ratio (theirs) |",
    "|---|---:|---:|---:|---:|",
    ...conditions.map((c) => {
      const p = PUBLISHED_SWAP[c];
      return `| ${c} | ${ours(c, "clean", 2)} | ${p?.clean.toFixed(1) ?? "-"} | ${
        ours(c, "ratio", 3)
      } | ${p?.ratio?.toFixed(3) ?? "-"} |`;
    }),
  ];
}

/** One sentence with the mean return of random play per level. */
export function randomPlayLine(means: Partial<Record<string, number>>): string {
  const levels = Object.entries(means).filter(([, m]) => m !== undefined);
  return `Random play (uniform actions on the same evaluation games): ${
    levels.map(([l, m]) => `${l} ${m!.toFixed(2)}`).join(", ")
  } (the same at every level: random actions ignore the frames).`;
}

/** Whether a grid's env is comparable with the published study: real ALE Breakout. */
export function comparableWithPublished(envId: string): boolean {
  return envId === "ale:breakout";
}

/** What {@linkcode writeSwapReport} wrote. */
export interface SwapReport {
  rows: RobustnessRow[];
  /** The robustness table as markdown. */
  table: string;
  /** The statistics section (intervals and the claim) as markdown; "" without evaluations. */
  statistics: string;
  /** Paths of everything written, relative to the swap directory. */
  files: string[];
  /** SVG texts of the figures, by name (for notebooks). */
  figures: Record<string, string>;
}

/** Writes tables, figures, saliency maps and the GIF into `dir` (see the module doc). */
export async function writeSwapReport(
  cfg: SwapConfig,
  dir: string,
  evals: RunEvaluation[],
  log: (line: string) => void = () => {},
): Promise<SwapReport> {
  const files: string[] = [];
  const write = async (name: string, data: Uint8Array | string) => {
    await writeFileAtomic(join(dir, name), data);
    files.push(name);
  };
  const agents: AgentEvaluation[] = evals.map((e) => ({
    condition: e.condition,
    seed: e.seed,
    means: e.means,
  }));
  const rows = summarizeRobustness(agents);
  const table = robustnessMarkdown(rows);
  if (rows.length > 0) {
    await writeParquetAtomic(
      join(dir, "robustness.parquet"),
      rows.map((r) => ({ env: cfg.env.id, ...r })),
    );
    files.push("robustness.parquet");
    await writeParquetAtomic(
      join(dir, "robustness_agents.parquet"),
      evals.flatMap((e) => [
        ...Object.entries(e.means).map(([level, mean]) => ({
          env: cfg.env.id,
          condition: e.condition,
          seed: e.seed,
          update: e.update,
          level,
          mean: mean ?? null,
        })),
        {
          env: cfg.env.id,
          condition: e.condition,
          seed: e.seed,
          update: e.update,
          level: "ratio",
          mean: robustnessRatio(e.means),
        },
      ]),
    );
    files.push("robustness_agents.parquet");
    await writeParquetAtomic(
      join(dir, "eval_episodes.parquet"),
      evals.flatMap((e) =>
        e.episodes.map((ep) => ({ condition: e.condition, seed: e.seed, ...ep }) as MetricRecord)
      ),
    );
    files.push("eval_episodes.parquet");
  }
  const stats = evals.length > 0
    ? robustnessStats(
      evals.map((e) => ({ condition: e.condition, seed: e.seed, episodes: e.episodes })),
    )
    : null;
  if (stats) {
    await write("summary.json", JSON.stringify(swapSummary(cfg.env.id, stats), null, 1) + "\n");
  }

  const figures: Record<string, string> = {};
  const figure = async (name: string, svg: string) => {
    figures[name] = svg;
    await write(join("figures", `${name}.svg`), svg);
  };
  if (rows.length > 0) {
    await figure("robustness_levels", levelsFigure(cfg, rows, agents));
    await figure("robustness_ratio", ratioFigure(cfg, rows, agents));
  }
  const curves = learningCurves(cfg, dir);
  if (curves.length > 0) await figure("learning_curves", curvesFigure(cfg, curves));

  // Each condition's first evaluated agent with its checkpoint here (a failed run has none, nor
  // does one reported from its summary alone).
  const withCheckpoint = evals
    .map((e) => ({
      condition: e.condition,
      seed: e.seed,
      dir: join(dir, "runs", e.run, "checkpoints"),
    }))
    .filter((a) => hasCheckpoint(a.dir));
  const agentDirs = cfg.conditions.flatMap((c) =>
    withCheckpoint.find((a) => a.condition === c) ?? []
  );
  if (cfg.report.saliencyFrames > 0 && agentDirs.length > 0) {
    log(`saliency maps on ${cfg.report.saliencyFrames} frames`);
    const png = saliencyGrid(cfg, agentDirs);
    await write(join("figures", "saliency.png"), png);
  }
  const gifAgent = agentDirs.find((a) => a.condition === cfg.report.gifCondition) ?? agentDirs[0];
  if (cfg.report.gifSteps > 0 && gifAgent) {
    log(`GIF of ${gifAgent.condition}: clean | hard`);
    const { agent } = loadAgent(gifAgent.dir);
    try {
      await write(
        join("figures", `play_${gifAgent.condition}_clean_vs_hard.gif`),
        cleanVsHardGif(cfg, agent),
      );
    } finally {
      agent.dispose();
    }
  }

  log("random play on the evaluation games");
  const random = randomPlay(cfg);
  await write("random_play.json", JSON.stringify({ eval: cfg.eval, means: random }) + "\n");
  const runs = gridStatus(cfg, dir);
  const statistics = stats ? statisticsMarkdown(stats).join("\n") : "";
  const md = [
    `# Encoder swap on ${cfg.env.id}`,
    "",
    `Conditions ${cfg.conditions.join(", ")}; training seeds ${cfg.seeds.join(", ")}; ` +
    `${cfg.ppo.totalSteps} env steps per run. Evaluation: ${cfg.eval.episodes} whole games per ` +
    `level and evaluation seed (${cfg.eval.seeds.join(", ")}), sampled actions, the training ` +
    `wrapper stack (whole games, raw scores)` +
    (cfg.eval.maxEpisodeSteps > 0 ? `, games capped at ${cfg.eval.maxEpisodeSteps} steps` : "") +
    ".",
    "",
    "## Mean return per level (mean ± std over training seeds) and robustness ratio",
    "",
    table,
    "",
    "Robustness ratio = mean over color_jitter, noise, mild, hard of (mean return / clean mean " +
    "return), per agent, then mean ± std over seeds.",
    "",
    randomPlayLine(random),
    "",
    statistics,
    ...featureShiftMarkdown(cfg, evals),
    ...publishedComparison(cfg.env.id, rows),
    "",
    ...Object.keys(figures).map((f) => `![${f}](figures/${f}.svg)`),
    "",
    ...(files.includes(join("figures", "saliency.png"))
      ? [
        "## Saliency",
        "",
        `|d logit / d pixel| of the most likely action, summed over the frame stack (red), on the ` +
        `newest frame. Rows: the frames, then ${
          agentDirs.map((a) => `${a.condition} (seed ${a.seed})`).join(", ")
        }.`,
        "",
        "![saliency](figures/saliency.png)",
        "",
      ]
      : []),
    ...files.filter((f) => f.endsWith(".gif")).map((f) =>
      `## One game, clean (left) and hard (right)\n\n![play](${f})\n`
    ),
    ...runsMarkdown(runs),
  ].join("\n");
  await write("REPORT.md", md);
  await write("ROBUSTNESS.md", `# Robustness (${cfg.env.id})\n\n${table}\n`);
  return { rows, table, statistics, files, figures };
}

/**
 * Per condition and perturbed level, the agents' feature shift (`agentFeatureShift`) as mean ±
 * std over seeds: a markdown section, empty where no evaluation measured it.
 */
export function featureShiftMarkdown(cfg: SwapConfig, evals: readonly RunEvaluation[]): string[] {
  const measured = evals.filter((e) => e.featureShift);
  if (measured.length === 0) return [];
  const levels = PERTURBED_LEVELS.filter((l) =>
    measured.some((e) => e.featureShift![l] !== undefined)
  );
  const lines = cfg.conditions.flatMap((condition) => {
    const agents = measured.filter((e) => e.condition === condition);
    if (agents.length === 0) return [];
    const cells = levels.map((l) => {
      const s = meanStd(agents.map((e) => e.featureShift![l] ?? NaN));
      return s.n === 0 ? "-" : `${s.mean.toFixed(2)} ± ${s.std.toFixed(2)}`;
    });
    return [`| ${condition} | ${agents.length} | ${cells.join(" | ")} |`];
  });
  return [
    "## How far each perturbation moves the features",
    "",
    `What the agent's heads read (the trained CNN's features; the frozen encoder's), on the ` +
    `same ${FEATURE_SHIFT_STACKS} random-play frame stacks rendered clean and perturbed: the ` +
    "root mean squared change, in units of the features' std across the clean frames (1: as far " +
    "as two frames of the game lie apart). Mean ± std over training seeds.",
    "",
    `| condition | seeds | ${levels.join(" | ")} |`,
    `|---|---:|${levels.map(() => "---:").join("|")}|`,
    ...lines,
    "",
  ];
}

/**
 * The table of every run of the grid with its state: finished runs with their speed and last
 * training return, failed ones with their error, unfinished ones with their last checkpoint.
 */
export function runsMarkdown(runs: RunStatus[]): string[] {
  const failed = runs.filter((r) => r.state === "failed");
  return [
    "## Runs",
    "",
    "| run | state | env steps | steps/s | minutes | last-20-games training return |",
    "|---|---|---:|---:|---:|---:|",
    ...runs.map((r) => {
      const s = r.summary;
      if (s) {
        return `| ${r.run} | done | ${s.globalStep} | ${fmt(s.sps, 1)} | ${
          fmt(s.seconds / 60, 1)
        } | ${fmt(s.finalTrainReturn, 2)} |`;
      }
      const where = r.update === null ? "no checkpoint" : `last checkpoint: update ${r.update}`;
      return `| ${r.run} | **${r.state}** (${where}) | - | - | - | - |`;
    }),
    "",
    ...(failed.length
      ? [
        "Failed runs (not evaluated, not in the tables above; the same command retries them " +
        "from their last checkpoints):",
        "",
        ...failed.map((r) => `- ${r.run}: ${r.failure!.error}`),
        "",
      ]
      : []),
    ...(runs.some((r) => r.state === "incomplete")
      ? [
        "Incomplete runs are evaluated at their last checkpoint (update above) and count in " +
        "the tables as such.",
        "",
      ]
      : []),
  ];
}

/** A number for a table; "-" for NaN (stored as null in JSON). */
function fmt(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? "-" : v.toFixed(digits);
}

function levelsFigure(
  cfg: SwapConfig,
  rows: RobustnessRow[],
  agents: AgentEvaluation[],
): string {
  const data = rows.filter((r) => r.level !== "ratio").map((r) => ({
    ...r,
    lo: r.mean - r.std,
    hi: r.mean + r.std,
  }));
  const dots = agents.flatMap((a) =>
    Object.entries(a.means).map(([level, mean]) => ({ condition: a.condition, level, mean }))
  );
  return plotToSvg({
    title: `Mean return per perturbation level (${cfg.env.id})`,
    subtitle: "bars: mean over training seeds, lines: ± std, dots: seeds",
    width: 900,
    height: 380,
    marginBottom: 90,
    // plotToSvg keeps the plot, not a legend: the conditions are named on the x axis instead.
    fx: { domain: cfg.eval.levels, label: null, axis: "top" },
    x: { domain: cfg.conditions, label: null, tickRotate: -40 },
    y: { grid: true, label: "mean return" },
    color: { domain: cfg.conditions, range: LINE_COLORS },
    marks: [
      Plot.barY(data, { fx: "level", x: "condition", y: "mean", fill: "condition" }),
      Plot.ruleX(data, { fx: "level", x: "condition", y1: "lo", y2: "hi" }),
      Plot.dot(dots, { fx: "level", x: "condition", y: "mean", r: 2, fill: "black" }),
      Plot.ruleY([0]),
    ],
  });
}

function ratioFigure(cfg: SwapConfig, rows: RobustnessRow[], agents: AgentEvaluation[]): string {
  const data = rows.filter((r) => r.level === "ratio" && Number.isFinite(r.mean)).map((r) => ({
    ...r,
    lo: r.mean - r.std,
    hi: r.mean + r.std,
  }));
  const dots = agents.map((a) => ({ condition: a.condition, ratio: robustnessRatio(a.means) }))
    .filter((d) => Number.isFinite(d.ratio));
  const comparable = comparableWithPublished(cfg.env.id);
  const published = Object.entries(PUBLISHED_SWAP)
    .filter(([c, p]) => comparable && cfg.conditions.includes(c) && p.ratio !== undefined)
    .map(([condition, p]) => ({ condition, ratio: p.ratio }));
  return plotToSvg({
    title: "Robustness ratio = mean(perturbed / clean)",
    subtitle: "bars: mean over seeds, lines: ± std, dots: seeds" +
      (comparable ? ", dashes: published (theirs, ALE)" : ""),
    width: 560,
    height: 300,
    x: { domain: cfg.conditions, label: null },
    y: { grid: true, label: "ratio" },
    color: { domain: cfg.conditions, range: LINE_COLORS },
    marks: [
      Plot.barY(data, { x: "condition", y: "mean", fill: "condition" }),
      Plot.ruleX(data, { x: "condition", y1: "lo", y2: "hi" }),
      Plot.dot(dots, { x: "condition", y: "ratio", r: 2.5, fill: "black" }),
      Plot.tickY(published, { x: "condition", y: "ratio", strokeDasharray: "4,2", strokeWidth: 2 }),
      Plot.ruleY([0, 1], { strokeOpacity: 0.3 }),
    ],
  });
}

/**
 * Learning curves from the runs' `metrics.jsonl`: training games' returns averaged in 30 bins
 * of env steps per run, then the mean and range over seeds per condition and bin.
 */
export function learningCurves(cfg: SwapConfig, dir: string, bins = 30): CurvePoint[] {
  return seedBandCurves(
    cfg.conditions.map((condition) => ({
      group: condition,
      seeds: cfg.seeds
        .map((seed) => join(dir, "runs", runName(condition, seed), "metrics.jsonl"))
        .filter((path) => existsSync(path))
        .map((path) =>
          readMetricsJsonl(path)
            .filter((r) => r.kind === "episode")
            .map((r) => ({ step: r.globalStep as number, value: r.return as number }))
        ),
    })),
    cfg.ppo.totalSteps,
    bins,
  );
}

function curvesFigure(cfg: SwapConfig, points: CurvePoint[]): string {
  return seedBandFigure(points, {
    title: `Training return of ${cfg.env.id} (whole games, unclipped)`,
    groups: cfg.conditions,
    xLabel: "env steps",
    yLabel: "return",
  });
}

/**
 * Frame stacks from one clean game under random play, every 12th step: the same frames for
 * every condition's saliency map.
 */
export function saliencyFrames(
  cfg: SwapConfig,
  count: number,
): { stacks: Uint8Array[]; shape: readonly [number, number, number] } {
  const env = makeEnv(evalEnvConfig(cfg.env, "clean"), deriveSeed(0, "saliency"));
  const rng = new Rng(deriveSeed(1, "saliency"));
  const frames: Uint8Array[] = [];
  const shape = env.spec.obsShape;
  try {
    env.reset();
    const nA = env.spec.actionMeanings.length;
    for (let t = 1; frames.length < count && t < 100_000; t++) {
      const r = env.step(rng.int(nA));
      if (r.terminated || r.truncated) env.reset();
      else if (t % 12 === 0) frames.push(r.obs.slice());
    }
  } finally {
    env.close();
  }
  return { stacks: frames, shape };
}

/** Newest frame of a stack (`[h, w, k]` gray, oldest first) as gray bytes. */
function newestFrame(stack: Uint8Array, h: number, w: number, k: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let p = 0; p < h * w; p++) out[p] = stack[p * k + k - 1];
  return out;
}

/** The saliency map `[h, w, k]` summed over the stack, as red on the dimmed newest frame. */
export function saliencyOverlay(
  stack: Uint8Array,
  saliency: Float32Array,
  h: number,
  w: number,
  k: number,
): Uint8Array {
  const gray = newestFrame(stack, h, w, k);
  const heat = new Float32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    for (let j = 0; j < k; j++) heat[p] += saliency[p * k + j];
  }
  // Normalise by a high quantile rather than the maximum: one hot pixel would darken the rest.
  const sorted = Float32Array.from(heat).sort();
  const top = sorted[Math.floor(0.99 * (sorted.length - 1))] || sorted[sorted.length - 1] || 1;
  const rgb = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) {
    const a = Math.min(1, heat[p] / top);
    const g = gray[p] * 0.55;
    rgb[p * 3] = Math.min(255, Math.round(g + a * 255));
    rgb[p * 3 + 1] = Math.round(g * (1 - a));
    rgb[p * 3 + 2] = Math.round(g * (1 - a));
  }
  return rgb;
}

function saliencyGrid(cfg: SwapConfig, agents: { condition: string; dir: string }[]): Uint8Array {
  const { stacks, shape: [h, w, k] } = saliencyFrames(cfg, cfg.report.saliencyFrames);
  const scale = 2;
  const tiles: Uint8Array[] = stacks.map((s) => {
    const g = newestFrame(s, h, w, k);
    const rgb = new Uint8Array(h * w * 3);
    for (let p = 0; p < h * w; p++) rgb.fill(g[p], p * 3, p * 3 + 3);
    return upscaleNearest(rgb, w, h, 3, scale);
  });
  const batch = new Uint8Array(stacks.length * h * w * k);
  stacks.forEach((s, i) => batch.set(s, i * h * w * k));
  for (const a of agents) {
    const { agent } = loadAgent(a.dir);
    try {
      const sal = agent.saliency(batch, stacks.length);
      stacks.forEach((s, i) => {
        const overlay = saliencyOverlay(
          s,
          sal.subarray(i * h * w * k, (i + 1) * h * w * k),
          h,
          w,
          k,
        );
        tiles.push(upscaleNearest(overlay, w, h, 3, scale));
      });
    } finally {
      agent.dispose();
    }
  }
  const grid = tileFrames(tiles, {
    width: w * scale,
    height: h * scale,
    channels: 3,
    columns: stacks.length,
    pad: 4,
  });
  return encodePng(grid.data, grid.width, grid.height, 3);
}

/**
 * One agent playing the same seeded game clean (left) and under `hard` (right), side by side:
 * the newest frame of what it sees, 2x. A side whose game ended keeps its last frame.
 */
export function cleanVsHardGif(cfg: SwapConfig, agent: Agent): Uint8Array {
  const levels: PerturbLevel[] = ["clean", "hard"];
  const [h, w, k] = agent.spec.obsShape;
  const envs = levels.map((l) => {
    const c = evalEnvConfig(cfg.env, l);
    return makeEnv(c, deriveSeed(cfg.eval.seeds[0], "eval/0"));
  });
  const act = agentPolicy(agent);
  const rng = new Rng(deriveSeed(cfg.eval.seeds[0], "gif"));
  const gap = 4;
  const width = 2 * w + gap;
  const frames: Uint8Array[] = [];
  try {
    const obs = envs.map((e) => e.reset().obs.slice());
    const alive = [true, true];
    for (let t = 0; t < cfg.report.gifSteps && alive.some(Boolean); t++) {
      const frame = new Uint8Array(h * width).fill(255);
      obs.forEach((o, side) => {
        const g = newestFrame(o, h, w, k);
        for (let y = 0; y < h; y++) {
          frame.set(g.subarray(y * w, (y + 1) * w), y * width + side * (w + gap));
        }
      });
      frames.push(upscaleNearest(frame, width, h, 1, 2));
      envs.forEach((env, side) => {
        if (!alive[side]) return;
        const action = act(obs[side], 1, rng)[0];
        const r = env.step(action);
        if (r.terminated || r.truncated) alive[side] = false;
        else obs[side] = r.obs.slice();
      });
    }
  } finally {
    for (const e of envs) e.close();
  }
  return encodeGif(frames, width * 2, h * 2, 1, { delayMs: 70 });
}

/** Paths of the report's main files, for logs. */
export function reportPaths(dir: string, report: SwapReport): string[] {
  return report.files.map((f) => relative(".", join(dir, f)));
}
