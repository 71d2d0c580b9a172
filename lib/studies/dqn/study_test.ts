import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { RunDir } from "../../run/run_dir.ts";
import { initBackend } from "../../tensor/backend.ts";
import {
  DQN_PRESETS,
  type DqnStudyConfig,
  memoryAfterFill,
  runDqnStudy,
  writeDqnReport,
} from "./mod.ts";

await initBackend({ backend: "cpu" });

/** The smoke preset cut to seconds on the pure-JS backend. */
function tiny(): DqnStudyConfig {
  const s = DQN_PRESETS.smoke;
  return {
    ...s,
    dqn: {
      ...s.dqn,
      env: { ...s.dqn.env, maxEpisodeSteps: 60 },
      totalSteps: 120,
      bufferSize: 200,
      batchSize: 8,
      learningStarts: 40,
      targetUpdateEvery: 40,
      trainEvery: 8,
      network: { kind: "cnn", hidden: 16, widths: [4, 8, 8] },
      exploration: { ...s.dqn.exploration, rnd: { ...s.dqn.exploration.rnd, width: 8 } },
      checkpointEvery: 60,
      logEvery: 30,
    },
    eval: { ...s.eval, games: 1, maxEpisodeSteps: 40 },
    report: { gifSteps: 5 },
  };
}

Deno.test("the DQN study trains every mode, runs random play beside it, reports, and a second call keeps the runs", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = tiny();
  const before = tf.memory().numTensors;
  const run = await RunDir.open({ task: "dqn", config: cfg, dir, resume: true });
  const r = await runDqnStudy(run, cfg);
  assert.deepEqual(r.runs.map((x) => x.mode), ["boltzmann", "rnd", "epsilon"]);
  assert.equal(r.random.length, 1);
  for (const x of [...r.runs, ...r.random]) {
    assert.equal(x.steps, 120);
    assert.ok(x.coverage.ballCells > 0 && x.coverage.paddleColumns > 0, JSON.stringify(x.coverage));
  }
  assert.equal(r.randomEval.length, 1);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind by the study");
  const md = await writeDqnReport(run, cfg, r, "tiny");
  assert.match(md, /\| boltzmann \| 1 \| .* \|/);
  assert.match(md, /\| random play \| 1 \| .* \|/);
  for (
    const f of ["dqn_returns.svg", "dqn_coverage.svg", "dqn_ball_heatmaps.svg", "dqn_best.gif"]
  ) {
    assert.ok(existsSync(join(dir, "figures", f)), f);
  }
  const logs: string[] = [];
  const again = await RunDir.open({
    task: "dqn",
    config: cfg,
    dir,
    resume: true,
    echo: (l) => logs.push(l),
  });
  const r2 = await runDqnStudy(again, cfg);
  assert.deepEqual(r2.runs, r.runs, "finished runs are read back, not retrained");
  assert.equal(logs.filter((l) => l.includes("trained before, kept")).length, 3);
  assert.ok(readFileSync(join(dir, "runs", "epsilon-s0", "key.txt"), "utf8").length > 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("memoryAfterFill reads the windows from the buffer's size on, the last of a step that a resume logged twice", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "metrics.jsonl");
  const rows = [
    { kind: "train", step: 1000, rssMiB: 100, numTensors: 40 },
    { kind: "episode", step: 1500, return: 2 },
    { kind: "train", step: 2000, rssMiB: 300, numTensors: 40 },
    { kind: "train", step: 3000, rssMiB: 310, numTensors: 40 },
    { kind: "train", step: 4000, rssMiB: 999, numTensors: 41 },
    { kind: "train", step: 4000, rssMiB: 320, numTensors: 40 },
  ];
  await Deno.writeTextFile(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const m = memoryAfterFill(file, 2000)!;
  assert.deepEqual(
    { ...m, rssSlopePer10k: Math.round(m.rssSlopePer10k) },
    {
      fromStep: 2000,
      toStep: 4000,
      windows: 3,
      rssFirstMiB: 300,
      rssLastMiB: 320,
      rssMaxMiB: 320,
      rssSlopePer10k: 100,
      tensorsMin: 40,
      tensorsMax: 40,
    },
  );
  assert.equal(memoryAfterFill(file, 4000), null, "one window is no trend");
  assert.equal(memoryAfterFill(join(dir, "none.jsonl"), 0), null);
  await Deno.remove(dir, { recursive: true });
});
