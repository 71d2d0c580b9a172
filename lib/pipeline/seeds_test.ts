import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  clearSeedOutcome,
  seedRunDir,
  seedState,
  summarizeSeeds,
  writeSeedOutcome,
  writeSeedsSummary,
} from "./seeds.ts";

/** A finished phase record with `outputs`, as the runner writes it. */
function phase(runDir: string, name: string, outputs: Record<string, unknown>): void {
  mkdirSync(join(runDir, name), { recursive: true });
  writeFileSync(
    join(runDir, name, "phase.json"),
    JSON.stringify({ name, key: "k", status: "done", outputs }),
  );
}

Deno.test("seeds: the summary gives each seed's numbers with mean and sample std, and lists failed and unfinished seeds with why", async () => {
  const out = await Deno.makeTempDir();
  try {
    for (const [seed, ratio, r2] of [[0, 0.8, 0.2], [1, 0.6, 0.4]]) {
      const dir = seedRunDir(out, seed);
      phase(dir, "data", { dataset: "data/dataset", frames: 1000 + seed, episodes: 3 });
      phase(dir, "swap", { runs: 1, ratio: { cnn: ratio } });
      phase(dir, "probe", { rows: 2 });
      writeFileSync(
        join(dir, "probe", "probe.json"),
        JSON.stringify([
          { encoder: "ijepa", features: "pooled", variable: "ballX", r2, f1: 0.5 },
          { encoder: "ijepa", features: "pooled", variable: "ballY", r2: r2 + 0.2, f1: 0.7 },
        ]),
      );
      await writeSeedOutcome(dir, { state: "done" });
    }
    const failed = seedRunDir(out, 2);
    phase(failed, "data", { frames: 5, episodes: 1 });
    await writeSeedOutcome(failed, { state: "failed", error: 'phase "ijepa" failed: NaN loss' });
    mkdirSync(join(seedRunDir(out, 3), "data"), { recursive: true }); // killed: no outcome

    const summary = await writeSeedsSummary(out, [0, 1, 2, 3, 4], "smoke, native:breakout");
    assert.deepEqual(summary.seeds.map((r) => r.state), [
      "done",
      "done",
      "failed",
      "incomplete",
      "not started",
    ]);
    assert.equal(summary.seeds[2].error, 'phase "ijepa" failed: NaN loss');
    // Only finished seeds count; bookkeeping (paths) is not a number to average.
    assert.deepEqual(summary.stats["data.frames"], { mean: 1000.5, std: Math.SQRT1_2, n: 2 });
    assert.equal(summary.stats["swap.ratio.cnn"].mean, 0.7);
    assert.ok(Math.abs(summary.stats["swap.ratio.cnn"].std - Math.sqrt(0.02)) < 1e-12);
    assert.ok(Math.abs(summary.stats["probe.ijepa.pooled.r2"].mean - 0.4) < 1e-12);
    assert.ok(Math.abs(summary.stats["probe.ijepa.pooled.f1"].mean - 0.6) < 1e-12);
    assert.equal(summary.stats["data.dataset"], undefined);
    assert.equal(summary.stats["probe.rows"], undefined);

    const md = readFileSync(join(out, "SEEDS.md"), "utf8");
    assert.match(md, /\| 2 \| failed: phase "ijepa" failed: NaN loss \| s2\/ \|/);
    assert.match(md, /\| 3 \| incomplete \| s3\/ \|/);
    assert.match(md, /\| 4 \| not started \| s4\/ \|/);
    assert.match(md, /\| swap\.ratio\.cnn \| 0\.800 \| 0\.600 \| 0\.700 ± 0\.141 \|/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, "seeds.json"), "utf8")), summary);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("seeds: a run that starts again forgets how it ended before", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeSeedOutcome(dir, { state: "failed", error: "boom" });
    assert.equal(seedState(dir).state, "failed");
    clearSeedOutcome(dir);
    writeFileSync(join(dir, "pipeline.json"), "{}");
    assert.equal(seedState(dir).state, "incomplete");
    writeFileSync(join(dir, "outcome.json"), "{not json");
    assert.match(seedState(dir).error!, /outcome\.json: not readable JSON/);
    assert.equal(summarizeSeeds(dir, []).seeds.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
