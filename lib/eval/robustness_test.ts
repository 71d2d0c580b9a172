import assert from "node:assert/strict";
import { CLEANRL_ATARI } from "../envs/make.ts";
import { SignalEnv } from "../envs/toy_env.ts";
import {
  evaluateRobustness,
  featureShift,
  meanByLevel,
  meanStd,
  robustnessRatio,
  summarizeRobustness,
} from "./robustness.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

Deno.test("robustness ratio = mean over the four perturbed levels of perturbed / clean", () => {
  const means = { clean: 10, color_jitter: 8, noise: 6, mild: 5, hard: 1 };
  close(robustnessRatio(means), (0.8 + 0.6 + 0.5 + 0.1) / 4);
  assert.ok(Number.isNaN(robustnessRatio({ ...means, clean: 0 })), "clean 0: undefined");
  assert.ok(Number.isNaN(robustnessRatio({ clean: 1, noise: 1 })), "missing levels");
  // Above 1 when perturbations happen to help.
  close(robustnessRatio({ clean: 2, color_jitter: 4, noise: 2, mild: 2, hard: 2 }), 1.25);
});

Deno.test("the table averages per-agent values over seeds, the ratio per agent first", () => {
  const evals = [
    {
      condition: "cnn",
      seed: 0,
      means: { clean: 10, color_jitter: 5, noise: 5, mild: 5, hard: 5 },
    },
    { condition: "cnn", seed: 1, means: { clean: 2, color_jitter: 2, noise: 2, mild: 2, hard: 2 } },
    {
      condition: "jepa",
      seed: 0,
      means: { clean: 4, color_jitter: 4, noise: 2, mild: 2, hard: 0 },
    },
  ];
  const rows = summarizeRobustness(evals);
  const get = (c: string, l: string) => rows.find((r) => r.condition === c && r.level === l)!;
  close(get("cnn", "clean").mean, 6);
  close(get("cnn", "clean").std, Math.sqrt(32)); // sample std of [10, 2]
  assert.equal(get("cnn", "clean").seeds, 2);
  // Ratios 0.5 and 1.0 per agent -> mean 0.75, not (mean perturbed) / (mean clean) = 3.5 / 6.
  close(get("cnn", "ratio").mean, 0.75);
  close(get("jepa", "ratio").mean, 0.5);
  assert.equal(get("jepa", "ratio").std, 0);
  close(meanStd([1, 2, 3, NaN]).mean, 2);
  assert.equal(meanStd([]).n, 0);
});

Deno.test("evaluation plays whole games per level and seed, the same games for every level", () => {
  const made: number[] = [];
  const records = evaluateRobustness(
    CLEANRL_ATARI,
    // A policy that always answers 1: earns exactly the number of 1-bits of each game.
    (_obs, n) => new Int32Array(n).fill(1),
    { levels: ["clean", "hard"], episodes: 3, seeds: [7, 8], maxEpisodeSteps: 0 },
    (config, seed) => {
      assert.equal(config.episodicLife, false, "whole games");
      assert.equal(config.clipReward, false, "raw scores");
      made.push(seed);
      return new SignalEnv(6 + (seed % 3));
    },
  );
  assert.equal(records.length, 2 * 2 * 3);
  assert.equal(made.length, 12);
  const byLevel = (l: string) => records.filter((r) => r.level === l).map((r) => r.return);
  assert.deepEqual(byLevel("clean"), byLevel("hard"), "same seeds, same games at every level");
  for (const r of records) assert.ok(r.length >= 6 && r.length <= 8 && !r.truncated);
  const means = meanByLevel(records);
  close(means.clean!, byLevel("clean").reduce((a, b) => a + b) / 6);
});

Deno.test("feature shift: 0 for the same frames, and in units of the features' frame-to-frame std", () => {
  // Features of a stack: its bytes as numbers (d = 2 per stack of 2 bytes).
  const features = (obs: Uint8Array, _n: number) => Float32Array.from(obs);
  const clean = Uint8Array.from([0, 0, 2, 2, 4, 4, 6, 6]); // 4 stacks; each feature: 0, 2, 4, 6
  const std = Math.sqrt(5); // population variance of 0, 2, 4, 6
  const shifts = featureShift(features, clean, {
    color_jitter: clean.slice(),
    noise: Uint8Array.from([1, 1, 3, 3, 5, 5, 7, 7]), // every feature moved by 1
    hard: Uint8Array.from([6, 6, 4, 4, 2, 2, 0, 0]),
  }, 4);
  assert.deepEqual(Object.keys(shifts), ["color_jitter", "noise", "hard"]);
  close(shifts.color_jitter!, 0);
  close(shifts.noise!, 1 / std);
  close(shifts.hard!, Math.sqrt((36 + 4 + 4 + 36) / 4) / std);
  // A shift and a common scale of the features change nothing.
  const affine = (obs: Uint8Array, n: number) => features(obs, n).map((x) => 3 * x - 7);
  const again = featureShift(
    affine,
    clean,
    { noise: Uint8Array.from([1, 1, 3, 3, 5, 5, 7, 7]) },
    4,
  );
  close(again.noise!, shifts.noise!);
  assert.throws(
    () => featureShift(features, clean, { mild: clean.subarray(0, 4) }, 4),
    /mild has 4 bytes of frames, clean 8/,
  );
});
