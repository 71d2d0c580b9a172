/**
 * The encoder-swap experiment: PPO agents on an Atari game with five encoders, several training
 * seeds each, evaluated under the study's visual perturbations.
 *
 * Conditions: `cnn` (Nature CNN end to end), `jepa_frozen`, `ae_frozen`, `random_frozen`
 * (a ViT encoder from I-JEPA, from the pixel autoencoder, or a random init of the same shape;
 * only the heads train) and `jepa_finetune` (the I-JEPA encoder trained at 0.1x the heads'
 * learning rate). Training and evaluation share one wrapper stack (`evalEnvConfig` of the
 * training config); the published study evaluated through different wrappers, and its numbers
 * suffered.
 *
 * Layout of a swap directory:
 * - `pretrain/{dataset,ijepa,ae}/`: the encoders' pretraining (unless checkpoints were given);
 * - `runs/<condition>-s<seed>/`: one PPO run each (`config.json`, `metrics.jsonl`, `run.log`,
 *   `checkpoints/`, `done.json` once finished, `eval.json` once evaluated, `failed.json` when
 *   its training stopped on an error: a NaN, a crash, a killed worker). A finished run is
 *   skipped and an interrupted or failed one resumes from its last checkpoint, so re-running the
 *   grid continues where it stopped; the report lists every run with its state
 *   ({@linkcode gridStatus}), so a failed one is never silently missing from the table;
 * - the report (`swap_report.ts`): tables, figures, saliency maps, GIFs.
 *
 * @module
 */

import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureDataset } from "../../data/ensure.ts";
import { CLEANRL_ATARI, type EnvConfig, evalEnvConfig, makeEnv } from "../../envs/make.ts";
import { parsePerturbLevel, PERTURB_LEVELS, type PerturbLevel } from "../../envs/perturb.ts";
import {
  type ActFn,
  type EpisodeRecord,
  type EvalOptions,
  evaluateRobustness,
  featureShift,
  meanByLevel,
} from "../../eval/robustness.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import type { Presets } from "../../run/config.ts";
import { readMetricsJsonl, recordPath, RunDir } from "../../run/run_dir.ts";
import { type OnStep, stepRecorder } from "../../run/progress.ts";
import { checkpointStep, hasCheckpoint } from "../../tensor/checkpoint.ts";
import { pretrain } from "../../train/pretrain.ts";
import { PRETRAIN_PRESETS } from "../../train/pretrain_presets.ts";
import { type Agent, type AgentConfig, agentEncoder } from "../../rl/agent.ts";
import { agentPolicy } from "../../rl/agent_policy.ts";
import { saveEncoder } from "../../models/encoder.ts";
import {
  checkPpoConfig,
  CLEANRL_PPO_ATARI,
  loadAgent,
  type PpoConfig,
  randomPlayStacks,
  trainPpo,
} from "../../rl/ppo.ts";
import * as tf from "@tensorflow/tfjs";

/** The conditions of the study, in the order tables and figures show them. */
export const SWAP_CONDITIONS = [
  "cnn",
  "jepa_frozen",
  "ae_frozen",
  "random_frozen",
  "jepa_finetune",
] as const;
/** One of {@linkcode SWAP_CONDITIONS}. */
export type SwapCondition = typeof SWAP_CONDITIONS[number];

/** PPO hyper-parameters of every run of the grid (seed, env and agent come from the grid). */
export type SwapPpoConfig = Omit<PpoConfig, "seed" | "env" | "agent">;

/** Everything that defines a swap grid. */
export interface SwapConfig {
  /** The env and its wrapper stack (`--env` sets `env.id`). */
  env: EnvConfig;
  conditions: string[];
  /** Training seeds; every condition runs each. */
  seeds: number[];
  ppo: SwapPpoConfig;
  /** What every condition's agent shares (see {@linkcode AgentConfig}). */
  agent: Pick<AgentConfig, "hidden" | "encoderLrScale" | "readout" | "centerFeatures">;
  pretrain: {
    /** I-JEPA checkpoint directory ("" = pretrain one here with `preset`). */
    jepa: string;
    /** Autoencoder checkpoint directory ("" = pretrain one here). */
    ae: string;
    /** Pretraining preset when pretraining here. */
    preset: string;
    /** Override of the preset's steps (0: keep). */
    steps: number;
    /** Episodes of scripted play collected for pretraining. */
    episodes: number;
  };
  eval: {
    /** Games per level and evaluation seed. */
    episodes: number;
    seeds: number[];
    levels: string[];
    /** Cap on a game's steps in evaluation (0: the env's `maxEpisodeSteps`). */
    maxEpisodeSteps: number;
  };
  report: {
    /** Frames per condition in the saliency maps (0: none). */
    saliencyFrames: number;
    /** Steps of the clean-vs-hard GIF (0: none). */
    gifSteps: number;
    /** The condition whose seed-0 agent plays the GIF. */
    gifCondition: string;
  };
}

const PPO_DEFAULTS: SwapPpoConfig = (() => {
  const { seed: _s, env: _e, agent: _a, ...rest } = CLEANRL_PPO_ATARI;
  return rest;
})();

const full: SwapConfig = {
  env: { ...CLEANRL_ATARI },
  conditions: [...SWAP_CONDITIONS],
  seeds: [0, 1, 2],
  ppo: PPO_DEFAULTS,
  agent: { hidden: 512, encoderLrScale: 0.1, readout: "tokens", centerFeatures: true },
  pretrain: { jepa: "", ae: "", preset: "full", steps: 0, episodes: 120 },
  eval: { episodes: 10, seeds: [100, 101, 102], levels: [...PERTURB_LEVELS], maxEpisodeSteps: 0 },
  report: { saliencyFrames: 6, gifSteps: 400, gifCondition: "cnn" },
};

/**
 * The presets of `deno task swap`. `full`: CleanRL's 10M steps per run (meant for a GPU).
 * `small`: CleanRL's hyper-parameters for 300K steps per run, with the `small` pretraining
 * preset. PPO is slow to start on Breakout: in a sanity run on native Breakout the CNN went from
 * 1.1 (its first 60 games; random play 1.5) to 3.0 (its games around 110K steps), steadily
 * rising; 300K steps is about an hour per run on one core of the project's 2-core CPU (about 85
 * env steps/s with an OpenBLAS backend, half that on wasm). `smoke`: the whole grid, one seed, a
 * few hundred steps, in a minute or two (tests, notebooks, CI).
 */
export const SWAP_PRESETS: Presets<SwapConfig> = {
  smoke: {
    ...full,
    // Short games, so that a few hundred training steps finish some (learning curves).
    env: { ...CLEANRL_ATARI, maxEpisodeSteps: 50 },
    seeds: [0],
    ppo: {
      ...PPO_DEFAULTS,
      totalSteps: 2 * 2 * 32,
      numEnvs: 2,
      numSteps: 32,
      numMinibatches: 2,
      updateEpochs: 2,
      checkpointEvery: 1,
    },
    agent: { hidden: 64, encoderLrScale: 0.1, readout: "tokens", centerFeatures: true },
    pretrain: { jepa: "", ae: "", preset: "smoke", steps: 12, episodes: 2 },
    eval: { episodes: 2, seeds: [100], levels: [...PERTURB_LEVELS], maxEpisodeSteps: 60 },
    report: { saliencyFrames: 3, gifSteps: 40, gifCondition: "cnn" },
  },
  small: {
    ...full,
    ppo: { ...PPO_DEFAULTS, totalSteps: 300_000, checkpointEvery: 10 },
    pretrain: { jepa: "", ae: "", preset: "small", steps: 0, episodes: 20 },
    eval: { episodes: 8, seeds: [100, 101], levels: [...PERTURB_LEVELS], maxEpisodeSteps: 4500 },
  },
  full,
};

/** Checks a swap config before anything runs; throws naming the key. */
export function checkSwapConfig(cfg: SwapConfig): void {
  for (const c of cfg.conditions) {
    if (!(SWAP_CONDITIONS as readonly string[]).includes(c)) {
      throw new Error(
        `conditions: unknown condition '${c}' (valid: ${SWAP_CONDITIONS.join(", ")})`,
      );
    }
  }
  if (cfg.conditions.length === 0) throw new Error("conditions: at least one is needed");
  if (cfg.seeds.length === 0) throw new Error("seeds: at least one training seed is needed");
  if (new Set(cfg.seeds).size !== cfg.seeds.length) throw new Error("seeds: repeated seed");
  for (const l of cfg.eval.levels) parsePerturbLevel(l);
  if (!(Number.isInteger(cfg.eval.episodes) && cfg.eval.episodes >= 1)) {
    throw new Error(`eval.episodes must be an integer >= 1, got ${cfg.eval.episodes}`);
  }
  if (cfg.eval.seeds.length === 0) throw new Error("eval.seeds: at least one is needed");
  if (!(cfg.pretrain.preset in PRETRAIN_PRESETS)) {
    throw new Error(`pretrain.preset: unknown preset '${cfg.pretrain.preset}'`);
  }
  checkPpoConfig({ ...cfg.ppo, ...runConfig(cfg, "cnn", cfg.seeds[0], { jepa: "", ae: "" }) });
}

/** The run directory name of a condition and seed. */
export function runName(condition: string, seed: number): string {
  return `${condition}-s${seed}`;
}

/** The agent of a condition, given the pretraining checkpoints. */
export function conditionAgent(
  cfg: SwapConfig,
  condition: string,
  encoders: { jepa: string; ae: string },
): AgentConfig {
  const base = { ...cfg.agent, checkpoint: "", frozen: false };
  switch (condition) {
    case "cnn":
      return { ...base, encoder: "cnn" };
    case "jepa_frozen":
      return { ...base, encoder: "jepa", checkpoint: encoders.jepa, frozen: true };
    case "ae_frozen":
      return { ...base, encoder: "ae", checkpoint: encoders.ae, frozen: true };
    case "random_frozen":
      // The JEPA checkpoint only gives the encoder's shape; the weights are a fresh init.
      return { ...base, encoder: "random", checkpoint: encoders.jepa, frozen: true };
    case "jepa_finetune":
      return { ...base, encoder: "jepa", checkpoint: encoders.jepa, frozen: false };
  }
  throw new Error(`unknown condition '${condition}'`);
}

/** The PPO config of one run of the grid. */
export function runConfig(
  cfg: SwapConfig,
  condition: string,
  seed: number,
  encoders: { jepa: string; ae: string },
): PpoConfig {
  return {
    ...cfg.ppo,
    seed,
    env: cfg.env,
    agent: conditionAgent(cfg, condition, encoders),
  };
}

/** What the grid reports as it goes. */
export interface SwapHooks {
  log?(line: string): void;
  /** A run starts (`resumed`), is skipped as finished, finishes, or fails (`failed.json`). */
  onRun?(
    event: { run: string; status: "start" | "resume" | "skip" | "done" | "failed"; from?: number },
  ): void;
  /** Each PPO update of a run, as loop `<run name>` (values: the update's statistics). */
  onStep?: OnStep;
}

/** What `done.json` of a finished run holds. */
export interface RunSummary {
  run: string;
  condition: string;
  seed: number;
  updates: number;
  globalStep: number;
  /** Env steps per second of the training: `globalStep / seconds`. */
  sps: number;
  /** Seconds of training over every session of the run ({@linkcode trainingSeconds}). */
  seconds: number;
  /** Mean return of the last 20 training games (whole games, unclipped). */
  finalTrainReturn: number;
  finishedAt: string;
}

/** `eval.json` of a run. */
export interface RunEvaluation {
  run: string;
  condition: string;
  seed: number;
  /** The eval config it was made with (re-evaluated when it changes). */
  eval: SwapConfig["eval"];
  /** The checkpoint's update (less than the run's total for an unfinished run). */
  update: number;
  means: Partial<Record<PerturbLevel, number>>;
  episodes: EpisodeRecord[];
  /**
   * Per perturbed level, how far it moves the features the agent's heads read
   * ({@linkcode agentFeatureShift}); absent in evaluations made before it was measured.
   */
  featureShift?: Partial<Record<PerturbLevel, number>>;
}

/** Frame stacks of random play on which {@linkcode agentFeatureShift} measures every agent. */
export const FEATURE_SHIFT_STACKS = 256;

/**
 * How far each perturbed level of the grid's evaluation moves what `agent`'s heads read, in
 * frame-to-frame stds (`featureShift`): the same random-play games (seeded by the first
 * evaluation seed) rendered clean and perturbed through the evaluation wrappers, for every agent
 * of the grid alike. It tells a policy that loses its score under a perturbation because its
 * features moved from one that sees the same features and still acts worse.
 */
export function agentFeatureShift(
  cfg: SwapConfig,
  agent: Agent,
  n = FEATURE_SHIFT_STACKS,
): Partial<Record<PerturbLevel, number>> {
  const seed = cfg.eval.seeds[0] ?? 0;
  const frames = (level: PerturbLevel) => randomPlayStacks(evalEnvConfig(cfg.env, level), seed, n);
  const levels = cfg.eval.levels.map(parsePerturbLevel).filter((l) => l !== "clean");
  const perturbed = Object.fromEntries(levels.map((l) => [l, frames(l)]));
  return featureShift((obs, m) => agent.features(obs, m), frames("clean"), perturbed, n);
}

/**
 * Pretrains the I-JEPA and autoencoder encoders the conditions need (unless given), on scripted
 * play of the grid's env; finished pretraining is reused, interrupted pretraining resumes.
 */
export async function ensureEncoders(
  cfg: SwapConfig,
  dir: string,
  hooks: SwapHooks = {},
): Promise<{ jepa: string; ae: string }> {
  const needs = (m: "jepa" | "ae") =>
    cfg.conditions.some((c) =>
      m === "jepa" ? c.startsWith("jepa") || c === "random_frozen" : c === "ae_frozen"
    );
  const out = { jepa: cfg.pretrain.jepa, ae: cfg.pretrain.ae };
  for (const method of ["jepa", "ae"] as const) {
    if (!needs(method)) continue;
    if (out[method]) {
      if (!hasCheckpoint(out[method])) {
        throw new Error(`pretrain.${method}: no checkpoint in ${out[method]}`);
      }
      continue;
    }
    const base = PRETRAIN_PRESETS[cfg.pretrain.preset as keyof typeof PRETRAIN_PRESETS];
    const pcfg = {
      ...base,
      method: method === "jepa" ? "ijepa" as const : "ae" as const,
      train: {
        ...base.train,
        steps: cfg.pretrain.steps > 0 ? cfg.pretrain.steps : base.train.steps,
        checkpointEvery: Math.min(base.train.checkpointEvery, cfg.pretrain.steps || Infinity),
        monitorEvery: Math.min(base.train.monitorEvery, cfg.pretrain.steps || Infinity),
      },
    };
    const ckpt = join(dir, "pretrain", pcfg.method, "checkpoints");
    const marker = join(dir, "pretrain", pcfg.method, "done.json");
    out[method] = ckpt;
    if (existsSync(marker) && hasCheckpoint(ckpt)) {
      hooks.log?.(`pretrain ${pcfg.method}: finished checkpoint in ${ckpt}`);
      continue;
    }
    const datasetDir = join(dir, "pretrain", "dataset");
    const ds = await ensureDataset(datasetDir, {
      seed: 0,
      policy: "scripted",
      episodes: cfg.pretrain.episodes,
      shardFrames: 4096,
      env: cfg.env,
    }, { log: hooks.log, onStep: hooks.onStep });
    hooks.log?.(`pretrain ${pcfg.method} (${cfg.pretrain.preset}, ${pcfg.train.steps} steps)`);
    const result = await pretrain(pcfg, ds, { checkpointDir: ckpt, resume: true }, {
      log: hooks.log,
      onStep: stepRecorder({ loop: `pretrain ${pcfg.method}`, then: hooks.onStep }),
    });
    tf.dispose(result.tensors.map(([, v]) => v));
    await writeFileAtomic(
      marker,
      JSON.stringify({ steps: result.steps, lastLoss: result.lastLoss }) + "\n",
    );
  }
  return out;
}

/** Evaluates a policy under the grid's eval config: the same games for every policy. */
export function evaluatePolicy(
  cfg: SwapConfig,
  act: ActFn,
  onEpisode?: (e: EpisodeRecord) => void,
): { means: Partial<Record<PerturbLevel, number>>; episodes: EpisodeRecord[] } {
  const opts: EvalOptions = {
    levels: cfg.eval.levels.map(parsePerturbLevel),
    episodes: cfg.eval.episodes,
    seeds: cfg.eval.seeds,
    maxEpisodeSteps: cfg.eval.maxEpisodeSteps,
  };
  const episodes = evaluateRobustness(cfg.env, act, opts, undefined, onEpisode);
  return { means: meanByLevel(episodes), episodes };
}

/** Evaluates one agent under the grid's eval config. */
export function evaluateAgent(
  cfg: SwapConfig,
  agent: Agent,
  onEpisode?: (e: EpisodeRecord) => void,
): { means: Partial<Record<PerturbLevel, number>>; episodes: EpisodeRecord[] } {
  return evaluatePolicy(cfg, agentPolicy(agent), onEpisode);
}

/**
 * Uniformly random actions on the grid's clean evaluation games: the floor that "the agent
 * learned" is measured against. Random actions ignore the frames, so every perturbation level
 * would give the same games and scores: only `clean` is played.
 */
export function randomPlay(cfg: SwapConfig): Partial<Record<PerturbLevel, number>> {
  const env = makeEnv({ ...cfg.env, perturbation: "clean" }, 0);
  const numActions = env.spec.actionMeanings.length;
  env.close();
  const act: ActFn = (_obs, n, rng) => Array.from({ length: n }, () => rng.int(numActions));
  return evaluatePolicy({ ...cfg, eval: { ...cfg.eval, levels: ["clean"] } }, act).means;
}

function readJson<T>(path: string): T | null {
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as T : null;
}

/** Evaluates a run's latest checkpoint and writes `eval.json`. */
export async function evaluateRun(
  cfg: SwapConfig,
  runDir: string,
  condition: string,
  seed: number,
  hooks: SwapHooks = {},
): Promise<RunEvaluation> {
  const { agent, update } = loadAgent(join(runDir, "checkpoints"));
  try {
    const run = runName(condition, seed);
    hooks.log?.(`evaluating ${run} (update ${update})`);
    const { means, episodes } = evaluateAgent(cfg, agent);
    const result: RunEvaluation = {
      run,
      condition,
      seed,
      eval: cfg.eval,
      update,
      means,
      episodes,
      featureShift: agentFeatureShift(cfg, agent),
    };
    await writeFileAtomic(join(runDir, "eval.json"), JSON.stringify(result) + "\n");
    hooks.log?.(
      `${run}: ${Object.entries(means).map(([l, m]) => `${l} ${m!.toFixed(2)}`).join(", ")}`,
    );
    return result;
  } finally {
    agent.dispose();
  }
}

/** Measures the feature shift of an evaluation made before it was measured; rewrites `eval.json`. */
async function addFeatureShift(
  cfg: SwapConfig,
  runDir: string,
  prior: RunEvaluation,
): Promise<RunEvaluation> {
  const { agent } = loadAgent(join(runDir, "checkpoints"));
  try {
    const result = { ...prior, featureShift: agentFeatureShift(cfg, agent) };
    await writeFileAtomic(join(runDir, "eval.json"), JSON.stringify(result) + "\n");
    return result;
  } finally {
    agent.dispose();
  }
}

/** Options of {@linkcode runSwap}. */
export interface SwapOptions {
  /** Re-evaluate runs that already have an `eval.json` for this eval config. */
  reevaluate?: boolean;
  /** Only evaluate (no training); runs without a checkpoint are skipped. */
  evalOnly?: boolean;
  /** Only these runs (`runName`s); the others are left alone (one worker of `--jobs`). */
  only?: string[];
}

/**
 * Runs the grid in `dir`: pretraining if needed, then every condition x seed (finished runs
 * skipped, interrupted ones resumed), then the evaluation of every run. Returns every run's
 * evaluation (the report is `writeSwapReport`'s).
 */
export async function runSwap(
  cfg: SwapConfig,
  dir: string,
  hooks: SwapHooks = {},
  opts: SwapOptions = {},
): Promise<RunEvaluation[]> {
  checkSwapConfig(cfg);
  const encoders = opts.evalOnly ? { jepa: "", ae: "" } : await ensureEncoders(cfg, dir, hooks);
  const evaluations: RunEvaluation[] = [];
  for (const condition of cfg.conditions) {
    for (const seed of cfg.seeds) {
      const name = runName(condition, seed);
      if (opts.only && !opts.only.includes(name)) continue;
      const runDir = join(dir, "runs", name);
      const ckptDir = join(runDir, "checkpoints");
      if (!opts.evalOnly) {
        try {
          await trainRun(cfg, condition, seed, runDir, encoders, hooks);
        } catch (err) {
          // One run's failure is the grid's data, not its end: record it, go on with the others.
          const message = (err as Error).message ?? String(err);
          await recordFailure(runDir, name, message);
          hooks.log?.(`${name}: FAILED: ${message}`);
          hooks.onRun?.({ run: name, status: "failed" });
          continue;
        }
      }
      if (existsSync(join(runDir, "failed.json"))) {
        hooks.log?.(`${name}: failed, not evaluated (see failed.json)`);
        continue;
      }
      if (!hasCheckpoint(ckptDir)) {
        const kept = summaryEvaluation(cfg, runDir);
        hooks.log?.(
          kept
            ? `${name}: no checkpoint here; its finished evaluation (eval.json) is reported`
            : `${name}: no checkpoint, not evaluated`,
        );
        if (kept) evaluations.push(kept);
        continue;
      }
      const prior = readJson<RunEvaluation>(join(runDir, "eval.json"));
      const current = prior && !opts.reevaluate &&
        JSON.stringify(prior.eval) === JSON.stringify(cfg.eval) &&
        prior.update === checkpointStep(ckptDir);
      evaluations.push(
        !current
          ? await evaluateRun(cfg, runDir, condition, seed, hooks)
          : prior.featureShift
          ? prior
          : await addFeatureShift(cfg, runDir, prior),
      );
    }
  }
  return evaluations;
}

/**
 * The evaluation of a finished run whose checkpoints are not here (a grid continued on another
 * machine from the committed summaries: `done.json`, `eval.json`, `metrics.jsonl`): its
 * `eval.json` when it was made with this eval config, of the run's final update, with the feature
 * shift; null otherwise (nothing to re-evaluate it from).
 */
function summaryEvaluation(cfg: SwapConfig, runDir: string): RunEvaluation | null {
  const done = readJson<RunSummary>(join(runDir, "done.json"));
  const prior = readJson<RunEvaluation>(join(runDir, "eval.json"));
  const complete = done && prior && prior.featureShift &&
    JSON.stringify(prior.eval) === JSON.stringify(cfg.eval) && prior.update === done.updates;
  return complete ? prior : null;
}

/** Trains one run of the grid unless it is finished; resumes an interrupted one. */
async function trainRun(
  cfg: SwapConfig,
  condition: string,
  seed: number,
  runDir: string,
  encoders: { jepa: string; ae: string },
  hooks: SwapHooks,
): Promise<void> {
  const name = runName(condition, seed);
  if (existsSync(join(runDir, "done.json"))) {
    hooks.log?.(`${name}: finished, skipped`);
    hooks.onRun?.({ run: name, status: "skip" });
    return;
  }
  // A run that failed before is tried again from its last checkpoint.
  rmSync(join(runDir, "failed.json"), { force: true });
  const ppo = runConfig(cfg, condition, seed, encoders);
  // The run's record names its encoder relative to the run directory; training reads it as given.
  const agent = ppo.agent.checkpoint
    ? { ...ppo.agent, checkpoint: recordPath(runDir, ppo.agent.checkpoint) }
    : ppo.agent;
  const run = await RunDir.open({
    task: "swap",
    config: { ...ppo, agent },
    dir: runDir,
    resume: true,
  });
  const ckptDir = join(runDir, "checkpoints");
  const resuming = hasCheckpoint(ckptDir);
  const from = checkpointStep(ckptDir) ?? 0;
  hooks.onRun?.({ run: name, status: resuming ? "resume" : "start", from });
  const log = (line: string) => {
    run.log(line);
    hooks.log?.(`${name}: ${line}`);
  };
  log(`${resuming ? "resuming" : "training"} ${condition}, seed ${seed}, ${ppo.totalSteps} steps`);
  if (resuming) {
    // The updates after the last checkpoint run again: drop what they logged the first time.
    const saved = readJson<{ extra: { globalStep: number } }>(join(ckptDir, "latest.json"));
    const upTo = saved?.extra.globalStep ?? 0;
    const kept = run.readMetrics().filter((r) => (r.globalStep as number) <= upTo);
    await writeFileAtomic(
      join(runDir, "metrics.jsonl"),
      kept.map((r) => JSON.stringify(r) + "\n").join(""),
    );
  }
  const recent: number[] = [];
  const start = performance.now();
  const result = await trainPpo(ppo, { checkpointDir: ckptDir, resume: true }, {
    log,
    onEpisode: (e) => {
      run.metric({ kind: "episode", ...e });
      recent.push(e.return);
      if (recent.length > 20) recent.shift();
    },
    onStep: stepRecorder({
      metric: (r) => run.metric(r),
      fields: { kind: "update" },
      loop: name,
      then: hooks.onStep,
    }),
  });
  // An end-to-end CNN is an encoder of its own: the probes read it like any pretrained one.
  const trained = agentEncoder(result.agent, `ppo-${name}`);
  if (trained) {
    // Its step is the checkpoint's (PPO updates); the env steps go in the source.
    await saveEncoder(ckptDir, trained, {
      step: result.updates,
      source: { method: "ppo", condition, seed, env: ppo.env.id, envSteps: result.globalStep },
    });
  }
  result.agent.dispose();
  await run.finish();
  const seconds = trainingSeconds(runDir) ?? (performance.now() - start) / 1000;
  const summary: RunSummary = {
    run: name,
    condition,
    seed,
    updates: result.updates,
    globalStep: result.globalStep,
    sps: result.globalStep / seconds,
    seconds,
    finalTrainReturn: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN,
    finishedAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(runDir, "done.json"), JSON.stringify(summary, null, 1) + "\n");
  log(
    `done: ${result.globalStep} steps, ${result.sps.toFixed(1)} steps/s, last-20-games return ` +
      `${summary.finalTrainReturn.toFixed(2)}`,
  );
  hooks.onRun?.({ run: name, status: "done" });
}

/**
 * Seconds a run has trained, over every session: the rollout and update times of the updates its
 * `metrics.jsonl` keeps (a resume drops the updates after its checkpoint, which run again), so a
 * run stopped and resumed counts what its final weights cost, without the work a kill lost.
 * Null for a run without update records.
 */
export function trainingSeconds(runDir: string): number | null {
  let seconds = 0, updates = 0;
  for (const r of readMetricsJsonl(join(runDir, "metrics.jsonl"))) {
    if (r.kind !== "update") continue;
    seconds += Number(r.rolloutSec ?? 0) + Number(r.updateSec ?? 0);
    updates++;
  }
  return updates > 0 ? seconds : null;
}

/** The runs of a grid, in order, and whether each is finished and evaluated already. */
export function gridRuns(cfg: SwapConfig, dir: string): { name: string; complete: boolean }[] {
  return cfg.conditions.flatMap((c) =>
    cfg.seeds.map((s) => {
      const runDir = join(dir, "runs", runName(c, s));
      const evaluation = readJson<RunEvaluation>(join(runDir, "eval.json"));
      const complete = existsSync(join(runDir, "done.json")) && evaluation !== null &&
        JSON.stringify(evaluation.eval) === JSON.stringify(cfg.eval);
      return { name: runName(c, s), complete };
    })
  );
}

/** What `failed.json` of a run that stopped on an error holds. */
export interface RunFailure {
  run: string;
  error: string;
  /** The last checkpoint's update when it failed (null: none). */
  update: number | null;
  failedAt: string;
}

/** Writes a run's `failed.json` (the error and its last checkpoint). */
export async function recordFailure(runDir: string, run: string, error: string): Promise<void> {
  const failure: RunFailure = {
    run,
    error,
    update: lastUpdate(runDir),
    failedAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(runDir, "failed.json"), JSON.stringify(failure, null, 1) + "\n");
}

/** A run's last checkpointed update; null when it has none or cannot be read (damaged). */
function lastUpdate(runDir: string): number | null {
  try {
    return checkpointStep(join(runDir, "checkpoints")) ?? null;
  } catch {
    return null;
  }
}

/** A grid run's state, for the report's table of runs. */
export interface RunStatus {
  run: string;
  condition: string;
  seed: number;
  state: "done" | "failed" | "incomplete" | "not started";
  /** `done`: its summary. */
  summary?: RunSummary;
  /** `failed`: the error. */
  failure?: RunFailure;
  /** The last checkpoint's update (null: none). */
  update: number | null;
}

/** Every run of the grid, in order, with its state. */
export function gridStatus(cfg: SwapConfig, dir: string): RunStatus[] {
  return cfg.conditions.flatMap((condition) =>
    cfg.seeds.map((seed): RunStatus => {
      const run = runName(condition, seed);
      const runDir = join(dir, "runs", run);
      const update = lastUpdate(runDir);
      const done = readJson<RunSummary>(join(runDir, "done.json"));
      if (done) {
        // A done.json of an earlier version counted a resumed run's last session alone.
        const seconds = trainingSeconds(runDir) ?? done.seconds;
        const summary = { ...done, seconds, sps: done.globalStep / seconds };
        return { run, condition, seed, state: "done", summary, update };
      }
      const failure = readJson<RunFailure>(join(runDir, "failed.json"));
      if (failure) return { run, condition, seed, state: "failed", failure, update };
      return {
        run,
        condition,
        seed,
        state: update === null ? "not started" : "incomplete",
        update,
      };
    })
  );
}
