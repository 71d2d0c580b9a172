/**
 * Figures of the world-model study: rollout error against horizon, the real / decoded /
 * imagined film strip as a GIF, planners' success rates, and the frames of a planning episode.
 *
 * @module
 */

import type { RolloutErrorPoint } from "../../eval/rollout.ts";
import type { GoalSummary } from "../../plan/goal.ts";
import { encodeGif } from "../../viz/gif.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import { tileFrames, upscaleNearest } from "../../viz/png.ts";

/** The rollout-error-vs-horizon figure (SVG). */
export function rolloutErrorFigure(curve: RolloutErrorPoint[], title?: string): string {
  const rows = curve.flatMap((p) => [
    { horizon: p.horizon, error: p.model, predictor: "world model" },
    ...(p.blind === undefined
      ? []
      : [{ horizon: p.horizon, error: p.blind, predictor: "action-blind" }]),
    { horizon: p.horizon, error: p.copy, predictor: "copy last latent" },
  ]);
  return plotToSvg({
    title: title ?? "Rollout error on held-out episodes (L1 on layer-normed latents)",
    height: 280,
    x: { label: "horizon (steps)" },
    y: { label: "L1 error", grid: true, zero: true },
    color: { legend: true },
    marks: [
      Plot.line(rows, { x: "horizon", y: "error", stroke: "predictor" }),
      Plot.dot(rows, { x: "horizon", y: "error", fill: "predictor", r: 2.5 }),
    ],
  });
}

/**
 * An animated GIF of a film strip: per step, real | decoded real | imagined side by side,
 * scaled up `scale` times, with a gap between panels.
 */
export function filmStripGif(
  strip: { real: Uint8Array[]; decoded: Uint8Array[]; imagined: Uint8Array[] },
  size: [number, number],
  scale = 3,
): Uint8Array {
  const [h, w] = size;
  const frames = strip.real.map((real, i) => {
    const panels = [real, strip.decoded[i], strip.imagined[i]].map((f) =>
      upscaleNearest(f, w, h, 1, scale)
    );
    return tileFrames(panels, {
      width: w * scale,
      height: h * scale,
      channels: 1,
      columns: 3,
      pad: 4,
    }).data;
  });
  const width = 3 * w * scale + 4 * 4;
  const height = h * scale + 2 * 4;
  return encodeGif(frames, width, height, 1, { delayMs: 250 });
}

/** A planner's success-rate figure (SVG). */
export function successFigure(summary: GoalSummary[], title: string): string {
  return plotToSvg({
    title,
    height: 220,
    marginLeft: 130,
    x: { label: "success rate", domain: [0, 1], grid: true },
    y: { label: null },
    marks: [
      Plot.barX(summary, { x: "success", y: "planner", fill: "steelblue", sort: { y: "-x" } }),
      Plot.text(summary, {
        x: "success",
        y: "planner",
        text: (d: GoalSummary) => `${(100 * d.success).toFixed(0)}%`,
        dx: 16,
      }),
    ],
  });
}

/**
 * GIF frames of one planning episode: per step, the goal frame beside the current one (the
 * newest frame of each stack), scaled up `scale` times.
 */
export function planningFrames(
  goalObs: Uint8Array,
  frames: Uint8Array[],
  size: [number, number],
  stack: number,
  scale = 3,
): { frames: Uint8Array[]; width: number; height: number } {
  const [h, w] = size;
  const newest = (obs: Uint8Array) => {
    const out = new Uint8Array(h * w);
    for (let p = 0; p < h * w; p++) out[p] = obs[p * stack + stack - 1];
    return upscaleNearest(out, w, h, 1, scale);
  };
  const goal = newest(goalObs);
  const tiles = frames.map((f) =>
    tileFrames([goal, newest(f)], {
      width: w * scale,
      height: h * scale,
      channels: 1,
      columns: 2,
      pad: 4,
    })
  );
  return { frames: tiles.map((t) => t.data), width: tiles[0].width, height: tiles[0].height };
}
