/**
 * The DQN study's report: `dqn.json` (every run's numbers), `DQN.md` (per exploration mode the
 * mean return of the last training games and the greedy evaluation, mean ± std over seeds, and
 * the coverage at equal steps, each beside random play through the same wrappers), learning and
 * coverage curves with seed bands, ball-coverage heatmaps, and a GIF of the best agent's game.
 *
 * @module
 */

import { join } from "node:path";
import { type CurveRecord, seedBandCurves } from "../../eval/curves.ts";
import { meanStd } from "../../eval/robustness.ts";
import { disposeParams } from "../../nn/params.ts";
import { dqnPolicy, newestFrame } from "../../rl/dqn.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { readMetricsJsonl, type RunDir } from "../../run/run_dir.ts";
import { evalEnvConfig, makeEnv } from "../../envs/make.ts";
import { Rng } from "../../tensor/rng.ts";
import { encodeGif } from "../../viz/gif.ts";
import { upscaleNearest } from "../../viz/png.ts";
import { Plot, plotToSvg, seedBandFigure } from "../../viz/plot.ts";
import type { DqnStudyConfig } from "./presets.ts";
import { dqnRunName, type DqnRunResult, type DqnStudyResult, loadRunNetwork } from "./study.ts";

/** `mean ± std` of finite values ("-" for none; the value alone for one, whose spread is unknown). */
function ms(xs: number[], digits = 2): string {
  const { mean, std, n } = meanStd(xs);
  if (n === 0) return "-";
  return n === 1 ? mean.toFixed(digits) : `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;
}

const meanOf = (xs: number[]) => meanStd(xs).mean;

/** The markdown report. */
export function dqnMarkdown(cfg: DqnStudyConfig, r: DqnStudyResult, preset?: string): string {
  const groups = [
    ...cfg.modes.map((m) => ({ name: m, rows: r.runs.filter((x) => x.mode === m) })),
    {
      name: "random play",
      rows: r.random,
    },
  ];
  const d = cfg.dqn;
  const out = [
    `# DQN on ${d.env.id}: exploration by Boltzmann + prioritized replay, RND, epsilon-greedy`,
    "",
    `${preset ? `Preset \`${preset}\`: ` : ""}${d.totalSteps} env steps per run, seeds ` +
    `${cfg.seeds.join(", ")}; Q-network: Nature CNN layout (convolutions ` +
    `${(d.network.widths ?? [32, 64, 64]).join("/")}, dense ${d.network.hidden}), Double DQN ` +
    `${d.double ? "on" : "off"}, Huber loss, Adam lr ${d.lr}, batch ${d.batchSize}, a gradient ` +
    `step every ${d.trainEvery} env steps from step ${d.learningStarts}, target copied every ` +
    `${d.targetUpdateEvery}, replay of ${d.bufferSize} frames. Schedules (start -> end over the ` +
    `first share of the run): ${
      cfg.modes.map((m) => {
        const s = cfg.schedules[m];
        return `${m} ${m === "boltzmann" ? "temperature" : "epsilon"} ${s.start} -> ${s.end} ` +
          `over ${s.fraction}`;
      }).join("; ")
    }. Random play runs the same number of steps through the same wrappers.`,
    "",
    `| exploration | seeds | last ${cfg.lastGames} training games | greedy (eps ${cfg.eval.epsilon}, ${cfg.eval.games} games) | ball cells visited | paddle columns | bricks broken | steps/s | minutes |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...groups.map(({ name, rows }) =>
      `| ${name} | ${rows.length} | ${ms(rows.map((x) => x.lastReturn))} | ${
        name === "random play" ? ms(r.randomEval) : ms(rows.map((x) => meanOf(x.evalReturns)))
      } | ${ms(rows.map((x) => x.coverage.ballCells), 1)} | ${
        ms(rows.map((x) => x.coverage.paddleColumns), 1)
      } | ${ms(rows.map((x) => x.coverage.bricksBroken), 0)} | ${ms(rows.map((x) => x.sps), 0)} | ${
        ms(rows.map((x) => x.seconds / 60), 1)
      } |`
    ),
    "",
    `Returns are whole games, unclipped (training games under episodic life and exploration; the ` +
    `greedy games through the evaluation variant of the same stack, on the same seeded games for ` +
    `random play). Coverage counts every training step: screen squares of ${cfg.coverage.cell} ` +
    `px the ball was seen in (of ${
      Math.ceil(210 / cfg.coverage.cell) * Math.ceil(160 / cfg.coverage.cell)
    }), ` +
    `columns the paddle was seen in, and bricks broken in all. Mean ± std over seeds.`,
    "",
    "Per run:",
    "",
    "| run | games | last games | greedy | ball cells | bricks | steps/s |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...[...r.runs, ...r.random].map((x) =>
      `| ${dqnRunName(x.mode, x.seed)} | ${x.games} | ${x.lastReturn.toFixed(2)} | ${
        x.evalReturns.length ? meanOf(x.evalReturns).toFixed(2) : "-"
      } | ${x.coverage.ballCells} | ${x.coverage.bricksBroken} | ${x.sps.toFixed(0)} |`
    ),
    "",
    ...memorySection(r),
    "![learning curves](figures/dqn_returns.svg)",
    "",
    "![coverage over training](figures/dqn_coverage.svg)",
    "",
    "![where the ball went](figures/dqn_ball_heatmaps.svg)",
    "",
    "![the best agent's game](figures/dqn_best.gif)",
    "",
  ];
  return out.join("\n");
}

/** The memory table of the runs whose replay buffer filled with windows to spare. */
function memorySection(r: DqnStudyResult): string[] {
  const rows = r.runs.filter((x) => x.memory);
  if (rows.length === 0) return [];
  return [
    "Memory once the replay buffer is full (the process's RSS and live tensors over the logged " +
    "windows from that step on; the slope is a least-squares fit):",
    "",
    "| run | steps | windows | RSS first (MiB) | RSS last | RSS max | slope (MiB / 10K steps) | live tensors |",
    "|---|---|---:|---:|---:|---:|---:|---|",
    ...rows.map((x) => {
      const m = x.memory!;
      return `| ${dqnRunName(x.mode, x.seed)} | ${m.fromStep}-${m.toStep} | ${m.windows} | ${
        m.rssFirstMiB.toFixed(0)
      } | ${m.rssLastMiB.toFixed(0)} | ${m.rssMaxMiB.toFixed(0)} | ${
        m.rssSlopePer10k.toFixed(2)
      } | ${m.tensorsMin === m.tensorsMax ? m.tensorsMin : `${m.tensorsMin}-${m.tensorsMax}`} |`;
    }),
    "",
  ];
}

/** Per mode, each seed's records of one metric from the runs' `metrics.jsonl`. */
function runCurves(
  run: RunDir,
  cfg: DqnStudyConfig,
  pick: (path: string) => CurveRecord[],
): { group: string; seeds: CurveRecord[][] }[] {
  return cfg.modes.map((mode) => ({
    group: mode,
    seeds: cfg.seeds.map((seed) =>
      pick(join(run.dir, "runs", dqnRunName(mode, seed), "metrics.jsonl"))
    ),
  }));
}

/** Training returns against env steps, per mode, with seed bands. */
export function returnsFigure(run: RunDir, cfg: DqnStudyConfig): string {
  const groups = runCurves(run, cfg, (path) => {
    const byStep = new Map<number, number>();
    for (const r of readMetricsJsonl(path)) {
      if (r.kind === "episode") byStep.set(r.step as number, r.return as number);
    }
    return [...byStep].map(([step, value]) => ({ step, value }));
  });
  return seedBandFigure(seedBandCurves(groups, cfg.dqn.totalSteps), {
    title: `DQN training return on ${cfg.dqn.env.id} (whole games, unclipped)`,
    groups: cfg.modes,
    xLabel: "env steps",
    yLabel: "return",
  });
}

/** Distinct ball cells visited against env steps, per mode, with seed bands. */
export function coverageFigure(run: RunDir, cfg: DqnStudyConfig): string {
  const groups = runCurves(run, cfg, (path) => {
    const byStep = new Map<number, number>();
    for (const r of readMetricsJsonl(path)) {
      if (r.kind === "train") byStep.set(r.step as number, r.ballCells as number);
    }
    return [...byStep].map(([step, value]) => ({ step, value }));
  });
  return seedBandFigure(seedBandCurves(groups, cfg.dqn.totalSteps), {
    title: "State coverage: screen squares the ball has been seen in",
    groups: cfg.modes,
    xLabel: "env steps",
    yLabel: "ball cells",
  });
}

/** Log visit counts of the ball per screen square, summed over seeds, one panel per mode. */
export function heatmapsFigure(cfg: DqnStudyConfig, r: DqnStudyResult): string {
  const cell = cfg.coverage.cell;
  const cols = Math.ceil(160 / cell);
  const points: { mode: string; x: number; y: number; visits: number }[] = [];
  const byMode = [...cfg.modes, "random"].map((mode) => ({
    mode,
    rows: [...r.runs, ...r.random].filter((x) => x.mode === mode),
  }));
  for (const { mode, rows } of byMode) {
    const sum = new Float64Array(rows[0]?.counts.ball.length ?? 0);
    for (const x of rows) x.counts.ball.forEach((v, i) => sum[i] += v);
    sum.forEach((v, i) =>
      points.push({
        mode,
        x: (i % cols) * cell,
        y: Math.floor(i / cols) * cell,
        visits: Math.log10(1 + v),
      })
    );
  }
  return plotToSvg({
    title: "Where the ball went: log10(1 + visits) per screen square, all seeds",
    width: 200 * byMode.length,
    height: 320,
    x: { label: null, axis: null },
    y: { label: null, axis: null, reverse: false },
    fx: { label: null, domain: byMode.map((m) => m.mode) },
    color: { scheme: "viridis" },
    marks: [
      Plot.rect(points, {
        x1: "x",
        x2: (d: { x: number }) => d.x + cell,
        y1: "y",
        y2: (d: { y: number }) => d.y + cell,
        fill: "visits",
        fx: "mode",
      }),
    ],
  });
}

/** A GIF of one greedy game of the run with the best last-games return (the agent's view, 2x). */
export function bestGameGif(run: RunDir, cfg: DqnStudyConfig, best: DqnRunResult): Uint8Array {
  const network = loadRunNetwork(run, best.mode, best.seed);
  try {
    const env = makeEnv(evalEnvConfig(cfg.dqn.env), cfg.eval.seed);
    const act = dqnPolicy(network, cfg.eval.epsilon);
    const rng = new Rng(cfg.eval.seed);
    const [h, w, cs] = env.spec.obsShape;
    const k = cfg.dqn.env.frameStack;
    const frames: Uint8Array[] = [];
    let obs = env.reset().obs;
    for (let t = 0; t < cfg.report.gifSteps; t++) {
      frames.push(upscaleNearest(newestFrame(obs, h * w, cs / k, k), w, h, cs / k, 2));
      const r = env.step(act(obs, 1, rng)[0]);
      if (r.terminated || r.truncated) break;
      obs = r.obs;
    }
    env.close();
    return encodeGif(frames, 2 * w, 2 * h, (cs / k) as 1 | 3);
  } finally {
    disposeParams(network.params);
  }
}

/** Writes `dqn.json`, `DQN.md`, the figures and the GIF; returns the markdown. */
export async function writeDqnReport(
  run: RunDir,
  cfg: DqnStudyConfig,
  r: DqnStudyResult,
  preset?: string,
): Promise<string> {
  const md = dqnMarkdown(cfg, r, preset);
  await writeFileAtomic(run.path("dqn.json"), JSON.stringify({ config: cfg, ...r }) + "\n");
  await writeFileAtomic(run.path("figures", "dqn_returns.svg"), returnsFigure(run, cfg));
  await writeFileAtomic(run.path("figures", "dqn_coverage.svg"), coverageFigure(run, cfg));
  await writeFileAtomic(run.path("figures", "dqn_ball_heatmaps.svg"), heatmapsFigure(cfg, r));
  const best = [...r.runs].sort((a, b) => b.lastReturn - a.lastReturn)[0];
  if (best) await writeFileAtomic(run.path("figures", "dqn_best.gif"), bestGameGif(run, cfg, best));
  await writeFileAtomic(run.path("DQN.md"), md);
  return md;
}
