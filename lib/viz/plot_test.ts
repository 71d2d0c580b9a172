import assert from "node:assert/strict";
import { Plot, plotToSvg } from "./plot.ts";

Deno.test("plotToSvg renders a standalone SVG with marks", () => {
  const svg = plotToSvg({
    marks: [Plot.dot([{ x: 1, y: 2 }, { x: 2, y: 3 }], { x: "x", y: "y" })],
  });
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<circle/g)?.length, 2);
});

Deno.test("a titled plot becomes one SVG with the title as text", () => {
  const svg = plotToSvg({ title: "Returns <by> episode", marks: [Plot.barY([1, 2, 3])] });
  assert.match(svg, /^<svg/);
  assert.match(svg, /Returns &lt;by&gt; episode/);
  assert.equal(svg.match(/<figure/g), null);
});

Deno.test("a plot with a swatch legend keeps the plot, not a legend swatch", () => {
  const data = [{ x: 1, y: 2, k: "a" }, { x: 2, y: 3, k: "b" }];
  const svg = plotToSvg({
    title: "t",
    color: { legend: true },
    marks: [Plot.dot(data, { x: "x", y: "y", fill: "k" })],
  });
  assert.equal(svg.match(/<circle/g)?.length, 2);
});
