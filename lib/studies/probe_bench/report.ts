/**
 * The probe benchmark's report: per encoder and feature set, each variable's F1 and the
 * category and overall means (AtariARI's table) as mean ± std over seeds, R^2 beside them, the
 * pooled output's effective rank, the issue's goals checked in words, and one figure.
 *
 * @module
 */

import { writeFileAtomic } from "../../run/atomic.ts";
import type { RunDir } from "../../run/run_dir.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import type { ProbeBenchConfig } from "./presets.ts";
import type { BenchRow, EncoderRow } from "./study.ts";

/** Mean, sample std and count of finite values. */
export interface Spread {
  mean: number;
  std: number;
  n: number;
}

/** {@linkcode Spread} of the finite values of `xs` (NaN mean when there are none). */
export function spread(xs: (number | null)[]): Spread {
  const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  const n = v.length;
  const mean = n ? v.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** One encoder's summary on one feature set: per seed, then over seeds. */
export interface EncoderSummary {
  encoder: string;
  features: string;
  /** Per variable, F1 and R^2 over seeds. */
  f1: Record<string, Spread>;
  r2: Record<string, Spread>;
  /** Per category, the mean F1 of its variables, over seeds. */
  categories: Record<string, Spread>;
  /**
   * The mean F1 over variables (AtariARI's overall), over seeds; and the median R^2 over
   * variables, over seeds (a median, because one variable's ridge fit can miss a held-out game
   * by far more than its variance and swamp a mean).
   */
  overall: Spread;
  overallR2: Spread;
}

/** Summaries of every (encoder, features) in `rows`; majority rows join every feature set. */
export function summarize(rows: BenchRow[]): EncoderSummary[] {
  // Label-only rows (majority, oracle; features "none") join every feature set, or stand alone.
  const named = [...new Set(rows.map((r) => r.features))].filter((f) => f !== "none");
  const features = named.length || rows.length === 0 ? named : ["none"];
  const encoders = [...new Set(rows.map((r) => r.encoder))];
  const seeds = [...new Set(rows.map((r) => r.seed))];
  const out: EncoderSummary[] = [];
  for (const f of features) {
    for (const encoder of encoders) {
      const mine = rows.filter((r) =>
        r.encoder === encoder && (r.features === f || r.features === "none")
      );
      if (mine.length === 0) continue;
      const variables = [...new Set(mine.map((r) => r.variable))];
      const categories = [...new Set(mine.map((r) => r.category))];
      const perSeed = (pick: (rs: BenchRow[]) => number) =>
        spread(seeds.map((s) => pick(mine.filter((r) => r.seed === s))));
      const avg = (rs: BenchRow[], key: "f1" | "r2") => spread(rs.map((r) => r[key])).mean;
      out.push({
        encoder,
        features: f,
        f1: Object.fromEntries(
          variables.map((v) => [v, spread(mine.filter((r) => r.variable === v).map((r) => r.f1))]),
        ),
        r2: Object.fromEntries(
          variables.map((v) => [v, spread(mine.filter((r) => r.variable === v).map((r) => r.r2))]),
        ),
        categories: Object.fromEntries(
          categories.map((
            c,
          ) => [c, perSeed((rs) => avg(rs.filter((r) => r.category === c), "f1"))]),
        ),
        overall: spread([...overallBySeed(rows, encoder, f).values()]),
        overallR2: perSeed((rs) => median(rs.map((r) => r.r2))),
      });
    }
  }
  return out;
}

/** The median of the finite values (NaN when there are none). */
function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function pm(s: Spread | undefined, digits = 3): string {
  if (!s || !Number.isFinite(s.mean)) return "n/a";
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
}

/**
 * Per seed, an encoder's overall F1 (the mean over variables) on one feature set; majority rows
 * (features `none`) count for every set.
 */
function overallBySeed(rows: BenchRow[], encoder: string, features: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const seed of new Set(rows.map((r) => r.seed))) {
    const mine = rows.filter((r) =>
      r.encoder === encoder && r.seed === seed && (r.features === features || r.features === "none")
    );
    const s = spread(mine.map((r) => r.f1));
    if (s.n) out.set(seed, s.mean);
  }
  return out;
}

/** `a - b` per seed where both have a value, as a {@linkcode Spread}. */
export function pairedDifference(a: Map<number, number>, b: Map<number, number>): Spread {
  return spread([...a].filter(([seed]) => b.has(seed)).map(([seed, v]) => v - b.get(seed)!));
}

/**
 * The I-JEPA ablation rows against the recipe and the random-init ViT: differences of overall
 * F1 paired by seed (the same data and probe rows), per feature set.
 */
export function ablationMarkdown(rows: BenchRow[], encoders: EncoderRow[]): string[] {
  const names = [...new Set(rows.map((r) => r.encoder))].filter((e) => e.startsWith("ijepa"));
  if (names.length < 2) return [];
  const features = [...new Set(rows.map((r) => r.features))].filter((f) => f !== "none");
  const out = [
    "## I-JEPA recipe ablations (differences paired by seed)",
    "",
    `| row | ${
      features.map((f) => `${f}: F1 - ijepa | ${f}: F1 - random-vit`).join(" | ")
    } | effective rank |`,
    `|---|${features.map(() => "---:|---:").join("|")}|---:|`,
  ];
  for (const name of names) {
    const cells = features.flatMap((f) => {
      const mine = overallBySeed(rows, name, f);
      return [
        name === "ijepa" ? "-" : pm(pairedDifference(mine, overallBySeed(rows, "ijepa", f))),
        pm(pairedDifference(mine, overallBySeed(rows, "random-vit", f))),
      ];
    });
    const rank = spread(encoders.filter((e) => e.encoder === name).map((e) => e.effectiveRank));
    out.push(`| ${name} | ${cells.join(" | ")} | ${pm(rank, 1)} |`);
  }
  out.push("");
  return out;
}

/** The goals of the benchmark, each a sentence with the numbers (pooled features unless named). */
export function goalLines(summaries: EncoderSummary[], encoders: EncoderRow[]): string[] {
  const lines: string[] = [];
  for (const f of new Set(summaries.map((s) => s.features))) {
    const get = (e: string) => summaries.find((s) => s.encoder === e && s.features === f);
    const ij = get("ijepa");
    if (!ij) continue;
    const cmp = (other: string, margin = 0) => {
      const o = get(other);
      if (!o) return `${other}: not run`;
      const d = ij.overall.mean - o.overall.mean;
      const ok = d > margin;
      return `${ok ? "met" : "NOT met"}: I-JEPA ${ij.overall.mean.toFixed(3)} vs ${other} ${
        o.overall.mean.toFixed(3)
      } (difference ${d >= 0 ? "+" : ""}${d.toFixed(3)}${margin ? `, needed > ${margin}` : ""})`;
    };
    lines.push(`- ${f} features, overall F1 above ST-DIM: ${cmp("stdim")}`);
    lines.push(
      `- ${f} features, overall F1 at least 0.2 above the random-init ViT: ${
        cmp("random-vit", 0.2)
      }`,
    );
    const px = get("pixels");
    for (const v of ["ballX", "ballY"]) {
      if (!px || !ij.f1[v]) continue;
      const d = ij.f1[v].mean - px.f1[v].mean;
      lines.push(
        `- ${f} features, ${v} F1 above raw pixels: ${d > 0 ? "met" : "NOT met"}: ` +
          `I-JEPA ${ij.f1[v].mean.toFixed(3)} vs pixels ${px.f1[v].mean.toFixed(3)}`,
      );
    }
    // The same questions by ridge R^2, which reads a linearly coded variable exactly (the
    // oracle row shows how little of one the classifier's F1 recovers).
    const r2 = (other: string) => {
      const o = get(other);
      if (!o) return `${other}: not run`;
      const d = ij.overallR2.mean - o.overallR2.mean;
      return `I-JEPA ${ij.overallR2.mean.toFixed(3)} vs ${other} ${o.overallR2.mean.toFixed(3)} ` +
        `(${d > 0 ? "above" : "not above"}, ${d >= 0 ? "+" : ""}${d.toFixed(3)})`;
    };
    lines.push(
      `- ${f} features, by median R^2 instead: ${r2("random-vit")}; ${r2("stdim")}`,
    );
    // Whether the +0.2 asked of I-JEPA is reachable in this protocol at all: the encoder trained
    // on the labels themselves sets how far above random init a linear read of them goes.
    const sup = get("supervised");
    const rnd = get("random-vit");
    if (sup && rnd) {
      const d = sup.overall.mean - rnd.overall.mean;
      lines.push(
        `- ${f} features, the supervised ceiling's overall F1 is ${d >= 0 ? "+" : ""}` +
          `${d.toFixed(3)} from the random-init ViT's: a margin of 0.2 is ` +
          `${d > 0.2 ? "within" : "beyond"} what training on the labels reaches here`,
      );
    }
    const oracle = get("oracle");
    if (oracle) {
      lines.push(
        `- the oracle (the true variables as features) gets overall F1 ` +
          `${oracle.overall.mean.toFixed(3)} and median R^2 ${oracle.overallR2.mean.toFixed(3)}: ` +
          `an F1 below the oracle's does not mean the state is missing`,
      );
    }
    for (const e of ["vjepa", "vicreg"]) {
      const s = get(e);
      if (!s || !rnd) continue;
      const below = Object.keys(s.f1).filter((v) =>
        /X$|Y$/.test(v) && !(s.f1[v].mean > rnd.f1[v].mean)
      );
      lines.push(
        `- ${f} features, ${e} above random-init on every position variable: ` +
          (below.length ? `NOT met (not above on ${below.join(", ")})` : "met"),
      );
    }
  }
  const jepas = [...new Set(encoders.map((e) => e.encoder))].filter((e) =>
    /^(ijepa|vjepa|vicreg)/.test(e)
  );
  for (const e of jepas) {
    const mine = encoders.filter((r) => r.encoder === e);
    const share = spread(mine.map((r) => r.effectiveRank / r.width));
    lines.push(
      `- effective rank of ${e}'s pooled output >= 30% of its width: ${
        share.mean >= 0.3 ? "met" : "NOT met"
      } ` +
        `(${(100 * share.mean).toFixed(1)}% of ${mine[0].width})`,
    );
  }
  return lines;
}

/**
 * The F1 tables, one per feature set: per encoder (mean ± std over seeds) each variable with its
 * AtariARI name, the category means, the overall F1 and the median ridge R^2; headings of
 * markdown level `level`.
 */
export function f1Tables(rows: BenchRow[], level = 2): string[] {
  const summaries = summarize(rows);
  const variables = [...new Set(rows.map((r) => r.variable))];
  const atariari = Object.fromEntries(rows.map((r) => [r.variable, r.atariari]));
  const categories = [...new Set(rows.map((r) => r.category))];
  const out: string[] = [];
  for (const f of new Set(summaries.map((s) => s.features))) {
    const mine = summaries.filter((s) => s.features === f);
    out.push(
      `${"#".repeat(level)} F1 per variable, ${f === "none" ? "label-only rows" : `${f} features`}`,
      "",
    );
    out.push(
      `| encoder | ${variables.map((v) => `${v} (${atariari[v]})`).join(" | ")} | ${
        categories.join(" | ")
      } | **overall F1** | median R^2 |`,
    );
    out.push(
      `|---|${variables.map(() => "---:").join("|")}|${
        categories.map(() => "---:").join("|")
      }|---:|---:|`,
    );
    for (const s of mine) {
      out.push(
        `| ${s.encoder} | ${variables.map((v) => pm(s.f1[v])).join(" | ")} | ${
          categories.map((c) => pm(s.categories[c])).join(" | ")
        } | **${pm(s.overall)}** | ${pm(s.overallR2)} |`,
      );
    }
    out.push("");
  }
  return out;
}

/** The markdown report. */
export function benchMarkdown(
  cfg: ProbeBenchConfig,
  rows: BenchRow[],
  encoders: EncoderRow[],
  opts: { preset?: string; frames: number[]; frameShape?: readonly number[] },
): string {
  const summaries = summarize(rows);
  const frameSize = opts.frameShape ? `${opts.frameShape[1]}x${opts.frameShape[0]}` : "resized";
  const rank = (e: string) =>
    spread(encoders.filter((r) => r.encoder === e).map((r) => r.effectiveRank));
  const width = (e: string) => encoders.find((r) => r.encoder === e)?.width;
  const out = [
    `# Probe benchmark (AtariARI protocol) on ${cfg.env}`,
    "",
    `Seeds ${cfg.seeds.join(", ")}${
      opts.preset ? ` (preset \`${opts.preset}\`)` : ""
    }; per seed one dataset of ` +
    `${cfg.data.episodes} games played in turn by ${cfg.data.policies.join(" and ")} ` +
    `(${opts.frames.join(", ")} frames)` +
    (cfg.data.explore
      ? `, random action segments started with probability ${cfg.data.explore.prob} per step`
      : "") +
    `; ${
      Math.round(100 * cfg.valFraction)
    }% of the games held out for the probes' test rows and never trained on. ` +
    `Probes read up to ${cfg.probe.rows} frame stacks of ${cfg.stack} from each side. F1: a linear softmax ` +
    `classifier per variable, one class per value (positions: per pixel of the ${frameSize} observation, not of ` +
    `the 160x210 screen), support-weighted F1 on the held-out rows (AtariARI). R^2: ridge regression on the ` +
    `same rows (the median over variables here; each variable's in probe-bench.json). Cells are mean ± std ` +
    `over seeds.` +
    (rows.some((r) => r.encoder === "oracle")
      ? " The oracle row calibrates the probe: its features are the true variables themselves, one " +
        "number each, so ridge reads them exactly; its F1 is what the linear classifier makes of a " +
        "perfectly informative but linearly coded variable (an encoder below it may still hold that " +
        "variable exactly)."
      : ""),
    "",
  ];
  out.push(...f1Tables(rows));
  out.push("## Effective rank of the pooled output (held-out rows) and training", "");
  out.push("| encoder | width | effective rank | share of width | steps | training s (per seed) |");
  out.push("|---|---:|---:|---:|---:|---:|");
  for (const e of [...new Set(encoders.map((r) => r.encoder))]) {
    const mine = encoders.filter((r) => r.encoder === e);
    const r = rank(e);
    const secs = mine.map((m) => m.seconds).filter((s) => s > 0);
    out.push(
      `| ${e} | ${width(e)} | ${pm(r, 1)} | ${(100 * r.mean / width(e)!).toFixed(1)}% | ${
        mine[0].steps
      } | ${secs.length ? secs.map((s) => s.toFixed(0)).join(", ") : "-"} |`,
    );
  }
  out.push("", ...ablationMarkdown(rows, encoders));
  out.push("## Goals", "", ...goalLines(summaries, encoders), "");
  out.push("![overall F1 per encoder](figures/probe_bench_f1.svg)", "");
  return out.join("\n");
}

/** Overall F1 per encoder (bars: mean over seeds; dots: seeds), one panel per feature set. */
export function benchFigureSvg(rows: BenchRow[], env: string): string {
  const summaries = summarize(rows);
  const seedPoints = summaries.flatMap((s) =>
    [...overallBySeed(rows, s.encoder, s.features)].map(([seed, f1]) => ({
      encoder: s.encoder,
      features: s.features,
      seed,
      f1,
    }))
  );
  const bars = summaries.map((s) => ({
    encoder: s.encoder,
    features: s.features,
    f1: s.overall.mean,
  }));
  const order = [...new Set(summaries.map((s) => s.encoder))];
  return plotToSvg({
    title: `Probe benchmark on ${env}: overall F1 (mean over variables) on held-out games`,
    subtitle: "bars: mean over seeds; dots: each seed",
    width: 820,
    height: 90 + 22 * order.length * new Set(bars.map((b) => b.features)).size,
    marginLeft: 110,
    x: { domain: [0, 1], grid: true, label: "F1" },
    y: { domain: order, label: null },
    fy: { label: null },
    facet: { data: bars, y: "features", marginRight: 60 },
    marks: [
      Plot.barX(bars, { y: "encoder", x: "f1", fy: "features", fill: "#9ab" }),
      Plot.dot(seedPoints, { y: "encoder", x: "f1", fy: "features", r: 2.5, fill: "black" }),
    ],
  });
}

/**
 * Training curves of the trained encoders from the run's `kind: "train"` records: each loss over
 * its first step's (the methods' losses have different scales), one panel per encoder, a line
 * per seed of the loss's mean in 200 bins of steps. Null when the run recorded none.
 */
export function lossCurvesSvg(records: Record<string, unknown>[], env: string): string | null {
  const train = records.filter((r) => r.kind === "train" && Number.isFinite(r.loss as number));
  if (train.length === 0) return null;
  const first = new Map<string, number>();
  const points: CurvePoint[] = [];
  for (const r of train) {
    const id = `${r.encoder}/${r.seed}`;
    if (!first.has(id)) first.set(id, r.loss as number);
    points.push({
      encoder: String(r.encoder),
      seed: String(r.seed),
      step: r.step as number,
      relative: (r.loss as number) / first.get(id)!,
    });
  }
  const encoders = [...new Set(points.map((p) => p.encoder))];
  return plotToSvg({
    title: `Training losses on ${env}, relative to each run's first step`,
    subtitle: "one line per seed, means over 200 spans of steps; log scale",
    width: 820,
    height: 70 + 90 * encoders.length,
    marginRight: 120,
    y: { type: "log", grid: true, label: "loss / first loss" },
    x: { label: "step" },
    fy: { label: null, domain: encoders },
    marks: [
      Plot.line(binnedCurves(points, 200), {
        x: "step",
        y: "relative",
        z: "seed",
        fy: "encoder",
        stroke: "#457",
      }),
    ],
  });
}

/** A point of a training curve: one seed's loss relative to its first step's. */
interface CurvePoint {
  encoder: string;
  seed: string;
  step: number;
  relative: number;
}

/**
 * Each curve (encoder and seed) as the means of `bins` equal spans of its steps: a 10,000-step run
 * drawn step by step makes a figure of megabytes.
 */
export function binnedCurves(points: CurvePoint[], bins: number): CurvePoint[] {
  const curves = new Map<string, CurvePoint[]>();
  for (const p of points) {
    const id = `${p.encoder}/${p.seed}`;
    const curve = curves.get(id);
    if (curve) curve.push(p);
    else curves.set(id, [p]);
  }
  const out: CurvePoint[] = [];
  for (const curve of curves.values()) {
    const last = curve.reduce((m, p) => Math.max(m, p.step), 1);
    const span = Math.max(1, Math.ceil(last / bins));
    const sums = new Map<number, { step: number; relative: number; n: number }>();
    for (const p of curve) {
      const b = Math.floor((p.step - 1) / span);
      const s = sums.get(b) ?? { step: 0, relative: 0, n: 0 };
      s.step += p.step;
      s.relative += p.relative;
      s.n++;
      sums.set(b, s);
    }
    for (const [, s] of [...sums].sort((a, b) => a[0] - b[0])) {
      out.push({ ...curve[0], step: s.step / s.n, relative: s.relative / s.n });
    }
  }
  return out;
}

/** Writes `probe-bench.json`, `PROBE_BENCH.md` and the figure into the run; returns the markdown. */
export async function writeBenchReport(
  run: RunDir,
  cfg: ProbeBenchConfig,
  result: { rows: BenchRow[]; encoders: EncoderRow[] },
  opts: { preset?: string; frames: number[]; frameShape?: readonly number[] },
): Promise<string> {
  const md = benchMarkdown(cfg, result.rows, result.encoders, opts);
  await writeFileAtomic(
    run.path("probe-bench.json"),
    JSON.stringify(
      {
        env: cfg.env,
        seeds: cfg.seeds,
        preset: opts.preset ?? null,
        frames: opts.frames,
        rows: result.rows,
        encoders: result.encoders,
        summary: summarize(result.rows),
      },
      null,
      1,
    ) + "\n",
  );
  await writeFileAtomic(
    run.path("figures", "probe_bench_f1.svg"),
    benchFigureSvg(result.rows, cfg.env),
  );
  const curves = lossCurvesSvg(run.readMetrics(), cfg.env);
  const withCurves = curves ? md + "\n![training losses](figures/probe_bench_losses.svg)\n" : md;
  if (curves) await writeFileAtomic(run.path("figures", "probe_bench_losses.svg"), curves);
  await writeFileAtomic(run.path("PROBE_BENCH.md"), withCurves);
  return withCurves;
}
