import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { scriptedTestDataset } from "../../data/collect_testing.ts";
import type { Dataset } from "../../data/reader.ts";
import { randomEncoder, saveEncoder } from "../../models/encoder.ts";
import { RunDir } from "../../run/run_dir.ts";
import { initBackend } from "../../tensor/backend.ts";
import {
  type BenchRow,
  benchVariables,
  checkBenchConfig,
  majorityRows,
  oracleRows,
  pairedDifference,
  PROBE_BENCH_PRESETS,
  type ProbeBenchConfig,
  rowsFile,
  runProbeBench,
  summarize,
  writeBenchReport,
} from "./mod.ts";

await initBackend({ backend: "cpu" });

const cfg: ProbeBenchConfig = {
  ...PROBE_BENCH_PRESETS.smoke,
  encoders: ["majority", "random-cnn", "pixels", "stdim"],
  stdim: { ...PROBE_BENCH_PRESETS.smoke.stdim, steps: 6, checkpointEvery: 3 },
  probe: { ...PROBE_BENCH_PRESETS.smoke.probe, rows: 200, epochs: 10 },
};

function mixedPlay(game: string): Promise<Dataset> {
  return scriptedTestDataset({
    seed: 0,
    episodes: 4,
    policy: ["random", "scripted"],
    env: { id: `native:${game}` },
  });
}

async function bench(dir: string, resume = false, config = cfg) {
  const run = await RunDir.open({
    task: "probe-bench",
    config,
    dir,
    resume,
    configChanges: "record",
  });
  return runProbeBench(run, config, () => mixedPlay("breakout"));
}

const json = (rows: BenchRow[]) => JSON.parse(JSON.stringify(rows));

Deno.test("the probe benchmark is repeatable, resumes to the same rows, and beats chance", async () => {
  const root = await Deno.makeTempDir();
  const a = await bench(join(root, "a"));
  const b = await bench(join(root, "b"));
  assert.deepEqual(json(a.rows), json(b.rows));
  // Every encoder has one row per variable (majority: no features; the others: pooled).
  const vars = benchVariables(cfg.env).length;
  assert.equal(a.rows.length, 4 * vars);
  assert.equal(a.encoders.length, 3);
  // A killed run: ST-DIM's finished encoder and rows gone, its checkpoint left; resuming ends
  // with the rows an uninterrupted run wrote.
  rmSync(rowsFile(join(root, "a"), 0, "stdim"));
  rmSync(join(root, "a", "seed-0", "encoders", "stdim", "encoder.safetensors"));
  const resumed = await bench(join(root, "a"), true);
  assert.deepEqual(json(resumed.rows), json(a.rows));
  const f1 = (encoder: string, variable: string) =>
    a.rows.find((r) => r.encoder === encoder && r.variable === variable)!.f1;
  // A changed ST-DIM schedule remakes ST-DIM (files and rows) and nothing else.
  const longer = { ...cfg, stdim: { ...cfg.stdim, steps: 9 } };
  const changed = await bench(join(root, "a"), true, longer);
  const log = readFileSync(join(root, "a", "run.log"), "utf8");
  assert.match(log, /config changed since the last session: stdim\.steps/);
  assert.match(log, /stdim's rows were made with another config/);
  assert.doesNotMatch(log, /(random-cnn|pixels|majority)'s rows were made/);
  assert.deepEqual(
    json(changed.rows.filter((r) => r.encoder !== "stdim")),
    json(a.rows.filter((r) => r.encoder !== "stdim")),
  );
  assert.equal(changed.encoders.find((e) => e.encoder === "stdim")!.steps, 9);
  // Raw pixels read the bricks left (one class per count) better than the most common count.
  const pixels = a.rows.find((r) => r.encoder === "pixels" && r.variable === "bricksRemaining")!;
  assert.ok(pixels.f1 > f1("majority", "bricksRemaining") + 0.05, `pixels F1 ${pixels.f1}`);
  assert.ok(pixels.r2 > 0.5, `pixels R^2 ${pixels.r2}`);
  // The report names every encoder and writes its files.
  const run = await RunDir.open({
    task: "probe-bench",
    config: cfg,
    dir: join(root, "a"),
    resume: true,
    configChanges: "record",
  });
  const md = await writeBenchReport(run, cfg, a, { frames: [1] });
  for (const e of ["majority", "random-cnn", "pixels", "stdim"]) {
    assert.match(md, new RegExp(`\\| ${e} \\|`));
  }
  assert.ok(existsSync(join(root, "a", "figures", "probe_bench_f1.svg")));
  const stored = JSON.parse(readFileSync(join(root, "a", "probe-bench.json"), "utf8"));
  assert.equal(stored.rows.length, a.rows.length);
});

Deno.test("a dataset without the game's labels is an error naming it and the missing state", async () => {
  const pong = await mixedPlay("pong");
  const run = await RunDir.open({
    task: "probe-bench",
    config: cfg,
    dir: join(await Deno.makeTempDir(), "r"),
  });
  await assert.rejects(
    runProbeBench(run, cfg, () => Promise.resolve(pong)),
    (err: Error) =>
      err.message.includes(pong.path) && /no ground-truth state 'paddleX'/.test(err.message),
  );
  assert.throws(
    () => benchVariables("ale:tetris"),
    /no benchmark variables for 'ale:tetris' \(games: breakout, pong\)/,
  );
});

Deno.test("summaries average variables per seed, then give mean and std over seeds", () => {
  const row = (seed: number, variable: string, category: string, f1: number): BenchRow => ({
    env: "native:breakout",
    seed,
    encoder: "e",
    features: "pooled",
    variable,
    atariari: variable,
    category,
    f1,
    r2: 0,
    trainRows: 1,
    testRows: 1,
  });
  const rows = [
    row(0, "a", "agent", 0.2),
    row(0, "b", "score", 0.4),
    row(1, "a", "agent", 0.4),
    row(1, "b", "score", 0.6),
  ];
  const [s] = summarize(rows);
  assert.ok(Math.abs(s.overall.mean - 0.4) < 1e-12);
  assert.ok(Math.abs(s.overall.std - Math.SQRT1_2 * 0.2) < 1e-12);
  assert.ok(Math.abs(s.categories.agent.mean - 0.3) < 1e-12);
  assert.equal(s.f1.b.n, 2);
});

Deno.test("a config with an unknown encoder or a repeated ablation name is refused by name", () => {
  assert.throws(
    () => checkBenchConfig({ ...cfg, encoders: ["ijepa", "simclr" as "ijepa"] }),
    /unknown encoder 'simclr'/,
  );
  const a = { name: "ema", ema: [0.999, 1] as [number, number] };
  assert.throws(() => checkBenchConfig({ ...cfg, ablations: [a, a] }), /'ema' is used twice/);
  checkBenchConfig(PROBE_BENCH_PRESETS.small);
});

Deno.test("ablation differences are paired by seed", () => {
  const a = new Map([[0, 0.5], [1, 0.7], [2, 0.4]]);
  const b = new Map([[0, 0.4], [1, 0.5]]);
  const d = pairedDifference(a, b);
  assert.equal(d.n, 2);
  assert.ok(Math.abs(d.mean - 0.15) < 1e-12);
});

Deno.test("an encoder artifact is probed beside the others; one of another shape is refused", async () => {
  const root = await Deno.makeTempDir();
  const ds = await mixedPlay("breakout");
  const [h, w, c] = ds.frameShape;
  const make = async (dir: string, size: number) =>
    await saveEncoder(
      dir,
      randomEncoder({ arch: "cnn", imageSize: [size, size], channels: c * 4, features: 32 }, 1),
      { step: 7 },
    );
  const good = await make(join(root, "good"), h);
  const bad = await make(join(root, "bad"), 64);
  const withArtifact = (path: string) => ({
    ...cfg,
    encoders: ["majority" as const],
    artifacts: [{ name: "agent-cnn", path }],
  });
  const { rows } = await bench(join(root, "run"), false, withArtifact(good));
  assert.deepEqual([...new Set(rows.map((r) => r.encoder))], ["majority", "agent-cnn"]);
  await assert.rejects(
    bench(join(root, "run2"), false, withArtifact(bad)),
    (err: Error) =>
      err.message.startsWith(bad) &&
      err.message.includes(
        `takes 64x64 frames with ${c * 4} channels; the benchmark gives ${w}x${h}`,
      ),
  );
});

Deno.test("the oracle row reads the true variables on the majority row's rows: ridge recovers every one", async () => {
  const ds = await mixedPlay("breakout");
  const variables = benchVariables(cfg.env);
  const opts = { env: cfg.env, seed: 0, stack: cfg.stack, valFraction: 0.5, rows: 400 };
  const rows = oracleRows(ds, variables, { ...opts, epochs: 60, patience: 60 });
  const majority = majorityRows(ds, variables, opts);
  const by = (rs: BenchRow[], v: string) => rs.find((r) => r.variable === v)!;
  assert.deepEqual(
    rows.map((r) => [r.encoder, r.features]),
    variables.map(() => ["oracle", "none"]),
  );
  for (const v of variables.map((v) => v.key)) {
    assert.ok(by(rows, v).r2 > 0.99, `${v}: R^2 ${by(rows, v).r2}`);
    assert.equal(by(rows, v).testRows, by(majority, v).testRows, "the same held-out rows");
  }
});
