/**
 * Collects game play into a dataset (see `format.ts`): whole games under a behaviour policy,
 * with the frames after the env's frame pipeline (frame skip, max-pool, perturbation, gray,
 * resize; no frame stack: readers build stacks) and every step's action, reward, flags and
 * ground-truth state.
 *
 * @module
 */

import { type EnvConfig, makeEnv } from "../envs/make.ts";
import { makePolicy, type Policy, type PolicyName } from "../envs/policies.ts";
import { Rng } from "../tensor/rng.ts";
import type { OnStep } from "../run/progress.ts";
import { finalObservationRow } from "./format.ts";
import { DatasetWriter } from "./writer.ts";

/** What to collect. */
export interface CollectConfig {
  seed: number;
  /** The env and its frame pipeline; stacking, episodic life and reward clipping are ignored. */
  env: EnvConfig;
  /**
   * The behaviour policy; a list plays its policies in turn, one whole episode each (AtariARI's
   * mix of random and competent play, so that every state variable varies).
   */
  policy: PolicyName | PolicyName[];
  episodes: number;
  /** Frames per shard file. */
  shardFrames: number;
  /**
   * Random action segments mixed into the policy (none by default): a world model needs actions
   * that the state does not predict, which a scripted player alone never gives it.
   */
  explore?: ExploreConfig;
}

/** Random action segments: see {@linkcode withRandomSegments}. */
export interface ExploreConfig {
  /** Chance, at each step the policy is in charge, that a random segment starts. */
  prob: number;
  /** Length of a segment in steps, drawn uniformly from [min, max]. */
  hold: [number, number];
}

/**
 * Mixes random action segments into `policy`: with probability `prob` per step a uniformly
 * drawn action is held for a uniformly drawn `hold` steps, otherwise the policy acts. Held
 * actions (rather than one-step ones) move the paddle far enough for their effect to show.
 */
export function withRandomSegments(
  policy: Policy,
  numActions: number,
  rng: Rng,
  { prob, hold }: ExploreConfig,
): Policy {
  if (!(prob >= 0 && prob <= 1)) throw new Error(`explore.prob must be in [0, 1], got ${prob}`);
  if (!(Number.isInteger(hold[0]) && hold[0] >= 1 && hold[1] >= hold[0])) {
    throw new Error(`explore.hold must be [min, max] with 1 <= min <= max, got [${hold}]`);
  }
  let left = 0;
  let action = 0;
  return (info) => {
    if (left > 0) {
      left--;
      return action;
    }
    if (rng.float() < prob) {
      action = rng.int(numActions);
      left = hold[0] + rng.int(hold[1] - hold[0] + 1) - 1;
      return action;
    }
    return policy(info);
  };
}

/**
 * The spec a manifest records under `meta.collect`: the fields of a {@linkcode CollectConfig}
 * and nothing else, as JSON keeps them (so a spec compares equal to itself read back).
 */
export function collectSpec(config: CollectConfig): CollectConfig {
  const { seed, env, policy, episodes, shardFrames, explore } = config;
  return JSON.parse(JSON.stringify({ seed, policy, episodes, shardFrames, env, explore }));
}

/** What a collection produced. */
export interface CollectSummary {
  /** Rows stored (agent steps plus each episode's final observation). */
  steps: number;
  returns: number[];
  lengths: number[];
  seconds: number;
}

/**
 * The env config a collection really uses: whole games with raw rewards and single frames,
 * whatever the training stack says.
 */
export function collectionEnvConfig(env: EnvConfig): EnvConfig {
  return { ...env, frameStack: 1, episodicLife: false, clipReward: false, fireReset: false };
}

/**
 * Plays `config.episodes` games and writes them to `path` atomically: the dataset appears
 * complete when this resolves, and nothing appears if it throws. `onStep` receives each finished
 * game as loop "collect" (values: `steps` stored so far, the game's `return`).
 */
export async function collectDataset(
  path: string,
  config: CollectConfig,
  onStep?: OnStep,
): Promise<CollectSummary> {
  if (!Number.isInteger(config.episodes) || config.episodes < 1) {
    throw new Error(`episodes must be an integer >= 1, got ${config.episodes}`);
  }
  const start = performance.now();
  const envConfig = collectionEnvConfig(config.env);
  const rng = new Rng(config.seed);
  const env = makeEnv(envConfig, rng.fork("env").uint32());
  // One policy keeps the RNG streams of single-policy datasets collected before mixes existed.
  const names = typeof config.policy === "string" ? [config.policy] : config.policy;
  if (names.length === 0) throw new Error("policy: the list of policies is empty");
  const policies = names.map((name, i) => {
    const base = makePolicy(
      name,
      env.spec,
      rng.fork(typeof config.policy === "string" ? "policy" : `policy/${i}`),
    );
    const explore = typeof config.policy === "string" ? "explore" : `explore/${i}`;
    return config.explore
      ? withRandomSegments(base, env.spec.actionMeanings.length, rng.fork(explore), config.explore)
      : base;
  });
  const writer = await DatasetWriter.create(path, {
    env: env.spec.id,
    frameShape: [...env.spec.obsShape],
    stateKeys: [...env.spec.stateKeys],
    shardFrames: config.shardFrames,
    meta: {
      seed: config.seed,
      policy: config.policy,
      ...(config.explore ? { explore: config.explore } : {}),
      envConfig,
      // The whole request, so that `ensureDataset` can tell whether this is the dataset asked for.
      collect: collectSpec(config),
      createdAt: new Date().toISOString(),
    },
  });
  const summary: CollectSummary = { steps: 0, returns: [], lengths: [], seconds: 0 };
  try {
    for (let episode = 0; episode < config.episodes; episode++) {
      let { obs, info } = env.reset(rng.fork(`episode/${episode}`).uint32());
      const policy = policies[episode % policies.length];
      let total = 0;
      for (let step = 0;; step++) {
        const action = policy(info);
        const r = env.step(action);
        writer.add(obs, {
          episode,
          step,
          action,
          reward: r.reward,
          terminated: r.terminated,
          truncated: r.truncated,
          lives: info.lives,
          state: info.state,
        });
        total += r.reward;
        summary.steps++;
        obs = r.obs;
        info = r.info;
        if (r.terminated || r.truncated) {
          // The final observation closes the episode (no action taken from it).
          writer.add(obs, finalObservationRow(episode, step + 1, info));
          summary.steps++;
          summary.returns.push(total);
          summary.lengths.push(step + 1);
          break;
        }
      }
      onStep?.({
        loop: "collect",
        step: episode + 1,
        total: config.episodes,
        values: { steps: summary.steps, return: total },
      });
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    env.close();
  }
  summary.seconds = (performance.now() - start) / 1000;
  return summary;
}
