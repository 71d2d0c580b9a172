import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import { cem, type CemConfig } from "./cem.ts";

const CFG: CemConfig = {
  samples: 64,
  iterations: 12,
  elites: 8,
  initStd: 1,
  minStd: 0.01,
  bounds: [-3, 3],
};

Deno.test("CEM finds the minimum of a toy quadratic, in one batch per iteration", () => {
  const opt = [0.7, -1.2, 2.1, 0];
  let calls = 0;
  const quadratic = (x: Float32Array, n: number) => {
    calls++;
    return Float64Array.from(
      { length: n },
      (_, i) => opt.reduce((s, o, j) => s + (j + 1) * (x[i * 4 + j] - o) ** 2, 0),
    );
  };
  const r = cem(quadratic, 4, CFG, new Rng(1));
  assert.equal(calls, CFG.iterations);
  opt.forEach((o, j) => assert.ok(Math.abs(r.best[j] - o) < 0.05, `x${j} = ${r.best[j]}`));
  assert.ok(r.bestCost < 0.01, `cost ${r.bestCost}`);
  assert.ok(r.history.every((c, i) => i === 0 || c <= r.history[i - 1]), "best never worsens");
});

Deno.test("CEM respects its bounds and is deterministic for a seed", () => {
  // The optimum lies outside the box: the answer sits on the boundary.
  const cost = (x: Float32Array, n: number) =>
    Float64Array.from({ length: n }, (_, i) => (x[i * 2] - 5) ** 2 + (x[i * 2 + 1] + 5) ** 2);
  const a = cem(cost, 2, { ...CFG, bounds: [-1, 1] }, new Rng(3));
  const b = cem(cost, 2, { ...CFG, bounds: [-1, 1] }, new Rng(3));
  assert.deepEqual(a, b);
  assert.ok(a.best[0] > 0.99 && a.best[1] < -0.99, `${a.best}`);
  assert.throws(() => cem(cost, 2, { ...CFG, elites: 0 }, new Rng(1)), /elites/);
});
