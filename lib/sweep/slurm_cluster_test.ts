/**
 * The sweep on a real Slurm: the local one-node cluster CI starts (`.ci/slurm/start.sh`).
 * Where no Slurm controller answers, these tests are skipped with a note.
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTask } from "../run/task_testing.ts";
import { readAttempts, readSweep, type SweepRecord } from "./record.ts";
import { queuedJobs, slurmCommand, slurmUnavailable } from "./slurm.ts";
import { type SweepStatus, sweepStatus } from "./status.ts";
import { PIPELINE_SWEEP } from "./pipeline_study.ts";
import { SWAP_SWEEP } from "./swap_study.ts";
import { waitSweep } from "./sweep.ts";
import { assertSameSwapNumbers, TINY_PIPELINE_ARGS, TINY_SWAP_ARGS } from "./testing.ts";

/**
 * Why these tests cannot run here, or null. They submit jobs whose files live in this machine's
 * temp directory: they run on the one-node cluster of `.ci/slurm/` (ClusterName `jepa`), and on
 * another cluster only when asked (`JEPA_SLURM_TESTS=1`, with a TMPDIR the nodes share).
 */
async function clusterUnavailable(): Promise<string | null> {
  const reason = await slurmUnavailable();
  if (reason) return reason;
  if (Deno.env.get("JEPA_SLURM_TESTS") === "1") return null;
  const config = await slurmCommand("scontrol", ["show", "config"]);
  const name = config.stdout.match(/^ClusterName\s*=\s*(\S+)/m)?.[1];
  return name === "jepa" ? null : `the Slurm here is cluster '${name}', not the local test ` +
    `cluster 'jepa' (JEPA_SLURM_TESTS=1 runs them anyway)`;
}

const unavailable = await clusterUnavailable();
if (unavailable) {
  console.warn(
    `slurm_cluster_test.ts: Slurm tests skipped: ${unavailable} (start a one-node cluster ` +
      `with .ci/slurm/start.sh, as CI does)`,
  );
}

/** Cancels whatever the sweep in `dir` still has queued (a failing test leaves nothing behind). */
async function cancelLeftovers(dir: string): Promise<void> {
  if (!existsSync(join(dir, "sweep.json"))) return;
  const ids = readSweep(dir).submissions.flatMap((s) => (s.jobId ? [s.jobId] : []));
  if ((await queuedJobs(ids)).length) await slurmCommand("scancel", ids);
}

function byName(status: SweepStatus) {
  return Object.fromEntries(status.steps.map((s) => [s.name, s]));
}

function printOverhead(status: SweepStatus): void {
  for (const t of status.timings) {
    console.log(
      `slurm sweep round ${t.round}: ${t.wallSeconds.toFixed(1)} s from sbatch to the gathered ` +
        `report, the tasks ran ${t.taskSeconds.toFixed(1)} s of it: scheduler overhead ` +
        `${t.overheadSeconds.toFixed(1)} s`,
    );
  }
}

function round(record: SweepRecord, n: number) {
  return record.submissions.filter((s) => s.round === n);
}

Deno.test({
  name: "slurm: swap --executor slurm runs the grid as a job array; a failed trial is reported " +
    "with its log, resume reruns only it, and the report equals deno task swap's",
  ignore: unavailable !== null,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "sweep-slurm-" });
    const out = join(base, "swap");
    const dir = join(out, "sweep");
    const grid = ["--preset", "smoke", ...TINY_SWAP_ARGS, "--conditions", "cnn", "--seeds", "0,1"];
    try {
      // cnn-s1 cannot write its run's config.json: a directory is in the way.
      mkdirSync(join(out, "runs", "cnn-s1", "config.json"), { recursive: true });
      const submit = await runTask("swap.ts", [
        ...grid,
        "--out",
        out,
        "--executor",
        "slurm",
        "--cpus-per-task",
        "1",
      ]);
      assert.equal(submit.code, 0, submit.stderr);
      assert.match(submit.stderr, /submitted trials: job \d+ \(array 0,1\)/);

      const first = await waitSweep({ dir, study: SWAP_SWEEP, timeoutSeconds: 600 });
      const steps = byName(first);
      const array = round(readSweep(dir), 1).find((s) => s.step === "trials")!.jobId;
      assert.equal(steps.prepare.state, "done");
      assert.equal(steps["cnn-s0"].state, "done");
      assert.equal(steps["cnn-s1"].state, "failed");
      assert.equal(steps["cnn-s1"].exitCode, 1);
      assert.equal(steps["cnn-s1"].job, `${array}_1`);
      assert.equal(steps["cnn-s1"].log, `logs/${array}_1.out`);
      assert.match(steps["cnn-s1"].logTail!.join("\n"), /cnn-s1: FAILED: EISDIR/);
      const shown = await runTask("sweep.ts", ["status", dir]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`cnn-s1 +failed +job ${array}_1 .*exit 1`));
      assert.match(shown.stdout, /\| cnn-s1: FAILED: EISDIR/);
      const report = readFileSync(join(out, "REPORT.md"), "utf8");
      assert.match(report, /\| cnn-s1 \| \*\*failed\*\*/);
      assert.match(
        report,
        new RegExp(
          `- cnn-s1: EISDIR.*\\[sweep: Slurm job ${array}_1: exit code 1; log sweep/logs/${array}_1.out ends: .*EISDIR`,
        ),
      );

      // Fixed, then resumed: only cnn-s1 runs again (prepare succeeded, cnn-s0 is done).
      await Deno.remove(join(out, "runs", "cnn-s1", "config.json"));
      const resume = await runTask("sweep.ts", ["resume", dir, "--wait"]);
      assert.equal(resume.code, 0, resume.stderr);
      const record = readSweep(dir);
      assert.deepEqual(round(record, 2).map((s) => [s.step, s.indices]), [
        ["trials", [1]],
        ["gather", undefined],
      ]);
      assert.equal(readAttempts(dir, record, { kind: "trial", index: 0 }).length, 1);
      assert.equal(readAttempts(dir, record, { kind: "trial", index: 1 }).length, 2);
      const second = await sweepStatus(dir, SWAP_SWEEP);
      assert.ok(second.steps.every((s) => s.state === "done"), resume.stdout);

      // The same grid in one process of deno task swap: the same numbers.
      const ref = join(base, "reference");
      const local = await runTask("swap.ts", [...grid, "--out", ref]);
      assert.equal(local.code, 0, local.stderr);
      assertSameSwapNumbers(ref, out, ["cnn-s0", "cnn-s1"]);

      printOverhead(second);
      for (const t of second.timings) {
        assert.ok(t.overheadSeconds < 30, `round ${t.round}: ${t.overheadSeconds} s of overhead`);
      }
    } finally {
      await cancelLeftovers(dir);
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "slurm: when prepare fails, Slurm cancels the array and the report lists its trials " +
    "as never run",
  ignore: unavailable !== null,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "sweep-slurm-prepare-" });
    const out = join(base, "swap");
    const dir = join(out, "sweep");
    try {
      const submit = await runTask("swap.ts", [
        "--preset",
        "smoke",
        ...TINY_SWAP_ARGS,
        "--conditions",
        "jepa_frozen",
        "--jepa",
        join(base, "no-such-checkpoint"),
        "--out",
        out,
        "--executor",
        "slurm",
      ]);
      assert.equal(submit.code, 0, submit.stderr);
      const status = await waitSweep({ dir, study: SWAP_SWEEP, timeoutSeconds: 300 });
      const steps = byName(status);
      assert.equal(steps.prepare.state, "failed");
      assert.match(steps.prepare.logTail!.join("\n"), /pretrain\.jepa: no checkpoint in/);
      const trial = steps["jepa_frozen-s0"];
      assert.equal(trial.state, "failed");
      assert.equal(trial.slurmState, "CANCELLED");
      assert.match(trial.ending!, /it never ran \(Slurm CANCELLED \(DependencyNeverSatisfied\)\)/);
      const report = readFileSync(join(out, "REPORT.md"), "utf8");
      assert.match(report, /- jepa_frozen-s0: \[sweep: Slurm job \d+_0: it never ran/);
    } finally {
      await cancelLeftovers(dir);
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "slurm: pipeline --seeds --executor slurm runs the seeds as a job array and gathers " +
    "SEEDS.md; a failed seed is listed, resume reruns only it, and the numbers equal a local run's",
  ignore: unavailable !== null,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "sweep-slurm-pipeline-" });
    const out = join(base, "pipeline");
    const dir = join(out, "sweep");
    const grid = [...TINY_PIPELINE_ARGS, "--backend", "cpu", "--seeds", "0,1"];
    try {
      mkdirSync(join(out, "s1"), { recursive: true });
      writeFileSync(join(out, "s1", "data"), "in the way");
      const submit = await runTask("pipeline.ts", [...grid, "--out", out, "--executor", "slurm"]);
      assert.equal(submit.code, 0, submit.stderr);
      assert.match(submit.stderr, /submitted trials: job \d+ \(array 0,1\)/);
      const first = byName(await waitSweep({ dir, study: PIPELINE_SWEEP, timeoutSeconds: 300 }));
      assert.equal(first.prepare, undefined);
      assert.equal(first.s0.state, "done");
      assert.equal(first.s1.state, "failed");
      assert.equal(first.s1.exitCode, 1);
      const summary = readFileSync(join(out, "SEEDS.md"), "utf8");
      assert.match(summary, /\| 1 \| failed: EEXIST.*\[sweep: Slurm job \d+_1: exit code 1/);

      await Deno.remove(join(out, "s1", "data"));
      const resume = await runTask("sweep.ts", ["resume", dir, "--wait"]);
      assert.equal(resume.code, 0, resume.stderr);
      const record = readSweep(dir);
      assert.deepEqual(round(record, 2).map((s) => [s.step, s.indices]), [
        ["trials", [1]],
        ["gather", undefined],
      ]);
      const second = await sweepStatus(dir, PIPELINE_SWEEP);
      assert.ok(second.steps.every((s) => s.state === "done"), resume.stdout);

      const ref = join(base, "reference");
      const local = await runTask("pipeline.ts", [...grid, "--out", ref]);
      assert.equal(local.code, 0, local.stderr);
      const stats = (d: string) => JSON.parse(readFileSync(join(d, "seeds.json"), "utf8")).stats;
      assert.deepEqual(stats(out), stats(ref));
      printOverhead(second);
    } finally {
      await cancelLeftovers(dir);
      await Deno.remove(base, { recursive: true });
    }
  },
});
