import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTask } from "../run/task_testing.ts";
import { readAttempts, readSweep } from "./record.ts";
import { sweepStatus } from "./status.ts";
import { SWAP_SWEEP } from "./swap_study.ts";
import { TINY_SWAP_ARGS } from "./testing.ts";

Deno.test(
  "local executor: two trials at a time from a spec file, gathered; a failed trial is " +
    "reported, resume reruns only it, a rerun of the done sweep does nothing",
  async () => {
    const base = await Deno.makeTempDir({ prefix: "sweep-local-" });
    try {
      const specFile = join(base, "grid.json");
      writeFileSync(
        specFile,
        JSON.stringify({
          study: "swap",
          preset: "smoke",
          args: TINY_SWAP_ARGS,
          axes: { conditions: ["cnn"], seeds: [0, 1] },
          jobs: 2,
        }),
      );
      const dir = join(base, "sweep");
      const out = join(dir, "swap");
      // cnn-s1 cannot write its run's config.json: a directory is in the way.
      mkdirSync(join(out, "runs", "cnn-s1", "config.json"), { recursive: true });
      const run = await runTask("sweep.ts", ["run", specFile, "--dir", dir]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /1 trial\(s\) not done: cnn-s1/);
      assert.match(run.stdout, /cnn-s0 +done/);
      assert.match(run.stdout, /cnn-s1 +failed +exit 1/);
      assert.match(run.stdout, /\| cnn-s1: FAILED: EISDIR/);
      assert.match(
        run.stdout,
        /round 1 \(local\): [\d.]+ s from submission to the gathered report/,
      );
      const report = readFileSync(join(out, "REPORT.md"), "utf8");
      assert.match(
        report,
        /- cnn-s1: EISDIR.*\[sweep: exit code 1; log \.\.\/logs\/cnn-s1\.1\.out ends: .*EISDIR/,
      );
      let record = readSweep(dir);
      const [a, b] = [0, 1].map((index) => readAttempts(dir, record, { kind: "trial", index })[0]);
      // Two at a time: each trial started before the other ended.
      assert.ok(a.started < b.ended! && b.started < a.ended!, JSON.stringify([a, b]));
      assert.match(readFileSync(join(dir, a.log), "utf8"), /cnn-s0: done/);

      await Deno.remove(join(out, "runs", "cnn-s1", "config.json"));
      const resume = await runTask("sweep.ts", ["resume", dir]);
      assert.equal(resume.code, 0, resume.stderr);
      assert.match(resume.stderr, /skipping 1 done: cnn-s0/);
      record = readSweep(dir);
      assert.equal(readAttempts(dir, record, { kind: "trial", index: 0 }).length, 1);
      assert.equal(readAttempts(dir, record, { kind: "trial", index: 1 }).length, 2);
      const status = await sweepStatus(dir, SWAP_SWEEP);
      assert.deepEqual(status.steps.map((s) => [s.name, s.state]), [
        ["prepare", "done"],
        ["cnn-s0", "done"],
        ["cnn-s1", "done"],
        ["gather", "done"],
      ]);
      assert.match(readFileSync(join(out, "ROBUSTNESS.md"), "utf8"), /\| cnn \| 2 \|/);

      // The same command again finds every trial done and gathered.
      const again = await runTask("sweep.ts", ["run", specFile, "--dir", dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /all 2 trials are done and gathered: nothing to do/);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
);
