import assert from "node:assert/strict";
import { binnedCurves, goalLines, lossCurvesSvg, summarize } from "./report.ts";
import type { BenchRow } from "./study.ts";

/** One row per (encoder, seed) of one variable with the given F1 and R^2. */
function rows(spec: Record<string, [number, number]>, features = "pooled"): BenchRow[] {
  return Object.entries(spec).flatMap(([encoder, [f1, r2]]) =>
    [0, 1].map((seed) => ({
      env: "native:breakout",
      seed,
      encoder,
      features: encoder === "oracle" ? "none" : features,
      variable: "ballX",
      atariari: "ball_x",
      category: "small object",
      f1,
      r2,
      trainRows: 10,
      testRows: 10,
    }))
  );
}

Deno.test("the goals are checked by F1 and by R^2, and the oracle's F1 is named beside them", () => {
  const lines = goalLines(
    summarize(rows({
      ijepa: [0.3, 0.6],
      "random-vit": [0.4, 0.45],
      stdim: [0.2, 0.8],
      oracle: [0.1, 1],
    })),
    [],
  );
  const text = lines.join("\n");
  assert.match(text, /overall F1 above ST-DIM: met: I-JEPA 0\.300 vs stdim 0\.200/);
  assert.match(text, /0\.2 above the random-init ViT: NOT met/);
  assert.match(
    text,
    /by median R\^2 instead: I-JEPA 0\.600 vs random-vit 0\.450 \(above, \+0\.150\); I-JEPA 0\.600 vs stdim 0\.800 \(not above, -0\.200\)/,
  );
  assert.match(text, /the oracle .* overall F1 0\.100 and median R\^2 1\.000/);
  assert.doesNotMatch(text, /supervised ceiling/);
});

Deno.test("the goal's margin is set against the supervised ceiling's margin over random init", () => {
  const text = (ceiling: number) =>
    goalLines(
      summarize(rows({ ijepa: [0.3, 0.6], "random-vit": [0.4, 0.45], supervised: [ceiling, 0.9] })),
      [],
    ).join("\n");
  assert.match(
    text(0.55),
    /pooled features, the supervised ceiling's overall F1 is \+0\.150 from the random-init ViT's: a margin of 0\.2 is beyond what training on the labels reaches here/,
  );
  assert.match(text(0.7), /is \+0\.300 from .* 0\.2 is within what/);
});

Deno.test("loss curves are drawn as the means of spans of steps, each curve on its own", () => {
  const curve = (seed: string, steps: number) =>
    Array.from({ length: steps }, (_, i) => ({
      encoder: "stdim",
      seed,
      step: i + 1,
      relative: i < steps / 2 ? 1 : 0.5,
    }));
  // Seed 0 ran 1,000 steps and recorded step 1 twice (a resumed run); seed 1 ran 10 steps.
  const points = [...curve("0", 1000), { ...curve("0", 1)[0], relative: 3 }, ...curve("1", 10)];
  const binned = binnedCurves(points, 10);
  const s0 = binned.filter((p) => p.seed === "0");
  assert.equal(s0.length, 10);
  assert.deepEqual(s0.slice(1).map((p) => p.relative), [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5]);
  assert.equal(s0[0].relative, (100 + 3) / 101, "both records of step 1 enter its span's mean");
  assert.equal(s0[9].step, 950.5);
  assert.equal(binned.filter((p) => p.seed === "1").length, 10, "a short curve keeps its steps");
  // The figure of two 10,000-step curves stays small.
  const records = [0, 1].flatMap((seed) =>
    Array.from({ length: 10_000 }, (_, i) => ({
      kind: "train",
      encoder: "supervised",
      seed,
      step: i + 1,
      loss: 1 / (i + 1),
    }))
  );
  assert.ok(lossCurvesSvg(records, "native:pong")!.length < 100_000);
});
