import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { recordingEnvConfig } from "../../data/atari_head/mod.ts";
import { type Dataset, openDataset } from "../../data/reader.ts";
import { withTempDir } from "../../data/synthetic_testing.ts";
import { makeEnv } from "../../envs/make.ts";
import { ScreenStack } from "../../envs/screen.ts";
import { initBackend } from "../../tensor/backend.ts";
import { Rng } from "../../tensor/rng.ts";
import { tinyDqnCheckpoint, tinyPpoCheckpoint } from "./checkpoints_testing.ts";
import { openPlayer } from "./player.ts";
import { RECORD_PRESETS, type RecordConfig } from "./presets.ts";
import { gameRng } from "./games.ts";
import { recordGames } from "./record.ts";

await initBackend({ backend: "cpu" });

/**
 * Byte equality that names the first difference (assert.deepEqual's diff of screens and shards
 * of megabytes takes gigabytes).
 */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const at = actual.findIndex((v, i) => v !== expected[i]);
  assert.equal(at, -1, `${what}: first difference at byte ${at}`);
}

/** Five games of 12 steps (truncated), two at a time. */
function tinyConfig(changes: Partial<RecordConfig> = {}): RecordConfig {
  return {
    ...RECORD_PRESETS.smoke,
    env: { ...RECORD_PRESETS.smoke.env, maxEpisodeSteps: 12 },
    games: 5,
    batch: 2,
    gif: { enabled: true, stride: 3, scale: 1 },
    mp4: false,
    ...changes,
  };
}

Deno.test("a recording reads back as a dataset: RGB screens, the actions that replay them, a GIF per game", async () => {
  await withTempDir(async (dir) => {
    const config = tinyConfig();
    const out = join(dir, "ds");
    const videos = join(dir, "videos");
    const summary = await recordGames(config, { out, videoDir: videos });
    assert.equal(summary.complete, true);
    assert.equal(summary.games, 5);
    const ds = await openDataset(out);
    assert.deepEqual(ds.frameShape, [210, 160, 3]);
    assert.equal(ds.numFrames, summary.frames);
    assert.deepEqual(ds.episodes().map((e) => e.episode), [0, 1, 2, 3, 4]);
    assert.equal(ds.manifest.meta.player, "random");
    assert.ok(ds.columnNames.includes("state_ballX") && ds.columnNames.includes("reward"));
    // Every game's recorded actions, replayed from its seed, give its recorded screens.
    const env = makeEnv(recordingEnvConfig(config.env));
    for (const { episode, start, length } of ds.episodes()) {
      // 12 steps, two of them FIRE reset's, then the final screen.
      assert.equal(length, 11);
      assert.equal(ds.row(start + 9).truncated, true);
      assert.equal(ds.row(start + 10).action, -1);
      let { obs, info } = env.reset(gameRng(config.seed, episode).fork("env").uint32());
      for (let t = 0; t < length; t++) {
        const row = ds.row(start + t);
        assertSameBytes(ds.frame(start + t), obs, `game ${episode}, step ${t}`);
        assert.deepEqual(row.state, info.state);
        assert.equal(row.lives, info.lives);
        if (row.action < 0) break;
        const r = env.step(row.action);
        assert.equal(row.reward, r.reward);
        ({ obs, info } = r);
      }
    }
    const gifs = (await readdir(videos)).sort();
    assert.deepEqual(gifs, [0, 1, 2, 3, 4].map((i) => `game-0000${i}.gif`));
    const head = (await Deno.readFile(join(videos, gifs[0]))).subarray(0, 6);
    assert.equal(new TextDecoder().decode(head), "GIF89a");
  });
});

Deno.test("the agent acts on its own observation stacks; percentRandom 100 replaces its actions", async () => {
  await withTempDir(async (dir) => {
    const base = tinyConfig({
      agent: await tinyDqnCheckpoint(join(dir, "dqn")),
      epsilon: 0,
      gif: { enabled: false, stride: 1, scale: 1 },
    });
    const mismatches = async (percentRandom: number) => {
      const out = join(dir, `p${percentRandom}`);
      await recordGames({ ...base, percentRandom }, { out });
      const greedy = greedyActions(await openDataset(out), base);
      const actions = (await openDataset(out)).column("action").filter((a) => a >= 0);
      assert.equal(greedy.length, actions.length);
      assert.ok(new Set(greedy).size > 1, "the greedy action follows the screen");
      return greedy.filter((a, i) => a !== actions[i]).length / greedy.length;
    };
    assert.equal(await mismatches(0), 0, "P=0: every action is the greedy one on its screens");
    const replaced = await mismatches(100);
    assert.ok(replaced > 0.4, `P=100: ${replaced} of the actions differ from the policy's`);
  });
});

/** The greedy actions of `config`'s DQN agent on the recorded screens (final screens left out). */
function greedyActions(ds: Dataset, config: RecordConfig): number[] {
  const player = openPlayer(config);
  const [height, width] = ds.frameShape;
  const actions: number[] = [];
  for (const { start, length } of ds.episodes()) {
    const view = new ScreenStack(height, width, player.env);
    const stacks = Array.from(
      { length: length - 1 },
      (_, t) => view.push(ds.frame(start + t)).slice(),
    );
    const batch = new Uint8Array(stacks.length * stacks[0].length);
    stacks.forEach((s, i) => batch.set(s, i * s.length));
    const rngs = stacks.map(() => new Rng(0));
    actions.push(...player.act(batch, stacks.length, rngs));
  }
  player.dispose();
  return actions;
}

Deno.test("a recording killed after 2 games and run again equals an uninterrupted one byte for byte", async () => {
  await withTempDir(async (dir) => {
    const config = tinyConfig({ agent: await tinyPpoCheckpoint(join(dir, "ppo")) });
    const whole = join(dir, "whole");
    await recordGames(config, { out: whole, videoDir: `${whole}-videos` });
    const resumed = join(dir, "resumed");
    const killed = await recordGames(config, {
      out: resumed,
      videoDir: `${resumed}-videos`,
      stopAfterGames: 2,
    });
    assert.deepEqual([killed.complete, killed.games], [false, 2]);
    assert.ok(!existsSync(resumed), "no dataset before the last game");
    const lines: string[] = [];
    // Another batch size: a game's actions do not depend on the games beside it.
    const rest = await recordGames({ ...config, batch: 3 }, {
      out: resumed,
      videoDir: `${resumed}-videos`,
      log: (line) => lines.push(line),
    });
    assert.deepEqual([rest.complete, rest.resumedFrom, rest.games], [true, 2, 3]);
    assert.ok(lines.some((l) => /resuming: 2 of 5 games/.test(l)), lines.join("\n"));
    for (const [a, b] of [[whole, resumed], [`${whole}-videos`, `${resumed}-videos`]]) {
      const files = (await readdir(a)).filter((f) => f !== "manifest.json").sort();
      assert.deepEqual((await readdir(b)).filter((f) => f !== "manifest.json").sort(), files);
      assert.ok(files.length >= 2, files.join(", "));
      for (const f of files) {
        assertSameBytes(await Deno.readFile(join(b, f)), await Deno.readFile(join(a, f)), f);
      }
    }
    const [m1, m2] = [(await openDataset(whole)).manifest, (await openDataset(resumed)).manifest];
    assert.deepEqual({ ...m2.meta, createdAt: 0 }, { ...m1.meta, createdAt: 0 });
    assert.equal(m1.meta.player, "ppo");
  });
});

Deno.test("bad input is refused with an error that names it", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "ds");
    const missing = join(dir, "no-such-run");
    await assert.rejects(
      recordGames(tinyConfig({ agent: missing }), { out }),
      new RegExp(`agent checkpoint ${missing}: no such directory`),
    );
    await assert.rejects(
      recordGames(tinyConfig({ percentRandom: 150 }), { out }),
      /percentRandom must be a number in \[0, 100\], got 150/,
    );
    await Deno.mkdir(join(dir, "empty"));
    await assert.rejects(
      recordGames(tinyConfig({ agent: join(dir, "empty") }), { out }),
      /empty\/latest\.json: no checkpoint here/,
    );
    await Deno.mkdir(join(dir, "other"));
    await Deno.writeTextFile(
      join(dir, "other", "latest.json"),
      JSON.stringify({ format: "jepa-atari-checkpoint", version: 1, config: { lr: 1 } }),
    );
    await assert.rejects(
      recordGames(tinyConfig({ agent: join(dir, "other") }), { out }),
      /other\/latest\.json: its config is neither a DQN config \(exploration, bufferSize\) nor a PPO/,
    );
    const pong = await tinyPpoCheckpoint(join(dir, "pong"), {
      ...tinyConfig().env,
      id: "native:pong",
      resize: [36, 36],
    });
    await assert.rejects(
      recordGames(tinyConfig({ agent: pong }), { out }),
      /the agent was trained on native:pong, not on native:breakout's game/,
    );
    await recordGames(tinyConfig({ games: 1 }), { out });
    await assert.rejects(
      recordGames(tinyConfig({ games: 2 }), { out }),
      /holds a recording made with games=1 \(requested 2\)/,
    );
  });
});
