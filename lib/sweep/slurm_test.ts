import assert from "node:assert/strict";
import {
  expandArrayIndices,
  formatArrayIndices,
  isFinalState,
  parseSacct,
  parseSbatch,
  parseScontrolJobs,
  parseSqueue,
} from "./slurm.ts";
import { batchScript, logPath, logPattern, resourceOptions, shellQuote } from "./slurm_executor.ts";

// The answers below are Slurm 22.05's (Debian's), captured on the local test cluster.

Deno.test("array index lists: expanded and written back in their shortest form", () => {
  assert.deepEqual(expandArrayIndices("0-3,5,7-8%2"), [0, 1, 2, 3, 5, 7, 8]);
  assert.deepEqual(expandArrayIndices("0-6:3"), [0, 3, 6]);
  assert.equal(formatArrayIndices([8, 0, 1, 2, 5, 7]), "0-2,5,7-8");
  assert.equal(formatArrayIndices([1]), "1");
  assert.throws(() => expandArrayIndices("a-b"), /array indices: cannot read 'a-b'/);
  assert.equal(parseSbatch("123\n"), "123");
  assert.equal(parseSbatch("123;cluster\n"), "123");
  assert.throws(() => parseSbatch("Submitted batch job 12"), /sbatch: expected a job id/);
});

Deno.test("squeue -r: array tasks one by one, with the reason a job waits", () => {
  const jobs = parseSqueue(
    "4|4|N/A|PENDING|None\n5|5|0|PENDING|None\n7|5|1|RUNNING|None\n" +
      "6|6|N/A|PENDING|Dependency\n",
  );
  assert.deepEqual(jobs.map((j) => [j.jobId, j.arrayJobId, j.arrayTaskId, j.state, j.reason]), [
    ["4", undefined, undefined, "PENDING", undefined],
    ["5", "5", 0, "PENDING", undefined],
    ["7", "5", 1, "RUNNING", undefined],
    ["6", undefined, undefined, "PENDING", "Dependency"],
  ]);
});

Deno.test("scontrol show job -o: exit codes, and a range of tasks cancelled together", () => {
  const text = [
    "JobId=3 ArrayJobId=1 ArrayTaskId=1 JobName=j.sh UserId=root(0) JobState=FAILED " +
    "Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 RunTime=00:00:00",
    "JobId=5 ArrayJobId=5 ArrayTaskId=0-2 JobName=slow.sh JobState=CANCELLED " +
    "Reason=DependencyNeverSatisfied Dependency=afterok:4(failed) ExitCode=0:0",
    "JobId=4 JobName=slow.sh JobState=COMPLETED Reason=None ExitCode=0:0 Command=/a b/c.sh",
  ].join("\n");
  const jobs = parseScontrolJobs(text);
  assert.deepEqual(jobs.map((j) => [j.jobId, j.arrayTaskId, j.state, j.exitCode, j.reason]), [
    ["3", 1, "FAILED", 3, "NonZeroExitCode"],
    ["5", 0, "CANCELLED", 0, "DependencyNeverSatisfied"],
    ["5", 1, "CANCELLED", 0, "DependencyNeverSatisfied"],
    ["5", 2, "CANCELLED", 0, "DependencyNeverSatisfied"],
    ["4", undefined, "COMPLETED", 0, undefined],
  ]);
});

Deno.test("sacct with accounting names array tasks; sacct -c only their own ids", () => {
  const acct = parseSacct(
    "5_1|6|FAILED|3:0\n5_[2-3]|5|PENDING|0:0\n7|7|CANCELLED by 0|0:15\n",
    "sacct",
  );
  assert.deepEqual(acct.map((j) => [j.jobId, j.arrayJobId, j.arrayTaskId, j.state, j.signal]), [
    ["6", "5", 1, "FAILED", 0],
    ["5", "5", 2, "PENDING", 0],
    ["5", "5", 3, "PENDING", 0],
    ["7", undefined, undefined, "CANCELLED", 15],
  ]);
  const comp = parseSacct("2|COMPLETED|0:0\n3|FAILED|3:0\n", "sacct -c");
  assert.deepEqual(comp.map((j) => [j.jobId, j.arrayJobId, j.state, j.exitCode]), [
    ["2", undefined, "COMPLETED", 0],
    ["3", undefined, "FAILED", 3],
  ]);
  assert.ok(isFinalState("TIMEOUT") && !isFinalState("PENDING") && !isFinalState("RUNNING"));
});

Deno.test("batch scripts: resources as #SBATCH lines, one log per array task, the step runner", () => {
  const resources = {
    partition: "gpu",
    account: "lab",
    time: "02:00:00",
    cpusPerTask: 4,
    mem: "16G",
    gres: "gpu:1",
    extra: ["--qos=normal"],
  };
  assert.deepEqual(resourceOptions(resources), [
    "--partition=gpu",
    "--account=lab",
    "--time=02:00:00",
    "--cpus-per-task=4",
    "--mem=16G",
    "--gres=gpu:1",
    "--qos=normal",
  ]);
  const script = batchScript({
    dir: "/shared/sweeps/a b",
    step: "trials",
    round: 2,
    jobName: "swap:grid",
    cwd: "/shared/jepa",
    resources,
    deno: "/opt/deno",
  });
  const lines = script.split("\n");
  assert.equal(lines[0], "#!/bin/bash");
  assert.ok(lines.includes("#SBATCH --output='/shared/sweeps/a b/logs/%A_%a.out'"), script);
  assert.ok(lines.includes("#SBATCH --chdir=/shared/jepa"));
  assert.ok(lines.includes("#SBATCH --gres=gpu:1"));
  assert.match(
    lines.at(-2)!,
    /^exec \/opt\/deno run -A \S+\/tasks\/sweep\.ts step '\/shared\/sweeps\/a b' "\$SLURM_ARRAY_TASK_ID" --round 2$/,
  );
  assert.equal(logPattern("gather"), "logs/gather_%j.out");
  assert.equal(
    logPath("trials", { jobId: "13", arrayJobId: "11", arrayTaskId: 0 }),
    "logs/11_0.out",
  );
  assert.equal(logPath("prepare", { jobId: "10" }), "logs/prepare_10.out");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});
