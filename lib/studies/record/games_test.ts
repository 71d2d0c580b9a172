import assert from "node:assert/strict";
import { recordingEnvConfig } from "../../data/atari_head/mod.ts";
import { makeEnv } from "../../envs/make.ts";
import { GameScheduler } from "./games.ts";
import { openPlayer } from "./player.ts";
import { RECORD_PRESETS, type RecordConfig } from "./presets.ts";

/** Plays 6 games of random play, 3 slots; the rows of each game and the most screens held. */
function playAll(heldBytes?: number): { rows: string[]; maxHeld: number; order: number[] } {
  const config: RecordConfig = {
    ...RECORD_PRESETS.smoke,
    env: { ...RECORD_PRESETS.smoke.env, maxEpisodeSteps: 20 },
    games: 6,
    batch: 3,
  };
  const player = openPlayer(config);
  const envs = [0, 1, 2].map((s) => makeEnv(recordingEnvConfig(player.env), s));
  const scheduler = new GameScheduler(config, player, envs, 0, heldBytes);
  const out = { rows: [] as string[], maxHeld: 0, order: [] as number[] };
  for (const game of scheduler.play()) {
    out.maxHeld = Math.max(out.maxHeld, scheduler.heldScreens);
    out.order.push(game.index);
    out.rows.push(JSON.stringify(game.rows));
    scheduler.recycle(game);
  }
  envs.forEach((e) => e.close());
  return out;
}

Deno.test("the held-screens budget plays the same games in the same order, one at a time when tight", () => {
  const free = playAll();
  const tight = playAll(1);
  assert.deepEqual(free.order, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(tight.order, free.order);
  assert.deepEqual(tight.rows, free.rows, "a game does not depend on the games beside it");
  // One game of at most 20 steps at a time: its screens plus the final one.
  assert.ok(tight.maxHeld <= 21, `held ${tight.maxHeld} screens`);
  assert.ok(free.maxHeld > 21, `held ${free.maxHeld} screens with no budget`);
});
