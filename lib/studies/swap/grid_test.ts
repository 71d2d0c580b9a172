import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { CLEANRL_ATARI } from "../../envs/make.ts";
import { embedFrames, loadEncoder } from "../../models/encoder.ts";
import { flattenParams } from "../../nn/params.ts";
import { runTask } from "../../run/task_testing.ts";
import { initBackend } from "../../tensor/backend.ts";
import {
  checkSwapConfig,
  gridStatus,
  runSwap,
  SWAP_PRESETS,
  type SwapConfig,
  trainingSeconds,
} from "./grid.ts";
import { learningCurves, writeSwapReport } from "./report.ts";

await initBackend({ backend: "cpu" });

/** One CNN run at the Nature CNN's smallest input: seconds on the cpu backend. */
function tinyGrid(): SwapConfig {
  const smoke = SWAP_PRESETS.smoke;
  return {
    ...smoke,
    env: { ...CLEANRL_ATARI, resize: [36, 36], maxEpisodeSteps: 20 },
    conditions: ["cnn"],
    seeds: [3],
    ppo: { ...smoke.ppo, numSteps: 16, totalSteps: 2 * 2 * 16 },
    agent: { hidden: 16, encoderLrScale: 0.1, readout: "tokens", centerFeatures: true },
    eval: { episodes: 2, seeds: [5], levels: ["clean", "hard"], maxEpisodeSteps: 15 },
    report: { saliencyFrames: 2, gifSteps: 5, gifCondition: "cnn" },
  };
}

Deno.test("the grid skips finished runs and evaluations, and re-evaluates on request", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = tinyGrid();
  const events: string[] = [];
  const hooks = {
    onRun: (e: { run: string; status: string }) => events.push(`${e.run} ${e.status}`),
  };
  const first = await runSwap(cfg, dir, hooks);
  assert.deepEqual(events, ["cnn-s3 start", "cnn-s3 done"]);
  const run = join(dir, "runs", "cnn-s3");
  for (const f of ["done.json", "eval.json", "metrics.jsonl", "config.json", "checkpoints"]) {
    assert.ok(existsSync(join(run, f)), f);
  }
  // The trained CNN is an encoder artifact of its own, loaded without the agent.
  const { encoder, record } = loadEncoder(join(run, "checkpoints"));
  assert.equal(record.kind, "cnn");
  assert.deepEqual(record.source, {
    method: "ppo",
    condition: "cnn",
    seed: 3,
    env: cfg.env.id,
    envSteps: 64,
  });
  assert.equal(embedFrames(encoder, new Uint8Array(36 * 36 * 4), 1).length, 16);
  tf.dispose(flattenParams(encoder.params).map(([, v]) => v));
  // Its training time: its updates' rollouts and optimisation, as the grid's table shows it.
  const done = JSON.parse(readFileSync(join(run, "done.json"), "utf8"));
  assert.equal(done.seconds, trainingSeconds(run));
  assert.equal(gridStatus(cfg, dir)[0].summary!.seconds, done.seconds);
  // How far the perturbation moves the CNN's features, measured with the evaluation.
  const shift = first[0].featureShift!;
  assert.deepEqual(Object.keys(shift), ["hard"]);
  assert.ok(Number.isFinite(shift.hard) && shift.hard! > 0, `hard shift ${shift.hard}`);
  // An evaluation made before the shift was measured gets it, the games left as they were.
  const { featureShift: _, ...older } = first[0];
  await Deno.writeTextFile(join(run, "eval.json"), JSON.stringify(older) + "\n");
  const backfilled = await runSwap(cfg, dir);
  assert.deepEqual(backfilled, first);
  const evalText = readFileSync(join(run, "eval.json"), "utf8");
  const metricsText = readFileSync(join(run, "metrics.jsonl"), "utf8");

  events.length = 0;
  const second = await runSwap(cfg, dir, hooks);
  assert.deepEqual(events, ["cnn-s3 skip"]);
  assert.equal(readFileSync(join(run, "eval.json"), "utf8"), evalText, "evaluation reused");
  assert.equal(readFileSync(join(run, "metrics.jsonl"), "utf8"), metricsText, "no training");
  assert.deepEqual(second, first);
  // Evaluated again from its checkpoint alone (what swap-eval does), the agent scores the same.
  assert.deepEqual(await runSwap(cfg, dir, {}, { evalOnly: true, reevaluate: true }), first);

  // A changed eval config (swap-eval) re-evaluates from the checkpoint without training.
  const more = { ...cfg, eval: { ...cfg.eval, episodes: 3 } };
  const third = await runSwap(more, dir, {}, { evalOnly: true });
  assert.equal(third[0].episodes.length, 2 * 3);
  assert.equal(readFileSync(join(run, "metrics.jsonl"), "utf8"), metricsText);

  const report = await writeSwapReport(more, dir, third);
  for (const f of ["REPORT.md", "ROBUSTNESS.md", "robustness.parquet", "figures/saliency.png"]) {
    assert.ok(report.files.includes(f) && existsSync(join(dir, f)), f);
  }
  assert.ok(report.files.some((f) => f.endsWith(".gif")));
  assert.match(report.table, /\| cnn \| 1 \|/);
  assert.match(
    readFileSync(join(dir, "REPORT.md"), "utf8"),
    /## How far each perturbation moves the features[\s\S]*\| cnn \| 1 \| \d+\.\d\d ± 0\.00 \|/,
  );
  // Random play on the same clean games.
  const random = JSON.parse(readFileSync(join(dir, "random_play.json"), "utf8"));
  assert.deepEqual(Object.keys(random.means), ["clean"]);
  assert.ok(Object.values(random.means).every((m) => typeof m === "number" && m >= 0));
  assert.match(
    readFileSync(join(dir, "REPORT.md"), "utf8"),
    /Random play \(uniform actions on the same evaluation games\): clean \d+\.\d\d \(the same/,
  );
  assert.ok(learningCurves(more, dir).length > 0, "training games make a learning curve");

  // The same grid continued on another machine from the run's summaries alone (what a results
  // directory commits): no training, the evaluation reported from eval.json, no saliency rows.
  const elsewhere = await Deno.makeTempDir();
  const copy = join(elsewhere, "runs", "cnn-s3");
  await Deno.mkdir(copy, { recursive: true });
  for (const f of ["done.json", "eval.json", "metrics.jsonl", "config.json"]) {
    await Deno.copyFile(join(run, f), join(copy, f));
  }
  const lines: string[] = [];
  events.length = 0;
  const fromSummaries = await runSwap(more, elsewhere, { ...hooks, log: (l) => lines.push(l) });
  assert.deepEqual(events, ["cnn-s3 skip"]);
  assert.deepEqual(fromSummaries, third);
  assert.ok(lines.some((l) => /cnn-s3: no checkpoint here; its finished evaluation/.test(l)));
  const fromSummariesReport = await writeSwapReport(more, elsewhere, fromSummaries);
  assert.match(fromSummariesReport.table, /\| cnn \| 1 \|/);
  assert.ok(!fromSummariesReport.files.includes("figures/saliency.png"), "no checkpoint to map");
  // An evaluation of another eval config cannot be redone without the checkpoint: not reported.
  assert.deepEqual(await runSwap(cfg, elsewhere, { log: (l) => lines.push(l) }), []);
  assert.match(lines.at(-1)!, /cnn-s3: no checkpoint, not evaluated/);
  await Deno.remove(elsewhere, { recursive: true });
});

Deno.test("a grid config with a mistake is refused before anything runs", () => {
  const cfg = tinyGrid();
  assert.throws(
    () => checkSwapConfig({ ...cfg, conditions: ["cnn", "vit"] }),
    /unknown condition 'vit'/,
  );
  assert.throws(() => checkSwapConfig({ ...cfg, seeds: [1, 1] }), /repeated seed/);
  assert.throws(
    () => checkSwapConfig({ ...cfg, eval: { ...cfg.eval, levels: ["blur"] } }),
    /unknown perturbation 'blur'/,
  );
  assert.throws(
    () => checkSwapConfig({ ...cfg, ppo: { ...cfg.ppo, numMinibatches: 3 } }),
    /numMinibatches \(3\) must divide/,
  );
  for (const preset of ["smoke", "small", "full"] as const) checkSwapConfig(SWAP_PRESETS[preset]);
});

Deno.test("swap and swap-eval answer --help and refuse mistakes without a stack trace", async () => {
  for (const script of ["swap.ts", "swap_eval.ts"]) {
    const r = await runTask(script, ["--help"]);
    assert.equal(r.code, 0, script);
    assert.match(r.stdout, /Usage: deno task swap(-eval)? /);
  }
  const bad = await runTask("swap.ts", ["--set", "ppo.numEnv=4"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown config key 'ppo.numEnv'\. Did you mean 'ppo.numEnvs'\?/);
  const cond = await runTask("swap.ts", ["--conditions", "cnn,vit"]);
  assert.equal(cond.code, 2);
  assert.match(cond.stderr, /unknown condition 'vit'/);
  assert.doesNotMatch(cond.stderr, /at .*\.ts:\d+/);
  const noRun = await runTask("swap_eval.ts", ["--run", await Deno.makeTempDir()]);
  assert.equal(noRun.code, 2);
  assert.match(noRun.stderr, /no config\.json: not a swap directory/);
});

Deno.test("a run that fails is recorded, reported with its error, and retried on the next call", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = { ...tinyGrid(), seeds: [3, 4] };
  // A damaged checkpoint: the run cannot resume from it.
  const broken = join(dir, "runs", "cnn-s3", "checkpoints");
  await Deno.mkdir(broken, { recursive: true });
  await Deno.writeTextFile(join(broken, "latest.json"), "{ not json");
  const events: string[] = [];
  const evals = await runSwap(cfg, dir, {
    onRun: (e) => events.push(`${e.run} ${e.status}`),
  });
  assert.deepEqual(events, ["cnn-s3 failed", "cnn-s4 start", "cnn-s4 done"]);
  assert.deepEqual(evals.map((e) => e.run), ["cnn-s4"], "the grid went on without it");
  const failure = JSON.parse(readFileSync(join(dir, "runs", "cnn-s3", "failed.json"), "utf8"));
  assert.match(failure.error, /latest\.json/);
  assert.deepEqual(gridStatus(cfg, dir).map((r) => r.state), ["failed", "done"]);

  const report = await writeSwapReport(cfg, dir, evals);
  const md = readFileSync(join(dir, "REPORT.md"), "utf8");
  assert.match(md, /\| cnn-s3 \| \*\*failed\*\* /);
  assert.match(md, /- cnn-s3: .*latest\.json/);
  assert.match(md, /\| cnn-s4 \| done \| 64 \|/);
  assert.match(report.table, /\| cnn \| 1 \|/, "one seed in the table, the failed one named below");
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
  assert.deepEqual(summary.conditions.cnn.seeds, [4]);
  assert.equal(summary.conditions.cnn.clean.ci95.length, 2);
  assert.equal(summary.claim, null, "the claim needs jepa_frozen and cnn");

  // Repaired, the same call retries it: the failure record goes, the run finishes.
  await Deno.remove(broken, { recursive: true });
  events.length = 0;
  await runSwap(cfg, dir, { onRun: (e) => events.push(`${e.run} ${e.status}`) });
  assert.deepEqual(events, ["cnn-s3 start", "cnn-s3 done", "cnn-s4 skip"]);
  assert.ok(!existsSync(join(dir, "runs", "cnn-s3", "failed.json")));
});

Deno.test("a run's training time sums the updates it kept, over every session", async () => {
  const dir = await Deno.makeTempDir();
  const rows = [
    { kind: "episode", globalStep: 10, return: 1 },
    { kind: "update", update: 1, rolloutSec: 1.5, updateSec: 2 },
    // A later session resumed from update 1: only its own record of update 2 is kept.
    { kind: "update", update: 2, rolloutSec: 0.25, updateSec: 1 },
  ];
  assert.equal(trainingSeconds(dir), null, "no metrics yet");
  await Deno.writeTextFile(
    join(dir, "metrics.jsonl"),
    rows.map((r) => JSON.stringify(r)).join("\n"),
  );
  assert.equal(trainingSeconds(dir), 4.75);
});
