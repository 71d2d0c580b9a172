import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expandTrials, parseSlurmResources, parseSweepSpec } from "./spec.ts";
import { SWAP_SWEEP } from "./swap_study.ts";
import { slurmFromFlags } from "./flags.ts";
import { createSweep, resolveSpec } from "./sweep.ts";
import { readSweep, stepCommand } from "./record.ts";

Deno.test("expandTrials: the first axis varies slowest, names come from the study", () => {
  const trials = expandTrials(
    { seeds: [0, 1], conditions: ["cnn", "jepa_frozen"] },
    { axisOrder: SWAP_SWEEP.axes, name: SWAP_SWEEP.trialName },
  );
  assert.deepEqual(trials.map((t) => [t.index, t.name]), [
    [0, "cnn-s0"],
    [1, "cnn-s1"],
    [2, "jepa_frozen-s0"],
    [3, "jepa_frozen-s1"],
  ]);
  assert.deepEqual(trials[2].point, { conditions: "jepa_frozen", seeds: 0 });
});

Deno.test("expandTrials: unknown, empty or repeated axes are errors naming the axis", () => {
  const opts = { axisOrder: ["a", "b"], name: (p: Record<string, unknown>) => `${p.a}-${p.b}` };
  assert.throws(() => expandTrials({ a: [1], b: [2], c: [3] }, opts), /axes\.c: not an axis/);
  assert.throws(() => expandTrials({ a: [1] }, opts), /axes\.b: at least one value/);
  assert.throws(() => expandTrials({ a: [1, 1], b: [2] }, opts), /axes\.a: repeated value/);
  assert.throws(
    () => expandTrials({ a: [1, 2], b: [3] }, { ...opts, name: () => "same" }),
    /two trials are both named 'same'/,
  );
});

Deno.test("parseSweepSpec: every field is checked, naming the file and field", () => {
  const ok = parseSweepSpec({
    study: "swap",
    preset: "small",
    args: ["--backend", "cpu"],
    axes: { conditions: ["cnn"], seeds: [0, 1] },
    executor: "slurm",
    slurm: {
      partition: "gpu",
      time: "02:00:00",
      cpusPerTask: 4,
      gres: "gpu:1",
      extra: ["--qos=x"],
    },
  }, "grid.yaml");
  assert.equal(ok.slurm!.cpusPerTask, 4);
  const bad = (spec: unknown, pattern: RegExp) =>
    assert.throws(() => parseSweepSpec(spec, "grid.yaml"), pattern);
  bad({}, /grid\.yaml: study: expected a study name/);
  bad({ study: "swap", seed: 1 }, /grid\.yaml: unknown field 'seed'/);
  bad({ study: "swap", args: "--backend cpu" }, /args: expected a list of strings/);
  bad({ study: "swap", executor: "pbs" }, /executor: expected local or slurm, got "pbs"/);
  bad({ study: "swap", jobs: 0 }, /jobs: expected an integer >= 1, got 0/);
  bad({ study: "swap", axes: { seeds: [] } }, /axes\.seeds: expected a non-empty list/);
  bad({ study: "swap", slurm: { cpus: 2 } }, /slurm: unknown field 'cpus'/);
  assert.throws(
    () => slurmFromFlags({ time: "two hours" }),
    /--time: expected a value without spaces, got 'two hours'/,
  );
  assert.throws(
    () => slurmFromFlags({ "cpus-per-task": "two" }),
    /--cpus-per-task: expected an integer >= 1, got 'two'/,
  );
  assert.deepEqual(slurmFromFlags({ partition: "gpu", "max-running": "4" }, { account: "lab" }), {
    account: "lab",
    partition: "gpu",
    maxRunning: 4,
  });
  assert.throws(
    () => parseSlurmResources({ time: "2h" }, "slurm"),
    /slurm\.time: expected Slurm's format/,
  );
});

Deno.test("the swap study: the preset's grid by default, sweep-owned arguments refused", () => {
  const cwd = Deno.cwd();
  const smoke = resolveSpec({ study: "swap" }, SWAP_SWEEP, cwd);
  assert.deepEqual(smoke.axes, {
    conditions: ["cnn", "jepa_frozen", "ae_frozen", "random_frozen", "jepa_finetune"],
    seeds: [0],
  });
  assert.deepEqual(resolveSpec({ study: "swap", preset: "small" }, SWAP_SWEEP, cwd).axes.seeds, [
    0,
    1,
    2,
  ]);
  for (
    const arg of [["--seeds", "0,1"], ["--set", "conditions=[cnn]"], ["--out=x"], ["--only", "a"]]
  ) {
    assert.throws(
      () => resolveSpec({ study: "swap", args: arg }, SWAP_SWEEP, cwd),
      /args: '.*' (is set by the sweep|sets an axis)/,
      arg.join(" "),
    );
  }
  assert.throws(
    () =>
      resolveSpec({ study: "swap", axes: { conditions: ["vit"], seeds: [0] } }, SWAP_SWEEP, cwd),
    /axes\.conditions: unknown condition 'vit'/,
  );
  assert.throws(
    () =>
      resolveSpec({ study: "swap", axes: { conditions: ["cnn"], seeds: [0.5] } }, SWAP_SWEEP, cwd),
    /axes\.seeds: expected integers >= 0, got 0\.5/,
  );
});

Deno.test("createSweep: sweep.json with each step's call; the same grid continues, another is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep-spec-" });
  try {
    const spec = {
      study: "swap",
      args: ["--backend", "cpu"],
      axes: { conditions: ["cnn"], seeds: [0, 1] },
    };
    const record = await createSweep({ dir, spec, study: SWAP_SWEEP });
    assert.equal(record.out, "swap");
    assert.deepEqual(record.trials.map((t) => t.name), ["cnn-s0", "cnn-s1"]);
    const grid = ["--conditions", "cnn", "--seeds", "0,1"];
    assert.deepEqual(record.trials[1].args, [
      "--preset",
      "smoke",
      "--backend",
      "cpu",
      ...grid,
      "--only",
      "cnn-s1",
    ]);
    assert.deepEqual(record.prepare!.slice(-5), [...grid, "--encoders-only"]);
    assert.deepEqual(record.gather.slice(-5), [...grid, "--report-only"]);
    const command = stepCommand(dir, readSweep(dir), { kind: "trial", index: 0 }, {
      deno: "deno",
      root: "/repo",
    });
    assert.deepEqual(command.slice(0, 4), ["deno", "run", "-A", "/repo/tasks/swap.ts"]);
    assert.deepEqual(command.slice(-2), ["--out", join(dir, "swap")]);
    assert.ok(existsSync(join(dir, "sweep.json")));

    // The same grid on another executor continues the sweep with the new executor settings.
    const again = await createSweep({
      dir,
      spec: { ...spec, executor: "slurm", slurm: { time: "10" } },
      study: SWAP_SWEEP,
    });
    assert.equal(again.spec.executor, "slurm");
    assert.equal(JSON.parse(readFileSync(join(dir, "sweep.json"), "utf8")).spec.slurm.time, "10");
    await assert.rejects(
      createSweep({
        dir,
        spec: { ...spec, axes: { conditions: ["cnn"], seeds: [0] } },
        study: SWAP_SWEEP,
      }),
      /sweep\.json: holds another sweep \(changed: axes\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
