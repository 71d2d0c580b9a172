/**
 * What the data phase shows: per-episode and per-action statistics of a dataset (read from its
 * Parquet steps table with polars), their figures, and a gallery of the perturbation levels.
 * The demo task and notebook 01 both call these.
 *
 * @module
 */

import { join } from "node:path";
import pl from "nodejs-polars";
import { type EnvConfig, makeEnv, RAW_FRAMES } from "../../envs/make.ts";
import { PERTURB_LEVELS, type PerturbLevel } from "../../envs/perturb.ts";
import { ballTrackingPolicy } from "../../envs/policies.ts";
import { Rng } from "../../tensor/rng.ts";
import { STEPS_FILE } from "../../data/format.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import { type Image, tileFrames } from "../../viz/png.ts";

/** Per-episode statistics. */
export interface EpisodeRow {
  episode: number;
  /** Agent steps (rows minus the final observation). */
  length: number;
  return: number;
  /** Life losses during the episode. */
  livesLost: number;
}

/** Statistics of a dataset. */
export interface DatasetStats {
  episodes: EpisodeRow[];
  actions: { action: number; name: string; count: number }[];
  rewards: { reward: number; count: number }[];
  /** Ball positions (a sample of rows with the ball in play), for a trajectory figure. */
  ball: { x: number; y: number; episode: number }[];
}

/** Reads a dataset's steps table and computes its statistics. */
export function datasetStats(datasetDir: string, actionMeanings: readonly string[]): DatasetStats {
  const df = pl.readParquet(join(datasetDir, STEPS_FILE));
  const episodes = df
    .groupBy("episode")
    .agg(
      pl.col("step").max().alias("length"),
      pl.col("reward").sum().alias("return"),
      pl.col("lives").max().minus(pl.col("lives").min()).alias("livesLost"),
    )
    .sort("episode")
    .toRecords() as unknown as EpisodeRow[];
  const actions = df
    .filter(pl.col("action").gtEq(0))
    .groupBy("action")
    .agg(pl.col("step").count().alias("count"))
    .sort("action")
    .toRecords()
    .map((r) => ({
      action: Number(r.action),
      name: actionMeanings[Number(r.action)] ?? String(r.action),
      count: Number(r.count),
    }));
  const rewards = df
    .filter(pl.col("action").gtEq(0))
    .groupBy("reward")
    .agg(pl.col("step").count().alias("count"))
    .sort("reward")
    .toRecords()
    .map((r) => ({ reward: Number(r.reward), count: Number(r.count) }));
  const columns = df.columns;
  let ball: DatasetStats["ball"] = [];
  if (columns.includes("state_ballX") && columns.includes("state_ballVisible")) {
    const inPlay = df.filter(pl.col("state_ballVisible").gt(0));
    const every = Math.max(1, Math.floor(inPlay.height / 2000));
    ball = inPlay
      .gatherEvery(every)
      .select("state_ballX", "state_ballY", "episode")
      .toRecords()
      .map((r) => ({
        x: Number(r.state_ballX),
        y: Number(r.state_ballY),
        episode: Number(r.episode),
      }));
  }
  return {
    episodes: episodes.map((e) => ({
      episode: Number(e.episode),
      length: Number(e.length),
      return: Number(e.return),
      livesLost: Number(e.livesLost),
    })),
    actions,
    rewards,
    ball,
  };
}

/** Figures of {@linkcode DatasetStats}, as SVG text keyed by a file-friendly name. */
export function datasetFigures(stats: DatasetStats, title = ""): Record<string, string> {
  const prefix = title ? `${title}: ` : "";
  const figures: Record<string, string> = {
    episode_returns: plotToSvg({
      title: `${prefix}return per episode`,
      marginLeft: 50,
      x: { label: "episode", tickFormat: "d" },
      y: { label: "return", grid: true },
      marks: [
        Plot.barY(stats.episodes, { x: "episode", y: "return", fill: "steelblue" }),
        Plot.ruleY([0]),
      ],
    }),
    episode_lengths: plotToSvg({
      title: `${prefix}length per episode (agent steps)`,
      marginLeft: 50,
      x: { label: "episode", tickFormat: "d" },
      y: { label: "steps", grid: true },
      marks: [
        Plot.barY(stats.episodes, { x: "episode", y: "length", fill: "darkorange" }),
        Plot.ruleY([0]),
      ],
    }),
    actions: plotToSvg({
      title: `${prefix}actions taken`,
      marginLeft: 60,
      x: { label: "count", grid: true },
      y: { label: null },
      marks: [
        Plot.barX(stats.actions, { y: "name", x: "count", fill: "seagreen", sort: { y: null } }),
        Plot.ruleX([0]),
      ],
    }),
    rewards: plotToSvg({
      title: `${prefix}rewards per step`,
      marginLeft: 60,
      x: { label: "reward", type: "band" },
      y: { label: "steps", type: "log", grid: true },
      marks: [Plot.barY(stats.rewards, { x: "reward", y: "count", fill: "slateblue" })],
    }),
  };
  if (stats.ball.length) {
    figures.ball_positions = plotToSvg({
      title: `${prefix}ball positions (ground truth)`,
      width: 320,
      height: 420,
      x: { domain: [0, 160], label: "x (pixels)" },
      y: { domain: [210, 0], label: "y (pixels)" },
      color: { legend: false, scheme: "turbo" },
      marks: [Plot.dot(stats.ball, { x: "x", y: "y", r: 1.2, fill: "episode", fillOpacity: 0.5 })],
    });
  }
  return figures;
}

/**
 * The same moments of one episode under every perturbation level: one row per level, one column
 * per moment, as an RGB image. The envs share a seed, so the game is identical across rows and
 * only the perturbation differs.
 */
export function perturbationGallery(
  opts: { envId?: string; seed?: number; moments?: number[]; levels?: readonly PerturbLevel[] } =
    {},
): Image & { levels: readonly PerturbLevel[]; moments: number[] } {
  const { envId = "native:breakout", seed = 0, moments = [20, 60, 120, 200] } = opts;
  const levels = opts.levels ?? PERTURB_LEVELS;
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for (const level of levels) {
    const config: EnvConfig = { ...RAW_FRAMES, id: envId, frameSkip: 4, perturbation: level };
    const env = makeEnv(config, seed);
    [height, width] = env.spec.obsShape;
    const policy = ballTrackingPolicy(env.spec, new Rng(seed), 0);
    let { obs, info } = env.reset(seed);
    const last = Math.max(...moments);
    for (let t = 0; t <= last; t++) {
      if (moments.includes(t)) frames.push(obs.slice());
      const r = env.step(policy(info));
      ({ obs, info } = r);
      if (r.terminated || r.truncated) ({ obs, info } = env.reset());
    }
    env.close();
  }
  return {
    ...tileFrames(frames, { width, height, channels: 3, columns: moments.length, pad: 4 }),
    levels,
    moments,
  };
}
