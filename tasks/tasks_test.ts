import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { collectDataset } from "../lib/data/collect.ts";
import { aleStatus } from "../lib/envs/ale.ts";
import { CLEANRL_ATARI } from "../lib/envs/make.ts";
import { runTask as task } from "../lib/run/task_testing.ts";
import { TINY_SWAP_ARGS } from "../lib/sweep/testing.ts";
import { integerFlag, UsageError } from "./cli.ts";

Deno.test("every task in deno.json answers --help with its usage", async () => {
  const tasks = JSON.parse(Deno.readTextFileSync("deno.json")).tasks as Record<string, string>;
  const scripts = Object.values(tasks).map((cmd) => cmd.match(/tasks\/(\w+\.ts)/)?.[1]);
  assert.ok(scripts.length >= 10);
  for (const script of scripts) {
    assert.ok(script, `every task runs a tasks/*.ts script: ${JSON.stringify(tasks)}`);
    const r = await task(script, ["--help"]);
    assert.equal(r.code, 0, `${script}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: deno task [\w-]+/, script);
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
  // The run directory is taken: one clear line, no stack trace, nothing overwritten.
  const again = await task("collect.ts", ["--episodes", "2", "--run-dir", join(root, "run")]);
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stderr, /run.config\.json|already holds a run/);
  assert.doesNotMatch(again.stderr, /at .*\.ts:\d+/, "no stack trace for a user mistake");
  assert.deepEqual(JSON.parse(Deno.readTextFileSync(join(root, "run/config.json"))), config);
});

Deno.test("collect --format atari-head writes trials in Atari-HEAD's layout and refuses bad options", async () => {
  const root = await Deno.makeTempDir();
  const args = [
    "--format",
    "atari-head",
    "--trials",
    "2",
    "--episodes",
    "1",
    "--gaze",
    "ball",
    "--set",
    "env.maxEpisodeSteps=40",
    "--out",
    join(root, "breakout"),
    "--run-dir",
    join(root, "run"),
  ];
  const r = await task("collect.ts", args);
  assert.equal(r.code, 0, r.stderr);
  const files = [...Deno.readDirSync(join(root, "breakout"))].map((e) => e.name).sort();
  assert.deepEqual(files, [
    "1_SCR_100001_seed-0.tar.bz2",
    "1_SCR_100001_seed-0.txt",
    "2_SCR_100002_seed-0.tar.bz2",
    "2_SCR_100002_seed-0.txt",
    "action_enums.txt",
    "meta_data.csv",
  ]);
  const meta = Deno.readTextFileSync(join(root, "breakout", "meta_data.csv")).split("\n");
  assert.equal(meta[0], "TrialNumber,Subject,NumberOfFrames,NumberOfEpisodes,HighestScore");
  assert.match(meta[2], /^2,SCR,\d+,\d+,\d+$/);
  const labels = Deno.readTextFileSync(join(root, "breakout", files[1])).split("\n");
  assert.equal(
    labels[0],
    "frame_id,episode_id,score,duration(ms),unclipped_reward,action,gaze_positions",
  );
  assert.match(labels[1], /^SCR_100001_1,0,0,null,0,\d+,/);
  const bad = await task("collect.ts", ["--format", "atari-head", "--gaze", "eyes"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--gaze: expected none or ball, got 'eyes'/);
  const wrongFormat = await task("collect.ts", ["--trials", "2"]);
  assert.match(wrongFormat.stderr, /--trials needs --format atari-head/);
});

Deno.test("collect takes --env, refuses it beside --game, and names ale-py when it is missing", async () => {
  const both = await task("collect.ts", ["--env", "native:pong", "--game", "pong"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--env and --game both choose the env/);
  const missing = await task("collect.ts", ["--env", "ale:breakout"], {
    JEPA_PYTHON: "/nonexistent/python3",
  });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /pip install ale-py==0\.12\.1/);
});

Deno.test({
  name: "collect --env ale:pong records the real game in the dataset" +
    (aleStatus().available ? "" : " (skipped: no ale-py; pip install ale-py==0.12.1)"),
  ignore: !aleStatus().available,
  async fn() {
    const root = await Deno.makeTempDir();
    const r = await task("collect.ts", [
      "--env",
      "ale:pong",
      "--policy",
      "random",
      "--episodes",
      "1",
      "--set",
      "env.maxEpisodeSteps=20",
      "--out",
      join(root, "ds"),
      "--run-dir",
      join(root, "run"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(Deno.readTextFileSync(join(root, "ds/manifest.json")));
    assert.equal(manifest.env, "ale:pong");
    assert.deepEqual(manifest.stateKeys.slice(0, 2), ["ballX", "ballY"]);
    await Deno.remove(root, { recursive: true });
  },
});

Deno.test("pretrain killed with SIGKILL mid-run and re-run with --resume ends with the same weights", async () => {
  const root = await Deno.makeTempDir();
  const dataset = join(root, "ds");
  await collectDataset(dataset, {
    seed: 0,
    policy: "random",
    episodes: 3,
    shardFrames: 4096,
    env: { ...CLEANRL_ATARI, id: "native:breakout" },
  });
  const args = (out: string) => [
    "run",
    "-A",
    "tasks/pretrain.ts",
    "--backend",
    "cpu",
    "--dataset",
    dataset,
    "--out",
    out,
    "--set",
    "train.steps=24",
    "--set",
    "train.batchSize=8",
    "--set",
    "train.checkpointEvery=6",
    "--set",
    "train.monitorEvery=12",
    "--set",
    "train.monitorFrames=32",
  ];
  const run = (out: string, extra: string[] = []) =>
    new Deno.Command(Deno.execPath(), {
      args: [...args(out), ...extra],
      stdout: "null",
      stderr: "piped",
    }).spawn();

  // Kill as soon as a checkpoint past the first exists: mid-run, between or during writes.
  const killed = run(join(root, "killed"));
  const latest = join(root, "killed/checkpoints/latest.json");
  while (!(existsSync(latest) && JSON.parse(Deno.readTextFileSync(latest)).step >= 12)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  killed.kill("SIGKILL");
  assert.notEqual((await killed.output()).code, 0);
  const resumed = await run(join(root, "killed"), ["--resume"]).output();
  const resumedLog = new TextDecoder().decode(resumed.stderr);
  assert.equal(resumed.code, 0, resumedLog);
  assert.match(resumedLog, /resumed from step (12|18)/, "it continued, not restarted");
  const straight = await run(join(root, "straight")).output();
  assert.equal(straight.code, 0, new TextDecoder().decode(straight.stderr));

  const weights = (dir: string) =>
    Deno.readFileSync(join(root, dir, "checkpoints/ckpt-00000024.safetensors"));
  assert.deepEqual(weights("killed"), weights("straight"));
  await Deno.remove(root, { recursive: true });
});

Deno.test("pipeline: a re-run skips current phases; a probe or plan change redoes only it and the report", async () => {
  const out = join(await Deno.makeTempDir(), "run");
  const tiny = [
    "--out",
    out,
    "--backend",
    "cpu",
    ...[
      "data.episodes=3",
      "pretrain.train.steps=4",
      "pretrain.train.batchSize=8",
      "pretrain.train.checkpointEvery=2",
      "pretrain.train.monitorEvery=2",
      "pretrain.train.monitorFrames=16",
      "probe.rows=60",
      "probe.features=[pooled]",
      // The world model on 32x32 frames (a 2x2 patch grid), a few steps of each part.
      "worldmodel.data.size=32",
      "worldmodel.stage1.train.steps=4",
      "worldmodel.stage1.train.batchSize=8",
      "worldmodel.stage1.train.checkpointEvery=2",
      "worldmodel.stage1.train.monitorEvery=2",
      "worldmodel.stage1.train.monitorFrames=16",
      "worldmodel.stage1.train.earlyStop.every=2",
      "worldmodel.stage2.train.steps=4",
      "worldmodel.stage2.train.batchSize=4",
      "worldmodel.stage2.train.earlyStop.every=2",
      "worldmodel.stage2.train.valBatches=1",
      "worldmodel.decoder.train.steps=2",
      "worldmodel.decoder.train.batchSize=8",
      "worldmodel.eval.windows=4",
      "worldmodel.eval.sensitivityStarts=8",
      "worldmodel.eval.probeRows=64",
      "worldmodel.eval.horizon=8",
      "plan.goal.tasks=2",
      "plan.planner.samples=8",
      "plan.planner.iterations=2",
      "plan.planner.elites=2",
      // The encoder swap: two conditions, one short game per level.
      "swap.conditions=[cnn,jepa_frozen]",
      "swap.eval.episodes=1",
      "swap.eval.maxEpisodeSteps=20",
      "swap.report.saliencyFrames=1",
      "swap.report.gifSteps=8",
    ].flatMap((s) => ["--set", s]),
  ];
  const first = await task("pipeline.ts", tiny);
  assert.equal(first.code, 0, first.stderr);
  assert.match(
    first.stdout,
    /ran data, ijepa, ae, probe, worldmodel, plan, swap, report; skipped nothing/,
  );
  const report = Deno.readTextFileSync(join(out, "REPORT.md"));
  assert.match(report, /\|pooled\|ijepa\|/);
  assert.ok(existsSync(join(out, "figures/probe_r2.png")));
  // The benchmark's probe of the same rows: F1 per Breakout variable, beside the majority class.
  assert.match(report, /### F1 per variable, pooled features/);
  assert.match(report, /\| encoder \| paddleX \(player_x\) \| ballX \(ball_x\) \|/);
  const bench = JSON.parse(Deno.readTextFileSync(join(out, "probe/probe-bench.json")));
  assert.deepEqual(
    [...new Set(bench.rows.map((r: { encoder: string }) => r.encoder))],
    ["majority", "ijepa", "ae", "random", "pixels"],
  );
  assert.ok(
    bench.rows.every((r: { f1: number | null }) => r.f1 === null || (r.f1 >= 0 && r.f1 <= 1)),
  );
  assert.match(report, /## World model/);
  assert.match(report, /\| world model \| \d+\.\d% \|/, "action sensitivity table");
  assert.match(report, /\| action-blind \(CEM\) \| \d+% \|/, "planning table");
  assert.match(report, /\(worldmodel\/stage2\/figures\/real_vs_imagined\.gif\)/);
  assert.match(report, /## Encoder swap/);
  assert.match(report, /\| jepa_frozen \| 1 \| -?\d+\.\d\d ± 0\.00 \|/, "robustness table");
  assert.match(report, /not comparable with ALE's/, "published numbers marked as not comparable");
  assert.match(report, /Random play \(uniform actions on the same evaluation games\): clean/);
  for (
    const f of [
      "figures/worldmodel_rollout_error.png",
      "figures/swap_robustness_levels.png",
      "swap/REPORT.md",
      "worldmodel/stage2/figures/real_vs_imagined.gif",
      "plan/PLAN.md",
    ]
  ) {
    assert.ok(existsSync(join(out, f)), f);
  }

  const again = await task("pipeline.ts", tiny);
  assert.match(
    again.stdout,
    /ran nothing; skipped data, ijepa, ae, probe, worldmodel, plan, swap, report/,
  );
  const changed = await task("pipeline.ts", [...tiny, "--set", "probe.rows=80"]);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(
    changed.stdout,
    /ran probe, report; skipped data, ijepa, ae, worldmodel, plan, swap/,
  );
  const planChanged = await task("pipeline.ts", [
    ...tiny,
    "--set",
    "probe.rows=80",
    "--set",
    "plan.planner.samples=12",
  ]);
  assert.equal(planChanged.code, 0, planChanged.stderr);
  assert.match(
    planChanged.stdout,
    /ran plan, report; skipped data, ijepa, ae, probe, worldmodel, swap/,
  );
});

Deno.test("record writes a dataset, GIFs and a run directory, prints frames/s, and names bad input", async () => {
  const root = await Deno.makeTempDir();
  const args = [
    ...["--games", "2", "--batch", "2", "--percent-random", "20"],
    ...["--set", "env.maxEpisodeSteps=20", "--out", join(root, "ds")],
    ...["--run-dir", join(root, "run")],
  ];
  const r = await task("record.ts", args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /recorded 2 games \(\d+ frames\) in [\d.]+s: \d+ frames\/s/);
  for (const f of ["ds/manifest.json", "run/videos/game-00001.gif", "run/metrics.parquet"]) {
    assert.ok(existsSync(join(root, f)), f);
  }
  const again = await task("record.ts", args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /already holds these 2 games: nothing to record/);
  const percent = await task("record.ts", ["--percent-random", "150"]);
  assert.equal(percent.code, 2);
  assert.match(percent.stderr, /percentRandom must be a number in \[0, 100\], got 150/);
  const agent = await task("record.ts", ["--agent", join(root, "no-such-run")]);
  assert.equal(agent.code, 2);
  assert.match(agent.stderr, /agent checkpoint .*no-such-run: no such directory/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("the seed's data flow: latent-action learns from a recording's RGB screens, latent-map refits the mapping play uses", async () => {
  const root = await Deno.makeTempDir();
  const ds = join(root, "rec");
  const rec = await task("record.ts", [
    ...["--games", "3", "--batch", "3", "--set", "env.maxEpisodeSteps=40", "--no-gif"],
    ...["--out", ds, "--run-dir", join(root, "rec-run")],
  ]);
  assert.equal(rec.code, 0, rec.stderr);
  const run = join(root, "la");
  const la = await task("latent_action.ts", [
    ...["--dataset", ds, "--out", run, "--steps", "4", "--backend", "cpu"],
    ...[
      "--set",
      "model.eval.rows=8",
      "--set",
      "model.eval.horizon=2",
      "--set",
      "model.eval.deltaAt=1",
    ],
    ...["--set", "report.gifSteps=2"],
  ]);
  assert.equal(la.code, 0, la.stderr);
  assert.match(la.stderr, new RegExp(`deriving ${ds} at 84x84x1 -> ${ds}-84x84-gray`));
  // The run's own videos are the derived ones; the recording given again finds them current.
  const map = await task("latent_map.ts", ["--run", run, "--dataset", ds, "--backend", "cpu"]);
  assert.equal(map.code, 0, map.stderr);
  assert.match(map.stderr, /84x84-gray .* is current/);
  assert.match(map.stdout, /held-out ones: [\d.]+% right, against [\d.]+% for each action's/);
  assert.match(map.stdout, /\| LEFT \| \d+ \|/);
  assert.ok(existsSync(join(run, "MAPPING.md")) && existsSync(join(run, "mapping.json")));
  const none = await task("latent_map.ts", ["--run", join(root, "no-run"), "--backend", "cpu"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no-run\/result.json: no finished latent-action run here/);
  const rows = await task("latent_map.ts", ["--run", run, "--rows", "0"]);
  assert.equal(rows.code, 2);
  assert.match(rows.stderr, /--rows: expected an integer >= 1, got '0'/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("swap: a grid grows in its directory (more seeds); finished runs are kept, the new ones run", async () => {
  const out = await Deno.makeTempDir({ prefix: "swap-grow-" });
  try {
    const grid = ["--preset", "smoke", ...TINY_SWAP_ARGS, "--conditions", "cnn", "--out", out];
    const one = await task("swap.ts", [...grid, "--seeds", "0"]);
    assert.equal(one.code, 0, one.stderr);
    const first = Deno.statSync(join(out, "runs", "cnn-s0", "done.json")).mtime;
    const two = await task("swap.ts", [...grid, "--seeds", "0,1"]);
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stderr, /config changed since the last session: seeds/);
    assert.deepEqual(Deno.statSync(join(out, "runs", "cnn-s0", "done.json")).mtime, first);
    assert.ok(existsSync(join(out, "runs", "cnn-s1", "eval.json")));
    assert.match(Deno.readTextFileSync(join(out, "ROBUSTNESS.md")), /\| cnn \| 2 \|/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an integer flag takes whole numbers from its minimum and names itself otherwise", () => {
  assert.equal(integerFlag("jobs", "2"), 2);
  assert.equal(integerFlag("frame", "0", 0), 0);
  for (const [text, min] of [["0", 1], ["2.5", 1], ["two", 1], ["", 0], ["9", 10]] as const) {
    assert.throws(
      () => integerFlag("rows", text, min),
      (e) =>
        e instanceof UsageError &&
        e.message === `--rows: expected an integer >= ${min}, got '${text}'`,
    );
  }
});
