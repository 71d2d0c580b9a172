/**
 * `deno task pipeline --seeds`: the seed sweep here (the local form of the pipeline's sweep),
 * with one seed made to fail; the Slurm form is in slurm_cluster_test.ts.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTask } from "../run/task_testing.ts";
import { argsForTrials, checkOwnedArgs } from "./flags.ts";
import { PIPELINE_SWEEP } from "./pipeline_study.ts";
import { TINY_PIPELINE_ARGS } from "./testing.ts";

Deno.test("pipeline --seeds: one run per seed and SEEDS.md; a failed seed is listed with its error, and the same command reruns only it", async () => {
  const out = await Deno.makeTempDir({ prefix: "pipeline-seeds-" });
  try {
    await Deno.mkdir(join(out, "s1"), { recursive: true });
    writeFileSync(join(out, "s1", "data"), "in the way"); // s1's data phase cannot make its dir
    const first = await runTask("pipeline.ts", [
      ...TINY_PIPELINE_ARGS,
      "--seeds",
      "0,1",
      "--out",
      out,
    ]);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /1 seed run\(s\) failed: s1 \(EEXIST/);
    let md = readFileSync(join(out, "SEEDS.md"), "utf8");
    assert.match(md, /\| 0 \| done \| s0\/ \|/);
    assert.match(md, /\| 1 \| failed: EEXIST.*\| s1\/ \|/);

    await Deno.remove(join(out, "s1", "data"));
    const second = await runTask("pipeline.ts", [
      ...TINY_PIPELINE_ARGS,
      "--seeds",
      "0,1",
      "--out",
      out,
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /skipped data[\s\S]*ran data/); // s0 is current, s1 runs
    md = readFileSync(join(out, "SEEDS.md"), "utf8");
    assert.match(md, /\| 1 \| done \| s1\/ \|/);
    const summary = JSON.parse(readFileSync(join(out, "seeds.json"), "utf8"));
    const frames = summary.seeds.map((r: { headlines: Record<string, number> }) =>
      r.headlines["data.frames"]
    );
    assert.ok(frames.every((f: number) => f > 0) && frames[0] !== frames[1], `frames ${frames}`);
    assert.equal(summary.stats["data.frames"].n, 2);
    // Each seed's run is the plain pipeline run of that seed.
    const plain = join(out, "plain");
    const one = await runTask("pipeline.ts", [
      ...TINY_PIPELINE_ARGS,
      "--seed",
      "1",
      "--out",
      plain,
    ]);
    assert.equal(one.code, 0, one.stderr);
    const record = (dir: string) =>
      JSON.parse(readFileSync(join(dir, "data", "phase.json"), "utf8"));
    assert.deepEqual(record(plain).outputs.frames, record(join(out, "s1")).outputs.frames);
    assert.equal(record(plain).key, record(join(out, "s1")).key);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("pipeline --seeds: bad combinations are usage errors naming the options", async () => {
  const cases: [string[], RegExp][] = [
    [["--seeds", "0,1", "--seed", "2"], /--seed and --seeds/],
    [["--seeds", "0,x"], /--seeds: expected integers >= 0, comma-separated, got '0,x'/],
    [["--seeds", "0,0"], /--seeds: a seed is given twice/],
    [["--seeds", "0,1", "--only-seed", "2"], /--only-seed 2: not one of --seeds 0,1/],
    [["--only-seed", "0"], /--only-seed needs --seeds/],
    [["--summary-only"], /--summary-only needs --seeds/],
    [["--partition", "cpu"], /--partition needs --executor slurm/],
    [["--executor", "pbs"], /--executor: expected local or slurm, got 'pbs'/],
  ];
  for (const [args, message] of cases) {
    const r = await runTask("pipeline.ts", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

Deno.test("pipeline sweep: its steps' arguments, and a spec's args may not set what the sweep sets", () => {
  const axes = { seeds: [0, 2] };
  const trial = { index: 1, name: "s2", point: { seeds: 2 }, args: [] };
  assert.deepEqual(PIPELINE_SWEEP.stepArgs("trial", axes, trial), [
    "--seeds",
    "0,2",
    "--only-seed",
    "2",
  ]);
  assert.deepEqual(PIPELINE_SWEEP.stepArgs("gather", axes), ["--seeds", "0,2", "--summary-only"]);
  assert.equal(PIPELINE_SWEEP.stepArgs("prepare", axes), null);
  assert.throws(
    () => checkOwnedArgs(PIPELINE_SWEEP.owned, ["--seed", "3"]),
    /args: '--seed' is set by the sweep/,
  );
  assert.throws(
    () => checkOwnedArgs(PIPELINE_SWEEP.owned, ["--set", "seed=3"]),
    /sets an axis: give it as axes\.seed/,
  );
  assert.throws(
    () => checkOwnedArgs(PIPELINE_SWEEP.owned, ["--time=01:00:00"]),
    /'--time=01:00:00' is set by the sweep/,
  );
  assert.deepEqual(
    argsForTrials(PIPELINE_SWEEP.owned, [
      "--preset",
      "small",
      "--seeds",
      "0,1",
      "--executor",
      "slurm",
      "--partition=cpu",
      "--set",
      "seed=4",
      "--set",
      "probe.rows=100",
      "--resume",
      "--only",
      "probe",
    ]),
    ["--set", "probe.rows=100", "--only", "probe"],
  );
});
