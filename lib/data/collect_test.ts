import assert from "node:assert/strict";
import { join } from "node:path";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { collectDataset, withRandomSegments } from "./collect.ts";
import { Rng } from "../tensor/rng.ts";
import { openDataset } from "./reader.ts";

const env = { ...CLEANRL_ATARI, id: "native:breakout" };

Deno.test("a collected dataset holds every step, the final observations and the state", async () => {
  const dir = join(await Deno.makeTempDir(), "ds");
  const summary = await collectDataset(dir, {
    seed: 3,
    policy: "scripted",
    episodes: 2,
    shardFrames: 256,
    env,
  });
  const ds = await openDataset(dir);
  assert.equal(ds.numFrames, summary.steps);
  assert.deepEqual(ds.frameShape, [84, 84, 1], "single frames: stacks are built by readers");
  const episodes = ds.episodes();
  assert.deepEqual(episodes.map((e) => e.length - 1), summary.lengths);
  const action = ds.column("action");
  const reward = ds.column("reward");
  for (const [i, e] of episodes.entries()) {
    assert.equal(action[e.start + e.length - 1], -1, "the final observation has no action");
    let total = 0;
    for (let r = e.start; r < e.start + e.length; r++) total += reward[r];
    assert.equal(total, summary.returns[i]);
  }
  assert.equal(ds.state("lives")[episodes[0].start], 5);
  assert.equal(ds.manifest.env, "native:breakout");
  assert.ok(ds.manifest.shards.length > 1);
});

Deno.test("collection is deterministic for a seed", async () => {
  const root = await Deno.makeTempDir();
  const config = { seed: 5, policy: "random" as const, episodes: 1, shardFrames: 4096, env };
  await collectDataset(join(root, "a"), config);
  await collectDataset(join(root, "b"), config);
  const [a, b] = await Promise.all([openDataset(join(root, "a")), openDataset(join(root, "b"))]);
  assert.deepEqual(a.manifest.shards.map((s) => s.sha256), b.manifest.shards.map((s) => s.sha256));
  assert.deepEqual(a.column("action"), b.column("action"));
});

Deno.test("the ball-tracking policy plays longer games than random play", async () => {
  const root = await Deno.makeTempDir();
  const lengths = async (policy: "random" | "scripted") =>
    (await collectDataset(join(root, policy), {
      seed: 1,
      policy,
      episodes: 3,
      shardFrames: 4096,
      env,
    }))
      .lengths.reduce((a, b) => a + b, 0);
  assert.ok((await lengths("scripted")) > 2 * (await lengths("random")));
});

Deno.test("a list of policies plays them in turn, one whole episode each", async () => {
  const root = await Deno.makeTempDir();
  const summary = await collectDataset(join(root, "mix"), {
    seed: 1,
    policy: ["random", "scripted"],
    episodes: 4,
    shardFrames: 4096,
    env,
  });
  const [r0, s1, r2, s3] = summary.lengths;
  // The ball tracker keeps the ball in play far longer than random play, game after game.
  assert.ok(s1 > 2 * r0 && s3 > 2 * r2, `lengths ${summary.lengths}`);
  const ds = await openDataset(join(root, "mix"));
  assert.deepEqual((ds.manifest.meta.collect as { policy: string[] }).policy, [
    "random",
    "scripted",
  ]);
});

Deno.test("a failing collection leaves no dataset behind", async () => {
  const dir = join(await Deno.makeTempDir(), "ds");
  await assert.rejects(
    collectDataset(dir, {
      seed: 0,
      policy: "random",
      episodes: 1,
      shardFrames: 64,
      env: { ...env, id: "native:tetris" },
    }),
    /unknown env 'native:tetris' \(valid: native:breakout, native:pong, ale:breakout/,
  );
  await assert.rejects(
    collectDataset(dir, {
      seed: 0,
      policy: "greedy" as "random",
      episodes: 1,
      shardFrames: 64,
      env,
    }),
    /unknown policy 'greedy'/,
  );
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
});

Deno.test("random segments hold one random action for a drawn number of steps", () => {
  const policy = withRandomSegments(() => 9, 4, new Rng(2), { prob: 0.3, hold: [3, 5] });
  const info = { lives: 5, state: {}, episodeFrame: 0 };
  const actions = Array.from({ length: 2000 }, () => policy(info));
  const runs: number[] = [];
  for (let i = 0; i < actions.length;) {
    let j = i;
    while (j < actions.length && actions[j] === actions[i]) j++;
    if (actions[i] !== 9 && j < actions.length) runs.push(j - i);
    i = j;
  }
  const share = actions.filter((a) => a !== 9).length / actions.length;
  assert.ok(share > 0.4 && share < 0.75, `random share ${share}`);
  // Runs of one action: at least 3 steps, except where two segments of the same action abut.
  assert.ok(runs.every((r) => r >= 3), `runs ${runs.slice(0, 20)}`);
  assert.ok(actions.every((a) => a === 9 || (a >= 0 && a < 4)));
});

Deno.test("collect mixes random segments into the scripted player when asked", async () => {
  const root = await Deno.makeTempDir();
  const config = { seed: 4, policy: "scripted" as const, episodes: 1, shardFrames: 4096, env };
  await collectDataset(join(root, "a"), { ...config, explore: { prob: 0.2, hold: [4, 8] } });
  const ds = await openDataset(join(root, "a"));
  assert.deepEqual(ds.manifest.meta.explore, { prob: 0.2, hold: [4, 8] });
  const action = ds.column("action");
  const counts = [0, 0, 0, 0];
  for (const a of action) if (a >= 0) counts[a]++;
  assert.ok(counts.every((c) => c > 0.05 * action.length), `action counts ${counts}`);
});
