import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";

async function task(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join("tasks", script), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("every task answers --help with its usage", async () => {
  for (
    const script of ["collect.ts", "demo.ts", "bench.ts", "doctor.ts", "test_suite.ts", "export.ts"]
  ) {
    const r = await task(script, ["--help"]);
    assert.equal(r.code, 0, script);
    assert.match(r.stdout, /Usage: deno task \w+/, script);
  }
});

Deno.test("collect rejects a mistyped key and an unknown flag, listing what is valid", async () => {
  const bad = await task("collect.ts", ["--set", "episods=3"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /unknown config key 'episods'\. Did you mean 'episodes'\? Valid keys: seed, policy/,
  );
  assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/, "no stack trace for a user mistake");
  const flag = await task("collect.ts", ["--episode", "3"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Unknown option '--episode'/);
  const perturb = await task("collect.ts", ["--perturb", "strong"]);
  assert.equal(perturb.code, 2);
  assert.match(
    perturb.stderr,
    /unknown perturbation 'strong' \(valid: clean, color_jitter, noise, mild, hard\)/,
  );
});

Deno.test("collect writes a dataset and a run directory", async () => {
  const root = await Deno.makeTempDir();
  const r = await task("collect.ts", [
    "--game",
    "pong",
    "--policy",
    "random",
    "--episodes",
    "1",
    "--set",
    "env.maxEpisodeSteps=50",
    "--out",
    join(root, "ds"),
    "--run-dir",
    join(root, "run"),
  ]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const f of [
      "ds/manifest.json",
      "ds/steps.parquet",
      "run/config.json",
      "run/metrics.parquet",
      "run/run.log",
    ]
  ) {
    assert.ok(existsSync(join(root, f)), f);
  }
  const config = JSON.parse(Deno.readTextFileSync(join(root, "run/config.json")));
  assert.equal(config.env.id, "native:pong");
});
