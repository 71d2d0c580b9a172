import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.ts";
import { fitRidgeProbe, pca2, r2Score, runProbes, weightedF1 } from "./probe.ts";

function synthetic(n: number, seed: number, informative: boolean) {
  const rng = new Rng(seed);
  const d = 6;
  const x = new Float32Array(n * d);
  const state = { pos: new Float64Array(n), ballVisible: new Float64Array(n).fill(1) };
  for (let i = 0; i < n; i++) {
    const pos = rng.uniform(0, 160);
    state.pos[i] = pos;
    for (let j = 0; j < d; j++) {
      // Informative: radial features of the position, as an encoder spreads it over many units.
      const centre = (j * 160) / (d - 1);
      x[i * d + j] = informative
        ? Math.exp(-(((pos - centre) / 30) ** 2)) + 0.02 * rng.normal()
        : rng.normal();
    }
  }
  return { x, n, d, state };
}

Deno.test("a linear probe recovers a linearly encoded variable and not a random one", () => {
  const vars = [{ name: "pos", bins: [0, 160, 8] as [number, number, number] }];
  const good = runProbes(synthetic(800, 1, true), synthetic(300, 2, true), vars)[0];
  const bad = runProbes(synthetic(800, 1, false), synthetic(300, 2, false), vars)[0];
  assert.ok(good.r2 > 0.95, `r2 ${good.r2}`);
  assert.ok(good.knnR2 > bad.knnR2 + 0.3, `knn r2 ${good.knnR2} vs ${bad.knnR2}`);
  assert.ok(bad.r2 < 0.05, `random r2 ${bad.r2}`);
  assert.ok(good.f1! > 0.5 && bad.f1! < 0.3, `f1 ${good.f1} vs ${bad.f1}`);
});

Deno.test("metrics: R^2 and weighted F1 on known cases", () => {
  assert.equal(r2Score([1, 2, 3], [1, 2, 3]), 1);
  assert.equal(r2Score([1, 2, 3], [2, 2, 2]), 0);
  assert.equal(weightedF1(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 0, 1, 1]), 2), 1);
  assert.equal(weightedF1(Int32Array.from([0, 0, 1, 1]), Int32Array.from([1, 1, 0, 0]), 2), 0);
});

Deno.test("PCA puts the direction of largest variance first", () => {
  const n = 200;
  const x = new Float32Array(n * 3);
  const rng = new Rng(3);
  for (let i = 0; i < n; i++) {
    x[i * 3] = 0.1 * rng.normal();
    x[i * 3 + 1] = 5 * rng.normal();
    x[i * 3 + 2] = 0.1 * rng.normal();
  }
  const p = pca2(x, n, 3);
  let v0 = 0;
  let v1 = 0;
  for (let i = 0; i < n; i++) {
    v0 += p[i * 2] ** 2;
    v1 += p[i * 2 + 1] ** 2;
  }
  assert.ok(v0 > 100 * v1);
});

Deno.test("a column that barely varies in training does not wreck predictions on new episodes", () => {
  // Like a background patch the ball crossed once in the training episodes: tiny variance there,
  // ordinary values in the test episodes. Scaling that column to unit variance would make the
  // probe lean on it and extrapolate wildly.
  const withQuietColumn = (data: ReturnType<typeof synthetic>, spread: number, seed: number) => {
    const rng = new Rng(seed);
    const d = data.d + 1;
    const x = new Float32Array(data.n * d);
    for (let i = 0; i < data.n; i++) {
      x.set(data.x.subarray(i * data.d, (i + 1) * data.d), i * d);
      x[i * d + data.d] = spread * rng.normal();
    }
    return { ...data, x, d };
  };
  const vars = [{ name: "pos" }];
  const train = withQuietColumn(synthetic(800, 1, true), 1e-4, 5);
  const test = withQuietColumn(synthetic(300, 2, true), 1, 6);
  for (const lambda of [0.01, 1, 100]) {
    const { r2 } = runProbes(train, test, vars, { lambda })[0];
    assert.ok(r2 > 0.9, `lambda ${lambda}: r2 ${r2}`);
  }
});

Deno.test("runProbes' regression is fitRidgeProbe, episodes and all", () => {
  const withEpisodes = (data: ReturnType<typeof synthetic>) => ({
    ...data,
    groups: Int32Array.from({ length: data.n }, (_, i) => Math.floor(i / 100)),
  });
  const train = withEpisodes(synthetic(800, 1, true));
  const test = synthetic(300, 2, true);
  const probe = fitRidgeProbe({ ...train, y: train.state.pos });
  const r2 = r2Score(test.state.pos, probe.predict(test.x, test.n));
  assert.equal(runProbes(train, test, [{ name: "pos" }])[0].r2, r2);
  assert.ok(r2 > 0.95, `r2 ${r2}`);
});

Deno.test("a ridge probe leaves the bias unpenalised and fits several targets at once", () => {
  const train = synthetic(400, 1, true);
  const y = new Float64Array(train.n * 2);
  train.state.pos.forEach((v, i) => y.set([v, 7], i * 2));
  // An overwhelming penalty zeroes the weights: what is left is the bias, the targets' mean.
  const flat = fitRidgeProbe({ ...train, y, m: 2 }, { lambda: 1e12 });
  assert.equal(flat.lambda, 1e12);
  const mean = train.state.pos.reduce((a, b) => a + b, 0) / train.n;
  const pred = flat.predict(train.x.subarray(0, 3 * train.d), 3);
  assert.equal(pred.length, 6);
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(pred[i * 2] - mean) < 1e-3, `${pred[i * 2]} vs ${mean}`);
    assert.ok(Math.abs(pred[i * 2 + 1] - 7) < 1e-6);
  }
});
