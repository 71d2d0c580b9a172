import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { failureMessage } from "./gather.ts";
import { type Attempt, readSweep, writeAttempts, writeSweep } from "./record.ts";
import { formatStatus, logTail, sweepStatus, unionSeconds } from "./status.ts";
import type { SweepStudy, TrialOutcome } from "./study.ts";
import { SWAP_SWEEP } from "./swap_study.ts";
import { createSweep } from "./sweep.ts";

Deno.test("logTail: the last lines without progress redraws, colours or stack frames", () => {
  const log = "start\nbar 1/3\rbar 2/3\rbar 3/3\n\x1b[31merror:\x1b[0m boom\n    at f (x.ts:1)\n" +
    "    at g (x.ts:2)\n\n";
  assert.deepEqual(logTail(log), ["start", "bar 3/3", "error: boom"]);
  assert.deepEqual(logTail(log, 1), ["error: boom"]);
});

Deno.test("unionSeconds: overlapping spans count once", () => {
  assert.equal(unionSeconds([[0, 1000], [500, 2000], [3000, 4000]]), 3);
  assert.equal(unionSeconds([]), 0);
});

/** The swap study, with trial outcomes given instead of read from run directories. */
function studyWith(outcomes: Record<string, TrialOutcome>): SweepStudy {
  return { ...SWAP_SWEEP, trialOutcome: (_out, trial) => outcomes[trial.name] };
}

Deno.test("status of a local round: done, failed with exit code and log, never ran", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep-status-" });
  try {
    await createSweep({
      dir,
      spec: { study: "swap", axes: { conditions: ["cnn"], seeds: [0, 1, 2] } },
      study: SWAP_SWEEP,
    });
    const record = readSweep(dir);
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    // A finished round in a process that is gone (pid 0 is never a live process of ours).
    const sub = { round: 1, executor: "local" as const, at: at(0), pid: 0, host: hostname() };
    record.submissions.push(
      { ...sub, step: "prepare" },
      { ...sub, step: "trials", indices: [0, 1, 2] },
      { ...sub, step: "gather" },
    );
    await writeSweep(dir, record);
    const attempt = (start: number, end: number, exitCode: number, log: string): Attempt => ({
      round: 1,
      started: at(start),
      ended: at(end),
      exitCode,
      host: hostname(),
      pid: 0,
      log,
    });
    mkdirSync(join(dir, "logs"));
    writeFileSync(join(dir, "logs", "cnn-s1.1.out"), "training\nerror: out of memory\n");
    await writeAttempts(dir, record, { kind: "prepare" }, [attempt(1, 2, 0, "logs/p.out")]);
    await writeAttempts(dir, record, { kind: "trial", index: 0 }, [attempt(2, 12, 0, "logs/a")]);
    await writeAttempts(dir, record, { kind: "trial", index: 1 }, [
      attempt(2, 5, 1, "logs/cnn-s1.1.out"),
    ]);
    await writeAttempts(dir, record, { kind: "gather" }, [attempt(13, 14, 0, "logs/g")]);
    const status = await sweepStatus(
      dir,
      studyWith({
        "cnn-s0": { state: "done" },
        "cnn-s1": { state: "incomplete" },
        "cnn-s2": { state: "not started" },
      }),
    );
    const byName = Object.fromEntries(status.steps.map((s) => [s.name, s]));
    assert.equal(byName.prepare.state, "done");
    assert.equal(byName["cnn-s0"].state, "done");
    assert.equal(byName["cnn-s1"].state, "failed");
    assert.equal(byName["cnn-s1"].exitCode, 1);
    assert.deepEqual(byName["cnn-s1"].logTail, ["training", "error: out of memory"]);
    assert.equal(byName["cnn-s2"].state, "failed");
    assert.match(byName["cnn-s2"].ending!, /never ran \(the local sweep stopped before it\)/);
    assert.equal(byName.gather.state, "done");
    // 14 s from submission to report, tasks busy 1 + 10 + 1 s of it (the failed trial overlaps).
    assert.deepEqual(status.timings, [{
      round: 1,
      executor: "local",
      wallSeconds: 14,
      taskSeconds: 12,
      overheadSeconds: 2,
    }]);
    const text = formatStatus(status);
    assert.match(text, /cnn-s1 +failed +exit 1/);
    assert.match(text, /\| error: out of memory/);
    assert.equal(
      failureMessage(byName["cnn-s1"], "sweep/logs/cnn-s1.1.out"),
      "[sweep: exit code 1; log sweep/logs/cnn-s1.1.out ends: training / error: out of memory]",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
