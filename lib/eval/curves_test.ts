import assert from "node:assert/strict";
import { seedBandCurves } from "./curves.ts";

Deno.test("seed-band curves: per-bin means per seed, then mean and range over seeds", () => {
  const points = seedBandCurves(
    [
      {
        group: "a",
        seeds: [
          [{ step: 1, value: 2 }, { step: 2, value: 4 }, { step: 15, value: 10 }],
          [{ step: 3, value: 6 }],
        ],
      },
    ],
    20,
    2,
  );
  assert.deepEqual(points, [
    { group: "a", step: 5, mean: (3 + 6) / 2, lo: 3, hi: 6 },
    { group: "a", step: 15, mean: 10, lo: 10, hi: 10 },
  ]);
});
