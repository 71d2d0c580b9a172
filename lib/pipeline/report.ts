/**
 * `REPORT.md` of a pipeline run, rebuilt from the run's own files alone (phase records, configs,
 * Parquet metrics, probe results): every figure as SVG and PNG under `<run>/figures/`, tables
 * from the Parquet metrics (polars reads, arquero pivots), the exact config and seed, the backend
 * and machine, and the anchors' published numbers beside ours where an experiment is comparable.
 *
 * Sections appear for the phases present, so a partial run still reports what it has; the
 * world-model section comes from lib/studies/world_model/report.ts, the encoder-swap section from
 * lib/studies/swap/section.ts.
 *
 * @module
 */

import * as aq from "arquero";
import pl from "nodejs-polars";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { readPhaseRecord } from "./runner.ts";
import { writeFileAtomic } from "../run/atomic.ts";
import { Plot, plotToSvg } from "../viz/plot.ts";
import type { ReportItem } from "../viz/report_items.ts";
import { svgToPng } from "../viz/svg_png.ts";

export type { ReportItem };
import { type BenchRow, f1Tables } from "../studies/probe_bench/mod.ts";
import { swapReportItems } from "../studies/swap/mod.ts";
import { worldModelReportItems } from "../studies/world_model/mod.ts";

/** `<run>/pipeline.json`: how the run was started (written by `deno task pipeline`). */
export interface RunInfo {
  preset: string;
  config: unknown;
  backend: string;
  machine: Record<string, unknown>;
  startedAt: string;
}

type Row = Record<string, unknown>;

/** Rows of `<dir>/metrics.parquet` (or the JSONL while a run is going), or [] when absent. */
export function readMetrics(dir: string): Row[] {
  const parquet = join(dir, "metrics.parquet");
  if (existsSync(parquet)) return pl.readParquet(parquet).toRecords() as Row[];
  const jsonl = join(dir, "metrics.jsonl");
  if (!existsSync(jsonl)) return [];
  return readFileSync(jsonl, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** Keeps the last record per (kind, step): a resumed run logs the steps after its checkpoint twice. */
export function lastPerStep(rows: Row[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const r of rows) byKey.set(`${r.kind}/${r.step}`, r);
  return [...byKey.values()].sort((a, b) => Number(a.step) - Number(b.step));
}

/** Captions of the probe phase's figures, from their file names. */
function probeCaption(stem: string): string {
  const [kind, a, b] = stem.split("_");
  if (kind === "pca") {
    return `PCA of the ${a} pooled embeddings (held-out frames), coloured by ${b}`;
  }
  if (kind === "retrieval") {
    return `k-NN retrieval on ${a} features: held-out query, then each encoder's nearest ` +
      "training frame";
  }
  return "Held-out R^2 per variable, encoder and feature set";
}

const fmt = (v: unknown) => typeof v === "number" ? (Number.isFinite(v) ? v.toFixed(3) : "-") : v;

/**
 * The report of a run as markdown and figures, from the run's files alone: what
 * {@linkcode writeRunReport} writes, and what a notebook shows inline.
 */
export function buildRunReport(runDir: string): ReportItem[] {
  const items: ReportItem[] = [];
  const flush = () => {
    if (out.length) items.push({ kind: "markdown", text: out.splice(0).join("\n") });
  };
  const addFigure = (name: string, svg: string, caption: string) => {
    flush();
    items.push({ kind: "figure", name, svg, caption });
    return "";
  };
  const infoPath = join(runDir, "pipeline.json");
  const info = existsSync(infoPath) ? JSON.parse(readFileSync(infoPath, "utf8")) as RunInfo : null;
  const out: string[] = [`# Run report: ${basename(runDir)}`, ""];

  // Phases and timings.
  const phases = readdirSync(runDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => readPhaseRecord(join(runDir, e.name)))
    // The report phase is the one writing this: its record says "running" until it returns.
    .filter((r) => r !== null && r.name !== "report");
  const order = ["data", "ijepa", "ae", "probe", "worldmodel", "plan", "swap", "report"];
  phases.sort((a, b) => order.indexOf(a!.name) - order.indexOf(b!.name));
  out.push(
    "## Phases",
    "",
    "| phase | status | seconds | key |",
    "|---|---|---:|---|",
    ...phases.map((p) =>
      `| ${p!.name} | ${p!.status}${p!.error ? `: ${p!.error}` : ""} | ${
        p!.seconds?.toFixed(1) ?? "-"
      } | \`${p!.key}\` |`
    ),
    "",
  );
  const data = phases.find((p) => p!.name === "data");
  if (data?.outputs) {
    out.push(
      `Dataset: ${data.outputs.frames} frames in ${data.outputs.episodes} episodes ` +
        "(scripted play; episodes split into training and held-out by the seed).",
      "",
    );
  }

  // Pretraining curves.
  const curves: Row[] = [];
  const monitors: Row[] = [];
  for (const method of ["ijepa", "ae"]) {
    const rows = lastPerStep(readMetrics(join(runDir, method)));
    curves.push(...rows.filter((r) => r.kind === "train").map((r) => ({ ...r, method })));
    monitors.push(...rows.filter((r) => r.kind === "monitor").map((r) => ({ ...r, method })));
  }
  if (curves.length) {
    out.push("## Pretraining", "");
    out.push(
      addFigure(
        "pretrain_loss",
        plotToSvg({
          title: "Training loss: I-JEPA (smooth L1, latent) and autoencoder (MSE, pixels)",
          subtitle: "different objectives: compare shapes, not levels",
          width: 720,
          height: 300,
          y: { type: "log", grid: true, label: "loss" },
          x: { label: "step" },
          fy: { label: null },
          marks: [Plot.line(curves, { x: "step", y: "loss", stroke: "method", fy: "method" })],
        }),
        "Pretraining loss per step",
      ),
      "",
    );
    if (monitors.length) {
      out.push(
        addFigure(
          "collapse",
          plotToSvg({
            title: "Collapse monitors on held-out frames: effective rank of the embeddings",
            width: 720,
            height: 260,
            marginRight: 50,
            y: { grid: true, label: "effective rank" },
            x: { label: "step" },
            marks: [
              Plot.line(monitors, { x: "step", y: "effectiveRank", stroke: "method" }),
              Plot.text(
                monitors,
                Plot.selectLast({
                  x: "step",
                  y: "effectiveRank",
                  z: "method",
                  text: "method",
                  dx: 12,
                }),
              ),
            ],
          }),
          "Effective rank of pooled embeddings (held-out frames)",
        ),
        "",
        "| method | step | loss | embedding std (mean) | effective rank |",
        "|---|---:|---:|---:|---:|",
        ...["ijepa", "ae"].flatMap((m) => {
          const last = monitors.filter((r) => r.method === m).at(-1);
          const loss = curves.filter((r) => r.method === m).at(-1);
          return last
            ? [
              `| ${m} | ${last.step} | ${fmt(loss?.loss)} | ${fmt(last.stdMean)} | ${
                fmt(last.effectiveRank)
              } |`,
            ]
            : [];
        }),
        "",
      );
    }
  }

  // Probes.
  const probeRows = readMetrics(join(runDir, "probe"));
  if (probeRows.length) {
    out.push(
      "## Linear probes (held-out episodes)",
      "",
      "Ridge R^2 of the game state from frozen embeddings: `pooled` is the mean of the final " +
        "tokens, `grid` every token projected on its top principal directions (see " +
        "`lib/eval/encoder_probe.ts`). `random` is an untrained encoder of the same shape.",
      "",
    );
    const table = aq.from(probeRows.map((r) => ({ ...r, r2: Number(fmt(r.r2)) })))
      .groupby("features", "encoder")
      .pivot("variable", { r2: (d: { r2: number }) => aq.op.any(d.r2) });
    out.push(table.toMarkdown(), "");
    const probeFigures = join(runDir, "probe", "figures");
    for (const file of readdirSync(probeFigures).filter((f) => f.endsWith(".svg")).sort()) {
      const stem = file.replace(/\.svg$/, "");
      const name = stem.startsWith("probe") ? stem : `probe_${stem}`;
      const svg = readFileSync(join(probeFigures, file), "utf8");
      if (file === "probe_r2.svg" || file.startsWith("retrieval_") || file.includes("ijepa")) {
        out.push(addFigure(name, svg, probeCaption(stem)), "");
      }
    }
    const benchFile = join(runDir, "probe", "probe-bench.json");
    if (existsSync(benchFile)) {
      const { rows } = JSON.parse(readFileSync(benchFile, "utf8")) as { rows: BenchRow[] };
      out.push(
        "AtariARI's probe (the probe benchmark's, `deno task probe-bench`) of the same rows: a " +
          "linear classifier per state variable, one class per value, support-weighted F1 on " +
          "the held-out episodes, against the majority class.",
        "",
        ...f1Tables(rows, 3),
      );
    }
    out.push(`Full table with F1 and 1-NN R^2: [probe/PROBE.md](probe/PROBE.md).`, "");
  }

  // The world model and planning: their own section, from their phase directories.
  const worldModel = worldModelReportItems(runDir);
  if (worldModel.length) {
    flush();
    items.push(...worldModel);
  }
  const swap = swapReportItems(runDir);
  if (swap.length) {
    flush();
    items.push(...swap);
  }

  // Provenance.
  out.push("## Provenance", "");
  if (info) {
    out.push(
      `- preset \`${info.preset}\`, started ${info.startedAt}`,
      `- tfjs backend: ${info.backend}`,
      `- machine: ${
        Object.entries(info.machine).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ")
      }`,
      "",
      "Config (every seed derives from `seed`):",
      "",
      "```json",
      JSON.stringify(info.config, null, 2),
      "```",
      "",
    );
  } else out.push("(no pipeline.json: the run was not started by `deno task pipeline`)", "");
  out.push(
    `Rebuild this report from the run's files with \`deno task report ${
      relative(Deno.cwd(), runDir) || "."
    }\`.`,
  );
  flush();
  return items;
}

/** Writes `<runDir>/REPORT.md` and `<runDir>/figures/*` (SVG and PNG); returns the report's path. */
export async function writeRunReport(runDir: string): Promise<string> {
  const text: string[] = [];
  const drawn = new Set<string>();
  for (const item of buildRunReport(runDir)) {
    if (item.kind === "markdown") {
      text.push(item.text.trim());
      continue;
    }
    const { name, svg, caption } = item;
    await writeFileAtomic(join(runDir, "figures", `${name}.svg`), svg);
    await writeFileAtomic(join(runDir, "figures", `${name}.png`), await svgToPng(svg));
    drawn.add(`${name}.svg`).add(`${name}.png`);
    text.push(`![${caption}](figures/${name}.png)\n\n_${caption}_ ([SVG](figures/${name}.svg))`);
  }
  // Figures of an earlier report that this one did not draw would mislead: remove them.
  const figureDir = join(runDir, "figures");
  if (existsSync(figureDir)) {
    for (const file of readdirSync(figureDir)) {
      if (!drawn.has(file)) rmSync(join(figureDir, file));
    }
  }
  const path = join(runDir, "REPORT.md");
  await writeFileAtomic(path, text.join("\n\n") + "\n");
  return path;
}
