/**
 * What the sweep tests share: a swap grid small enough that a trial takes seconds on the cpu
 * backend (one PPO update of 16 steps, one 40-step evaluation game per level, no saliency maps
 * or GIF), a pipeline as short, and the check that two swap directories hold the same numbers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Arguments of `deno task swap` (after the grid's) that make each run a few seconds. */
export const TINY_SWAP_ARGS: readonly string[] = [
  "--backend",
  "cpu",
  "--set",
  "ppo.totalSteps=16",
  "--set",
  "ppo.numSteps=8",
  "--set",
  "ppo.updateEpochs=1",
  "--set",
  "ppo.numMinibatches=1",
  "--set",
  "eval.episodes=1",
  "--set",
  "eval.maxEpisodeSteps=40",
  "--set",
  "report.saliencyFrames=0",
  "--set",
  "report.gifSteps=0",
];

/** A pipeline that stops after its data phase: one scripted game per seed, a second or so. */
export const TINY_PIPELINE_ARGS: readonly string[] = [
  "--preset",
  "smoke",
  "--only",
  "data",
  "--set",
  "data.episodes=1",
];

/** A run's training records without their timings (which differ run to run). */
function trainingRecords(dir: string, run: string): unknown[] {
  const text = readFileSync(join(dir, "runs", run, "metrics.jsonl"), "utf8");
  return text.split("\n").filter((l) => l.trim()).map((l) => {
    const { sps: _s, rolloutSec: _r, updateSec: _u, ...rest } = JSON.parse(l);
    return rest;
  });
}

/**
 * Asserts that two swap directories hold the same numbers: `ROBUSTNESS.md`, and for each of
 * `runs` its training records (losses, returns; timings aside) and its evaluation games.
 */
export function assertSameSwapNumbers(a: string, b: string, runs: string[]): void {
  const robustness = (dir: string) => readFileSync(join(dir, "ROBUSTNESS.md"), "utf8");
  assert.equal(robustness(b), robustness(a), `ROBUSTNESS.md of ${b} and ${a}`);
  for (const run of runs) {
    assert.ok(existsSync(join(b, "runs", run, "eval.json")), `${b}: ${run} not evaluated`);
    assert.deepEqual(trainingRecords(b, run), trainingRecords(a, run), `${run}: training`);
    const games = (dir: string) =>
      JSON.parse(readFileSync(join(dir, "runs", run, "eval.json"), "utf8")).episodes;
    assert.deepEqual(games(b), games(a), `${run}: evaluation games`);
  }
}
