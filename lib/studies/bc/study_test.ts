import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RunDir } from "../../run/run_dir.ts";
import { initBackend } from "../../tensor/backend.ts";
import { BC_PRESETS, type BcStudyConfig } from "./presets.ts";
import { runBcStudy } from "./study.ts";
import { writeBcReport } from "./report.ts";

await initBackend({ backend: "cpu" });

async function study(dir: string, cfg: BcStudyConfig) {
  const run = await RunDir.open({
    task: "bc",
    config: cfg,
    dir,
    resume: true,
    configChanges: "record",
  });
  const logs: string[] = [];
  const origLog = run.log.bind(run);
  run.log = (line: string) => {
    logs.push(line);
    origLog(line);
  };
  const result = await runBcStudy(run, cfg);
  const md = await writeBcReport(run, cfg, result, "smoke");
  await run.finish();
  return { result, md, logs };
}

Deno.test("the smoke study learns the synthetic actions, reports its baselines, and resumes", async () => {
  const dir = join(await Deno.makeTempDir(), "bc");
  const cfg = BC_PRESETS.smoke;
  const first = await study(dir, cfg);
  for (const row of first.result.rows) {
    assert.ok(row.metrics.accuracy > 0.8, `${row.variant}: ${row.metrics.accuracy}`);
  }
  assert.ok(first.result.baselines.majority.accuracy < 0.4);
  assert.equal(first.result.split.by, "trial");
  assert.match(first.md, /\| infonce-mlp \| cnn \| mlp \| mlp \| infonce \| 0 \| 0 \| \d+\.\d \|/);
  assert.match(first.md, /\| majority class \|/);
  assert.match(first.md, /Best JEPA variant: infonce-mlp/);
  for (const f of ["BC.md", "bc.json", "figures/bc_accuracy.svg", "dataset/manifest.json"]) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  // A second call keeps every evaluated variant; a changed one alone is redone.
  const again = await study(dir, cfg);
  assert.deepEqual(again.result.rows, first.result.rows);
  assert.equal(again.logs.filter((l) => l.endsWith("evaluated before, kept")).length, 2);
  const changed: BcStudyConfig = {
    ...cfg,
    variants: [cfg.variants[0], { ...cfg.variants[1], loss: "cosine" }],
  };
  const third = await study(dir, changed);
  assert.equal(third.logs.filter((l) => l.endsWith("evaluated before, kept")).length, 1);
  assert.equal(JSON.parse(readFileSync(join(dir, "bc.json"), "utf8")).rows[1].loss, "cosine");
});
