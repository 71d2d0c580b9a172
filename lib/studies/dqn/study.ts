/**
 * The DQN study run into a run directory: every (exploration mode, seed) pair trained with
 * `trainDqn` in `runs/<mode>-s<seed>/` (checkpoints, `metrics.jsonl` of windows and games,
 * `result.json` once done, keyed by the run's config so a changed run is redone and the others
 * kept; an interrupted run resumes from its checkpoint), each run's state coverage counted as it
 * trains, then the trained agent played greedily on seeded whole games. Random play is run
 * through the same wrapper stack for as many steps, per seed, for its returns and coverage, and
 * on the same evaluation games.
 *
 * @module
 */

import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gameActions, makeEnv } from "../../envs/make.ts";
import type { AtariStepInfo } from "../../envs/atari.ts";
import { type ActFn, evaluateRobustness } from "../../eval/robustness.ts";
import { disposeParams } from "../../nn/params.ts";
import { dqnPolicy, loadDqn, type QNetwork, trainDqn } from "../../rl/dqn.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import { configHash } from "../../run/config.ts";
import type { OnStep } from "../../run/progress.ts";
import { type MetricRecord, readMetricsJsonl, type RunDir } from "../../run/run_dir.ts";
import { deriveSeed, Rng } from "../../tensor/rng.ts";
import { Coverage, type CoverageSnapshot, type CoverageSummary } from "./coverage.ts";
import {
  checkDqnStudyConfig,
  type DqnStudyConfig,
  type ExplorationMode,
  runConfig,
} from "./presets.ts";

/** A trained run's numbers. */
export interface DqnRunResult {
  mode: ExplorationMode | "random";
  seed: number;
  steps: number;
  /** Training games that ended, and the mean return of the last `lastGames` of them. */
  games: number;
  lastReturn: number;
  coverage: CoverageSummary;
  /** The coverage counts (for the heatmaps). */
  counts: CoverageSnapshot;
  /** Greedy play on the evaluation games (empty for random play's training row). */
  evalReturns: number[];
  sps: number;
  seconds: number;
  /** The process's memory once the replay buffer was full (read from `metrics.jsonl`). */
  memory?: MemoryAfterFill | null;
}

/**
 * What a soak checks: the process's resident memory and live tensors over the logged windows
 * from the step the replay buffer is full on, where nothing should grow any more.
 */
export interface MemoryAfterFill {
  /** The first window counted (its step >= the buffer size), and how many windows there are. */
  fromStep: number;
  toStep: number;
  windows: number;
  rssFirstMiB: number;
  rssLastMiB: number;
  rssMaxMiB: number;
  /** Least-squares slope of RSS against env steps, in MiB per 10K steps. */
  rssSlopePer10k: number;
  tensorsMin: number;
  tensorsMax: number;
}

/** What the study found: one row per run, then random play per seed and on the eval games. */
export interface DqnStudyResult {
  runs: DqnRunResult[];
  random: DqnRunResult[];
  randomEval: number[];
}

/** The run directory name of a (mode, seed) pair. */
export function dqnRunName(mode: string, seed: number): string {
  return `${mode}-s${seed}`;
}

/** Runs the study of the module doc. */
export async function runDqnStudy(
  run: RunDir,
  cfg: DqnStudyConfig,
  hooks: { onStep?: OnStep } = {},
): Promise<DqnStudyResult> {
  checkDqnStudyConfig(cfg);
  const runs: DqnRunResult[] = [];
  for (const mode of cfg.modes) {
    for (const seed of cfg.seeds) {
      const result = await trainRun(run, cfg, mode, seed, hooks.onStep);
      const metrics = run.path("runs", dqnRunName(mode, seed), "metrics.jsonl");
      runs.push({ ...result, memory: memoryAfterFill(metrics, cfg.dqn.bufferSize) });
    }
  }
  const random = cfg.seeds.map((seed) => randomRun(cfg, seed));
  const A = gameActions(cfg.dqn.env.id).length;
  const randomAct: ActFn = (_obs, n, r) => Int32Array.from({ length: n }, () => r.int(A));
  const randomEval = evalGames(cfg, randomAct);
  run.log(`random play: ${random.map((r) => r.lastReturn.toFixed(2)).join(", ")} per seed`);
  return { runs, random, randomEval };
}

/** Trains (or resumes, or reads back) one (mode, seed) run. */
async function trainRun(
  run: RunDir,
  cfg: DqnStudyConfig,
  mode: ExplorationMode,
  seed: number,
  onStep?: OnStep,
): Promise<DqnRunResult> {
  const name = dqnRunName(mode, seed);
  const dqn = runConfig(cfg, mode, seed);
  const dir = run.path("runs", name);
  const key = configHash({
    dqn,
    lastGames: cfg.lastGames,
    eval: cfg.eval,
    cell: cfg.coverage.cell,
  });
  const file = join(dir, "result.json");
  const stored = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
  if (stored?.key === key) {
    run.log(`${name}: trained before, kept`);
    return stored.result;
  }
  const keyFile = join(dir, "key.txt");
  if (existsSync(keyFile) && readFileSync(keyFile, "utf8") !== key) {
    run.log(`${name}: its config changed, starting over`);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  await writeFileAtomic(keyFile, key);
  const metrics = join(dir, "metrics.jsonl");
  const append = (r: MetricRecord) => appendFileSync(metrics, JSON.stringify(r) + "\n");
  const coverage = new Coverage(cfg.coverage.cell);
  const t0 = performance.now();
  const trained = await trainDqn(dqn, {
    checkpointDir: join(dir, "checkpoints"),
    resume: true,
    observer: coverage,
  }, {
    onStep: (e) => {
      const values = { ...e.values, ...coverage.summary() };
      append({ kind: "train", step: e.step, ...values });
      onStep?.({ ...e, loop: name, values });
    },
    onEpisode: (e) => append({ kind: "episode", ...e }),
    log: (line) => run.log(`${name}: ${line}`),
  });
  const seconds = (performance.now() - t0) / 1000;
  const returns = trainingReturns(metrics);
  const evalReturns = evalGames(cfg, dqnPolicy(trained.network, cfg.eval.epsilon));
  disposeParams(trained.network.params);
  const result: DqnRunResult = {
    mode,
    seed,
    steps: dqn.totalSteps,
    games: returns.length,
    lastReturn: mean(returns.slice(-cfg.lastGames)),
    coverage: coverage.summary(),
    counts: coverage.snapshot(),
    evalReturns,
    sps: trained.sps,
    seconds,
  };
  await writeFileAtomic(file, JSON.stringify({ key, result }) + "\n");
  run.log(
    `${name}: last ${cfg.lastGames} games ${result.lastReturn.toFixed(2)}, greedy ` +
      `${mean(evalReturns).toFixed(2)}, ball cells ${result.coverage.ballCells}, bricks ` +
      `${result.coverage.bricksBroken}, ${seconds.toFixed(0)} s`,
  );
  return result;
}

/**
 * The returns of a run's training games in order, from its `metrics.jsonl`: a resumed run
 * replays the steps after its checkpoint and logs their games again, so the last record of each
 * step counts.
 */
export function trainingReturns(metricsPath: string): number[] {
  if (!existsSync(metricsPath)) return [];
  const byStep = new Map<number, number>();
  for (const r of readMetricsJsonl(metricsPath)) {
    if (r.kind === "episode") byStep.set(r.step as number, r.return as number);
  }
  return [...byStep].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/**
 * The memory windows of a run's `metrics.jsonl` from step `bufferSize` on (the last record of
 * each step: a resumed run logs the steps after its checkpoint again); null with fewer than two.
 */
export function memoryAfterFill(metricsPath: string, bufferSize: number): MemoryAfterFill | null {
  if (!existsSync(metricsPath)) return null;
  const byStep = new Map<number, { rss: number; tensors: number }>();
  for (const r of readMetricsJsonl(metricsPath)) {
    const step = r.step as number;
    if (r.kind !== "train" || step < bufferSize || typeof r.rssMiB !== "number") continue;
    byStep.set(step, { rss: r.rssMiB, tensors: r.numTensors as number });
  }
  const rows = [...byStep].sort((a, b) => a[0] - b[0]);
  if (rows.length < 2) return null;
  const steps = rows.map(([s]) => s), rss = rows.map(([, v]) => v.rss);
  const ms = mean(steps), mr = mean(rss);
  let sxy = 0, sxx = 0;
  steps.forEach((s, i) => {
    sxy += (s - ms) * (rss[i] - mr);
    sxx += (s - ms) ** 2;
  });
  const tensors = rows.map(([, v]) => v.tensors);
  return {
    fromStep: steps[0],
    toStep: steps[steps.length - 1],
    windows: rows.length,
    rssFirstMiB: rss[0],
    rssLastMiB: rss[rss.length - 1],
    rssMaxMiB: Math.max(...rss),
    rssSlopePer10k: (sxy / sxx) * 10_000,
    tensorsMin: Math.min(...tensors),
    tensorsMax: Math.max(...tensors),
  };
}

/**
 * Random play for as many env steps as a run trains, through the training wrapper stack
 * (episodic life, auto-reset), seeded per study seed: its games' returns and its coverage.
 */
export function randomRun(cfg: DqnStudyConfig, seed: number): DqnRunResult {
  const t0 = performance.now();
  const env = makeEnv(cfg.dqn.env, deriveSeed(seed, "random-play"));
  const rng = new Rng(deriveSeed(seed, "random-actions"));
  const A = env.spec.actionMeanings.length;
  const coverage = new Coverage(cfg.coverage.cell);
  const returns: number[] = [];
  env.reset(deriveSeed(seed, "random-play/0"));
  for (let step = 0; step < cfg.dqn.totalSteps; step++) {
    const r = env.step(rng.int(A));
    coverage.observe(r.info);
    const episode = (r.info as AtariStepInfo).episode;
    if (episode) returns.push(episode.return);
    if (r.terminated || r.truncated) {
      if (episode) env.reset(deriveSeed(seed, `random-play/${returns.length}`));
      else env.reset();
    }
  }
  env.close();
  const seconds = (performance.now() - t0) / 1000;
  return {
    mode: "random",
    seed,
    steps: cfg.dqn.totalSteps,
    games: returns.length,
    lastReturn: mean(returns.slice(-cfg.lastGames)),
    coverage: coverage.summary(),
    counts: coverage.snapshot(),
    evalReturns: [],
    sps: cfg.dqn.totalSteps / Math.max(seconds, 1e-9),
    seconds,
  };
}

/** Whole seeded games through the evaluation variant of the training stack. */
function evalGames(cfg: DqnStudyConfig, act: ActFn): number[] {
  return evaluateRobustness(cfg.dqn.env, act, {
    levels: ["clean"],
    episodes: cfg.eval.games,
    seeds: [cfg.eval.seed],
    maxEpisodeSteps: cfg.eval.maxEpisodeSteps,
  }).map((r) => r.return);
}

/** The greedy network of a finished run (the caller disposes its params). */
export function loadRunNetwork(run: RunDir, mode: string, seed: number): QNetwork {
  return loadDqn(join(run.dir, "runs", dqnRunName(mode, seed), "checkpoints")).network;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
