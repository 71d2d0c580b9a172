import assert from "node:assert/strict";
import { AtariEnv, type AtariStepInfo, type FrameOptions } from "./atari.ts";
import { CountingGame } from "./counting_game.ts";
import { ClipReward, EpisodicLife, FireReset, FrameStack, pushFrame } from "./wrappers.ts";
import { VectorEnv } from "./vector.ts";

const RAW: FrameOptions = {
  frameSkip: 1,
  maxPool: false,
  noopMax: 0,
  stickyActions: 0,
  grayscale: true,
  resize: null,
  perturbation: "clean",
  maxEpisodeSteps: 0,
};

function env(opts: Partial<FrameOptions> = {}, game = new CountingGame()) {
  return { env: new AtariEnv("test:counting", game, { ...RAW, ...opts }, 1), game };
}

Deno.test("frame skip sums rewards over the skipped frames and reports the last frame", () => {
  const { env: e, game } = env({ frameSkip: 4 });
  e.reset();
  const r = e.step(2);
  assert.equal(game.ticks, 4);
  assert.equal(r.reward, 8);
  assert.equal(r.info.episodeFrame, 4);
  assert.equal(r.obs[8 * 5], 4); // a middle pixel holds the frame number
});

Deno.test("max-pool shows both of the last two frames, in gray and in RGB", () => {
  for (const grayscale of [true, false]) {
    const { env: e } = env({ frameSkip: 4, maxPool: true, grayscale });
    e.reset();
    const { obs } = e.step(0); // frames 3 (odd: bottom row lit) and 4 (even: top row lit)
    const c = grayscale ? 1 : 3;
    assert.equal(obs[0], 255, "top row from frame 4");
    assert.equal(obs[9 * 8 * c], 255, "bottom row from frame 3");
    assert.equal(obs[5 * 8 * c], 4, "elsewhere the max of 3 and 4");
  }
  const { env: e } = env({ frameSkip: 4, maxPool: false });
  e.reset();
  assert.equal(e.step(0).obs[9 * 8], 4, "without pooling only frame 4 is seen");
});

Deno.test("observation shapes follow grayscale and resize", () => {
  assert.deepEqual(env({ grayscale: false }).env.spec.obsShape, [10, 8, 3]);
  const { env: e } = env({ resize: [5, 4] });
  assert.deepEqual(e.spec.obsShape, [5, 4, 1]);
  assert.equal(e.reset().obs.length, 20);
});

Deno.test("noop reset runs 1..noopMax NOOP frames, reproducibly per seed", () => {
  const counts = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const { env: e, game } = env({ noopMax: 5 });
    e.reset(seed);
    assert.ok(game.actions.every((a) => a === 0));
    counts.add(game.ticks);
    const again = env({ noopMax: 5 });
    again.env.reset(seed);
    assert.equal(again.game.ticks, game.ticks);
  }
  assert.deepEqual([...counts].sort(), [1, 2, 3, 4, 5]);
});

Deno.test("sticky actions repeat the previous action with the given probability", () => {
  const { env: e, game } = env({ stickyActions: 0.25 });
  e.reset(3);
  const wanted: number[] = [];
  for (let i = 0; i < 4000; i++) {
    wanted.push(i % 2 === 0 ? 2 : 3);
    e.step(wanted[i]);
  }
  // Where the previous emulator action differs from the wanted one, the emulator keeps the
  // previous one with probability stickyActions.
  let chances = 0;
  let sticks = 0;
  for (let i = 1; i < wanted.length; i++) {
    if (game.actions[i - 1] === wanted[i]) continue;
    chances++;
    if (game.actions[i] === game.actions[i - 1]) sticks++;
  }
  assert.ok(Math.abs(sticks / chances - 0.25) < 0.03, `sticky rate ${sticks / chances}`);
});

Deno.test("an out-of-range action is an error naming the valid actions", () => {
  const { env: e } = env();
  e.reset();
  assert.throws(() => e.step(7), /action 7 is out of range \(0\.\.3: NOOP, FIRE, RIGHT, LEFT\)/);
});

Deno.test("truncation at maxEpisodeSteps, with episode statistics", () => {
  const { env: e } = env({ maxEpisodeSteps: 3 });
  e.reset();
  e.step(1);
  e.step(1);
  const r = e.step(1);
  assert.equal(r.truncated, true);
  assert.equal(r.terminated, false);
  assert.deepEqual((r.info as AtariStepInfo).episode, { return: 3, length: 3 });
});

Deno.test("episodic life ends episodes on life loss but resets the game only at game over", () => {
  const game = new CountingGame(5, 2);
  const e = new EpisodicLife(new AtariEnv("test:counting", game, RAW, 0));
  e.reset();
  let steps = 0;
  let r;
  do {
    r = e.step(0);
    steps++;
  } while (!r.terminated);
  assert.equal(steps, 5);
  assert.equal(e.gameOver, false);
  e.reset();
  assert.equal(game.ticks, 6, "reset after a life loss steps NOOP instead of restarting");
  for (let i = 0; i < 4; i++) r = e.step(0);
  assert.equal(r!.terminated, true);
  assert.equal(e.gameOver, true);
  e.reset();
  assert.equal(game.ticks, 0, "reset after game over restarts the game");
});

Deno.test("fire reset presses FIRE then action 2", () => {
  const game = new CountingGame();
  const e = new FireReset(new AtariEnv("test:counting", game, RAW, 0));
  e.reset();
  assert.deepEqual(game.actions, [1, 2]);
});

Deno.test("reward clipping keeps the sign", () => {
  const e = new ClipReward(new AtariEnv("test:counting", new CountingGame(), RAW, 0));
  e.reset();
  assert.equal(e.step(3).reward, 1);
  assert.equal(e.step(0).reward, 0);
});

Deno.test("frame stack is channels-last, oldest first, and starts with copies of the first frame", () => {
  const game = new CountingGame();
  const e = new FrameStack(new AtariEnv("test:counting", game, RAW, 0), 4);
  assert.deepEqual(e.spec.obsShape, [10, 8, 4]);
  const first = e.reset().obs;
  assert.deepEqual([...first.subarray(5 * 32, 5 * 32 + 4)], [0, 0, 0, 0]);
  e.step(0);
  const obs = e.step(0).obs;
  assert.deepEqual([...obs.subarray(5 * 32, 5 * 32 + 4)], [0, 0, 1, 2]);
});

Deno.test("pushFrame's fast path equals the general one", () => {
  const frame = Uint8Array.from({ length: 12 }, (_, i) => i * 7);
  const fast = Uint8Array.from({ length: 48 }, (_, i) => i);
  const slow = new Uint8Array(50).subarray(1, 49); // odd offset forces the general path
  slow.set(fast);
  pushFrame(fast, frame, 4, 1);
  pushFrame(slow, frame, 4, 1);
  assert.deepEqual([...fast], [...slow]);
});

Deno.test("vector env auto-resets finished copies in the same step", () => {
  const games: CountingGame[] = [];
  const venv = VectorEnv.create(
    (seed) => {
      const game = new CountingGame(3, 1);
      games.push(game);
      return new AtariEnv("test:counting", game, RAW, seed);
    },
    2,
    7,
  );
  venv.reset(7);
  venv.step([0, 0]);
  venv.step([0, 0]);
  const r = venv.step([1, 0]);
  assert.deepEqual([...r.terminated], [1, 1]);
  assert.deepEqual([...r.rewards], [1, 0]);
  assert.equal((r.infos[0] as AtariStepInfo).episode?.length, 3);
  assert.equal(games[0].ticks, 0, "already reset");
  assert.equal(r.obs[8 * 5], 0, "the batch holds the new episode's first frame");
  assert.notEqual(games[0].state().seed, games[1].state().seed, "copies are seeded apart");
});
