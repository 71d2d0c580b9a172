/**
 * Observable Plot rendered headless to an SVG string (via linkedom's DOM), for notebooks,
 * reports and tasks alike.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/**
 * Renders `Plot.plot(options)` to standalone SVG text. Plots with a title, subtitle or legend
 * come back from Plot as a `<figure>`: their SVG is taken out, and the title drawn as SVG text
 * so the file stands alone.
 */
export function plotToSvg(options: Plot.PlotOptions): string {
  const { document } = parseHTML("<!doctype html><html><body></body></html>");
  const { title, subtitle, caption, ...rest } = options;
  const node = Plot.plot({ ...rest, document } as Plot.PlotOptions) as unknown as Element;
  // In a <figure>, legend swatches are small <svg>s inside <div>s; the plot is the figure's own
  // <svg> child.
  const svg = node.tagName.toLowerCase() === "svg"
    ? node
    : [...node.children].find((c) => c.tagName.toLowerCase() === "svg");
  if (!svg) throw new Error("plotToSvg: Plot returned no <svg>");
  svg.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  const heading = [title, subtitle, caption].filter((t) => typeof t === "string") as string[];
  if (heading.length === 0) return svg.outerHTML;
  const width = Number(svg.getAttribute("width"));
  const height = Number(svg.getAttribute("height"));
  const lineHeight = 18;
  const top = heading.length * lineHeight + 6;
  const texts = heading.map((t, i) =>
    `<text x="8" y="${(i + 1) * lineHeight}" font-family="sans-serif" ` +
    `font-size="${i === 0 ? 14 : 11}" font-weight="${i === 0 ? "bold" : "normal"}">${
      escapeXml(t)
    }</text>`
  ).join("");
  svg.removeAttribute("xmlns");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + top}" ` +
    `viewBox="0 0 ${width} ${height + top}"><rect width="100%" height="100%" fill="white"/>` +
    `${texts}<g transform="translate(0,${top})">${svg.outerHTML}</g></svg>`;
}

/** Line colours of grouped figures, named in a caption (no legend survives plotToSvg). */
export const LINE_COLORS = [
  "#4269d0",
  "#efb118",
  "#ff725c",
  "#6cc5b0",
  "#3ca951",
  "#ff8ab7",
  "#a463f2",
];
export const LINE_COLOR_NAMES = ["blue", "yellow", "red", "teal", "green", "pink", "purple"];

/** The caption naming each group's colour. */
export function colorCaption(groups: readonly string[]): string {
  return groups.map((g, i) => `${g}: ${LINE_COLOR_NAMES[i % LINE_COLOR_NAMES.length]}`).join(", ");
}

/**
 * Curves with seed bands (points `{group, step, mean, lo, hi}`): a line of the mean per group,
 * and a band of the seeds' range.
 */
export function seedBandFigure(
  points: readonly { group: string; step: number; mean: number; lo: number; hi: number }[],
  opts: { title: string; groups: readonly string[]; xLabel: string; yLabel: string },
): string {
  return plotToSvg({
    title: opts.title,
    subtitle: "lines: mean over seeds, bands: range of seeds",
    caption: colorCaption(opts.groups),
    width: 760,
    height: 320,
    x: { label: opts.xLabel, grid: true },
    y: { label: opts.yLabel, grid: true },
    color: { domain: [...opts.groups], range: LINE_COLORS },
    marks: [
      Plot.areaY(points, {
        x: "step",
        y1: "lo",
        y2: "hi",
        fill: "group",
        fillOpacity: 0.15,
        z: "group",
      }),
      Plot.line(points, { x: "step", y: "mean", stroke: "group", z: "group" }),
      Plot.dot(points, { x: "step", y: "mean", fill: "group", r: 1.5 }),
    ],
  });
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export { Plot };
