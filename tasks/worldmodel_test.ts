import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { collectDataset } from "../lib/data/collect.ts";
import { CLEANRL_ATARI } from "../lib/envs/make.ts";
import { runTask } from "../lib/run/task_testing.ts";

const task = (script: string, args: string[]) => runTask(script, args, { JEPA_BACKEND: "wasm" });

Deno.test("worldmodel and plan answer --help, and worldmodel needs a --stage", async () => {
  for (const script of ["worldmodel.ts", "plan.ts"]) {
    const r = await task(script, ["--help"]);
    assert.equal(r.code, 0, script);
    assert.match(r.stdout, /Usage: deno task \w+/);
  }
  const r = await task("worldmodel.ts", ["--stage", "3"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--stage 1 or --stage 2 is required/);
  const missing = await task("plan.ts", ["--out", await Deno.makeTempDir()]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /run deno task worldmodel --stage 2 --out/);
});

Deno.test("stage 1, stage 2 and plan run end to end at a tiny size and write their reports", async () => {
  const root = await Deno.makeTempDir();
  const dataset = join(root, "ds");
  await collectDataset(dataset, {
    seed: 0,
    policy: "scripted",
    episodes: 3,
    shardFrames: 4096,
    env: { ...CLEANRL_ATARI, resize: [32, 32] },
    explore: { prob: 0.2, hold: [2, 6] },
  });
  const out = join(root, "run");
  const common = ["--preset", "smoke", "--dataset", dataset, "--out", out];
  const tiny = (keys: Record<string, number>) =>
    Object.entries(keys).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
  const s1 = await task("worldmodel.ts", [
    "--stage",
    "1",
    ...common,
    ...tiny({
      "stage1.train.steps": 4,
      "stage1.train.checkpointEvery": 2,
      "stage1.train.monitorEvery": 2,
      "stage1.train.earlyStop.every": 2,
      "stage1.train.batchSize": 8,
      "eval.probeRows": 64,
    }),
  ]);
  assert.equal(s1.code, 0, s1.stderr);
  const stage2Sets = tiny({
    "stage2.train.steps": 4,
    "stage2.train.earlyStop.every": 2,
    "stage2.train.batchSize": 4,
    "stage2.train.valBatches": 1,
    "decoder.train.steps": 2,
    "decoder.train.batchSize": 8,
    "eval.windows": 4,
    "eval.sensitivityStarts": 8,
    "eval.probeRows": 64,
    "eval.horizon": 8,
  });
  const s2 = await task("worldmodel.ts", ["--stage", "2", ...common, ...stage2Sets]);
  assert.equal(s2.code, 0, s2.stderr);
  const results = JSON.parse(readFileSync(join(out, "stage2", "results.json"), "utf8"));
  assert.equal(results.curve.length, 8);
  assert.ok(
    results.curve.every((p: { model: number; blind: number; copy: number }) =>
      [p.model, p.blind, p.copy].every(Number.isFinite)
    ),
  );
  for (
    const f of [
      "stage1/REPORT.md",
      "stage1/figures/loss.svg",
      "stage1/checkpoints/best/latest.json",
      "stage2/REPORT.md",
      "stage2/figures/rollout_error.svg",
      "stage2/figures/real_vs_imagined.gif",
      "stage2/metrics.parquet",
    ]
  ) {
    assert.ok(existsSync(join(out, f)), f);
  }
  // A second run into the same directory must be asked to resume; resumed, it has nothing left.
  const again = await task("worldmodel.ts", ["--stage", "2", ...common, ...stage2Sets]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /pass --resume/);
  const resumed = await task("worldmodel.ts", [
    "--stage",
    "2",
    ...common,
    ...stage2Sets,
    "--resume",
  ]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(
    JSON.parse(readFileSync(join(out, "stage2", "results.json"), "utf8")).curve,
    results.curve,
  );

  const plan = await task("plan.ts", [
    "--preset",
    "smoke",
    "--out",
    out,
    ...tiny({
      "goal.tasks": 2,
      "planner.samples": 8,
      "planner.iterations": 2,
      "planner.elites": 2,
    }),
  ]);
  assert.equal(plan.code, 0, plan.stderr);
  const summary = JSON.parse(readFileSync(join(out, "plan", "plan.json"), "utf8")).summary;
  assert.deepEqual(summary.map((s: { planner: string }) => s.planner), [
    "world model (CEM)",
    "action-blind (CEM)",
    "random",
    "no-op",
  ]);
  assert.ok(existsSync(join(out, "plan", "figures", "planning.gif")));
});
