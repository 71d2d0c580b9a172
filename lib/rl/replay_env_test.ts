import assert from "node:assert/strict";
import { aleStatus } from "../envs/ale.ts";
import { CLEANRL_ATARI, type EnvConfig, makeEnv } from "../envs/make.ts";
import { Rng } from "../tensor/rng.ts";
import { ReplayVectorEnv } from "./replay_env.ts";

/** Plays `steps` random steps; returns the rewards and dones seen. */
function play(env: ReplayVectorEnv, rng: Rng, steps: number): string[] {
  const n = env.spec.actionMeanings.length;
  const seen: string[] = [];
  for (let t = 0; t < steps; t++) {
    const actions = Array.from({ length: env.numEnvs }, () => rng.int(n));
    const r = env.step(actions);
    seen.push(
      `${Array.from(r.rewards)}|${Array.from(r.dones)}|${r.episodes.map((e) => e?.return)}`,
    );
  }
  return seen;
}

function checkRestore(config: EnvConfig, steps: number) {
  const make = () => new ReplayVectorEnv((i) => makeEnv(config, i), 2, 11);
  const a = make();
  a.reset();
  const rng = new Rng(3);
  play(a, rng, steps);
  const snap = a.snapshot();
  assert.ok(snap.games.some((g) => g > 0), "a game ended and the next one was seeded");
  const b = make();
  b.restore(JSON.parse(JSON.stringify(snap)));
  assert.deepEqual(b.obs, a.obs, "restored observations");
  // From here both go on identically, through further games.
  const rngB = new Rng(0);
  rngB.setState(rng.state());
  assert.deepEqual(play(b, rngB, steps), play(a, rng, steps));
  assert.deepEqual(b.obs, a.obs);
  assert.deepEqual(b.snapshot(), a.snapshot());
  a.close();
  b.close();
}

Deno.test("a restored vector env (seeded games + replayed actions) goes on exactly as the original", () => {
  // Short games under episodic life: lives lost, games ended and re-seeded, frame stacks.
  checkRestore({ ...CLEANRL_ATARI, maxEpisodeSteps: 60 }, 150);
});

Deno.test("a snapshot from another env is refused", () => {
  const env = new ReplayVectorEnv((i) => makeEnv(CLEANRL_ATARI, i), 2, 1);
  assert.throws(() => env.restore({ games: [0], actions: [""] }), /snapshot has 1 envs/);
  env.close();
});

Deno.test({
  name: "replay restores real ALE Breakout too" +
    (aleStatus().available ? "" : " (skipped: no ale-py; pip install ale-py==0.12.1)"),
  ignore: !aleStatus().available,
  fn() {
    checkRestore({ ...CLEANRL_ATARI, id: "ale:breakout", maxEpisodeSteps: 40 }, 90);
  },
});
