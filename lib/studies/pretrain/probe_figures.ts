/**
 * Figures and tables of the encoder probes: R^2 bars per variable, PCA scatters coloured by a
 * state variable, and the k-NN retrieval grid (query frame, then each encoder's nearest
 * training frame). Shared by `deno task probe`, the notebooks and the reports.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { encodePng, upscaleNearest } from "../../viz/png.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import type { ProbeData, ProbeResult } from "../../eval/probe.ts";
import { pca2 } from "../../eval/probe.ts";
import type { Retrieval } from "../../eval/encoder_probe.ts";

/** One row of a probe table: which encoder, which features, and the result. */
export type ProbeRow = ProbeResult & { encoder: string; features: string };

/** Grouped bars of held-out R^2 per variable, one bar per encoder, one panel per feature set. */
export function probeBarsSvg(rows: ProbeRow[], title = "Linear probes, held-out R^2"): string {
  // Categorical legends are HTML in Plot (lost in a standalone SVG): label the bars on the axis.
  return plotToSvg({
    title,
    subtitle: "bars below -0.5 are cut off (worse than predicting the mean)",
    width: 820,
    height: 180 * new Set(rows.map((r) => r.features)).size + 60,
    marginBottom: 50,
    fx: { label: null },
    fy: { label: null },
    x: { label: null, tickRotate: -35 },
    y: { domain: [-0.5, 1], grid: true, label: "R^2" },
    facet: { data: rows, x: "variable", y: "features", marginRight: 60 },
    marks: [
      Plot.barY(rows.filter((r) => Number.isFinite(r.r2)), {
        fx: "variable",
        fy: "features",
        x: "encoder",
        y: "r2",
        fill: "encoder",
        clip: true,
      }),
      Plot.ruleY([0]),
    ],
  });
}

/** PCA of held-out embeddings, coloured by one state variable (ball y only while in play). */
export function pcaScatterSvg(encoder: string, test: ProbeData, color: string): string {
  const p = pca2(test.x, test.n, test.d);
  const visible = test.state.ballVisible;
  const points = Array.from({ length: test.n }, (_, i) => ({
    pc1: p[i * 2],
    pc2: p[i * 2 + 1],
    value: color.startsWith("ball") && visible && !visible[i] ? NaN : test.state[color][i],
  })).filter((d) => Number.isFinite(d.value));
  return plotToSvg({
    // Plot draws continuous legends on a canvas, which the headless DOM lacks: say it in words.
    title: `${encoder}: PCA of held-out embeddings, ${color} dark (low) to bright (high)`,
    color: { scheme: "viridis" },
    marks: [Plot.dot(points, { x: "pc1", y: "pc2", fill: "value", r: 1.5 })],
  });
}

/**
 * The retrieval grid as standalone SVG (frames embedded as PNG): one row per query, columns
 * "query" and then each encoder's nearest training frame, labelled.
 */
export function retrievalSvg(r: Retrieval, scale = 2): string {
  const [h, w] = r.size;
  const names = ["query", ...Object.keys(r.neighbours)];
  const cellW = w * scale + 8;
  const cellH = h * scale + 8;
  const top = 40;
  const image = (frame: Uint8Array, x: number, y: number) => {
    const png = encodePng(upscaleNearest(frame, w, h, 1, scale), w * scale, h * scale, 1);
    return `<image x="${x}" y="${y}" width="${w * scale}" height="${h * scale}" ` +
      `href="data:image/png;base64,${Buffer.from(png).toString("base64")}"/>`;
  };
  const parts = names.map((name, c) =>
    `<text x="${c * cellW + cellW / 2}" y="${top - 8}" text-anchor="middle" ` +
    `font-family="sans-serif" font-size="12">${name}</text>`
  );
  r.queries.forEach((q, row) => {
    const y = top + row * cellH;
    parts.push(image(q, 4, y));
    Object.values(r.neighbours).forEach((frames, c) =>
      parts.push(image(frames[row], (c + 1) * cellW + 4, y))
    );
  });
  const width = names.length * cellW;
  const height = top + r.queries.length * cellH;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="4" y="14" font-family="sans-serif" font-size="13" font-weight="bold">` +
    `Nearest training frame (cosine, held-out queries)</text>${parts.join("")}</svg>`;
}

/** The probe table as markdown. */
export function probeTableMarkdown(rows: ProbeRow[]): string {
  const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3));
  return [
    "| encoder | features | variable | R^2 | F1 (binned) | 1-NN R^2 | train rows | test rows |",
    "|---|---|---|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.encoder} | ${r.features} | ${r.variable} | ${fmt(r.r2)} | ${fmt(r.f1)} | ${
        fmt(r.knnR2)
      } | ${r.trainRows} | ${r.testRows} |`
    ),
  ].join("\n");
}
