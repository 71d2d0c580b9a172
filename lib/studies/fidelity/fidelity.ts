/**
 * How faithful a native game is to the real one: both played through the same wrapper stack
 * (`makeEnv`, only the id differs) with the same policies and seeds, and compared on
 *
 * - episode return and length distributions, under a random and a ball-tracking policy;
 * - ball speeds (|dx|, |dy| pairs of the speed table) and paddle speeds (pixels per agent step)
 *   met in those episodes, read from the ground-truth state (RAM-decoded on ALE);
 * - the reset frame, pixel by pixel, and the colour of every brick row (brick layout);
 * - frame-exact replay: ALE games played frame by frame with the ball tracker, their actions
 *   fed to the native game, and the frames and states compared until they first differ.
 *
 * `deno task fidelity` runs it and writes `results/fidelity/` (see {@linkcode writeFidelityReport}).
 *
 * @module
 */

import { join } from "node:path";
import { type EnvConfig, makeEnv, RAW_FRAMES } from "../../envs/make.ts";
import { makePolicy, type PolicyName } from "../../envs/policies.ts";
import type { Env, GameState } from "../../envs/types.ts";
import { deriveSeed, Rng } from "../../tensor/rng.ts";
import { Plot, plotToSvg } from "../../viz/plot.ts";
import { encodePng, tileFrames, upscaleNearest } from "../../viz/png.ts";
import { writeFileAtomic } from "../../run/atomic.ts";

/** What to measure. */
export interface FidelityConfig {
  /** Game name: compares `native:<game>` with `ale:<game>`. */
  game: string;
  /** Whole games per policy and env. */
  episodes: Partial<Record<PolicyName, number>>;
  seed: number;
  /** The wrapper stack both envs get (its `id` is replaced). */
  env: EnvConfig;
  /** Frame-exact replays: ALE games, and frames per game at most. */
  replay: { games: number; frames: number };
}

/** Summary statistics of a sample. */
export interface Summary {
  n: number;
  mean: number;
  sd: number;
  /** Standard error of the mean. */
  sem: number;
  median: number;
  q10: number;
  q90: number;
  min: number;
  max: number;
}

/** One env under one policy. */
export interface PolicyRun {
  returns: number[];
  lengths: number[];
  /**
   * Per episode: mean |dx| and |dy| of the ball in flight, mean paddle movement per step. The
   * tests compare these, one value per episode: steps within an episode are far from
   * independent, and a test over pooled steps would overstate every difference.
   */
  ballDx: number[];
  ballDy: number[];
  paddleSpeed: number[];
  /** Agent steps with the ball in flight, by `|dx|/|dy|` (px per frame). */
  ballSpeeds: Record<string, number>;
  /** Agent steps by paddle movement in whole pixels per agent step. */
  paddleSpeeds: Record<string, number>;
  seconds: number;
}

/** Native against ALE under one policy. */
export interface PolicyComparison {
  policy: PolicyName;
  native: PolicyRun;
  ale: PolicyRun;
  /** Per metric: both summaries and a two-sample Kolmogorov-Smirnov test. */
  metrics: Record<string, { native: Summary; ale: Summary; ks: { d: number; p: number } }>;
}

/** The reset frames, compared. */
export interface FrameComparison {
  /** Share of identical RGB pixels in the first frame after reset. */
  identicalPixels: number;
  /** Rows of pixels that differ (empty when identical). */
  differingRows: number[];
  /** Breakout's brick rows: colour in each env at the row's first brick. */
  brickRows: { row: number; y: number; native: number[]; ale: number[] }[];
}

/** One replayed game. */
export interface ReplayGame {
  /** Frames compared (the reset frame and one per action). */
  frames: number;
  /** Frames identical (RGB and state) before the first difference (= frames if none). */
  identicalPrefix: number;
  /** Frames identical anywhere in the game (the games can fall back into step). */
  identicalFrames: number;
  /** Where they first differed, and what. */
  firstDifference?: { frame: number; keys: string[]; pixels: boolean };
}

/** Everything measured, as written to `fidelity.json`. */
export interface FidelityResult {
  game: string;
  config: FidelityConfig;
  policies: PolicyComparison[];
  frames: FrameComparison;
  replay: ReplayGame[];
  aleVersion?: string;
}

/** Paddle position key of each game's state. */
const PADDLE_KEY: Record<string, string> = { breakout: "paddleX", pong: "playerY" };

/** Plays `n` whole games of `envId` with a policy; the seeds depend only on (seed, policy, i). */
export function playEpisodes(
  envId: string,
  envConfig: EnvConfig,
  policyName: PolicyName,
  n: number,
  seed: number,
): PolicyRun {
  const start = performance.now();
  const env = makeEnv({ ...envConfig, id: envId }, seed);
  const game = envId.split(":").pop()!;
  const paddleKey = PADDLE_KEY[game];
  const run: PolicyRun = {
    returns: [],
    lengths: [],
    ballDx: [],
    ballDy: [],
    paddleSpeed: [],
    ballSpeeds: {},
    paddleSpeeds: {},
    seconds: 0,
  };
  const count = (table: Record<string, number>, key: string) => {
    table[key] = (table[key] ?? 0) + 1;
  };
  try {
    for (let i = 0; i < n; i++) {
      const episodeSeed = deriveSeed(seed, `${policyName}/${i}`);
      const policy = makePolicy(policyName, env.spec, new Rng(episodeSeed));
      let { info } = env.reset(episodeSeed);
      let total = 0;
      let steps = 0;
      const sums = { dx: 0, dy: 0, flying: 0, paddle: 0, moves: 0 };
      for (;;) {
        const before: GameState = info.state;
        const livesBefore = info.lives;
        const r = env.step(policy(info));
        total += r.reward;
        steps++;
        info = r.info;
        const s = info.state;
        if (s.ballVisible && before.ballVisible) {
          const [dx, dy] = [Math.abs(s.ballDx), Math.abs(s.ballDy)];
          count(run.ballSpeeds, `${dx}/${dy}`);
          sums.dx += dx;
          sums.dy += dy;
          sums.flying++;
        }
        // A lost life moves the paddle back to its start: not a paddle speed.
        if (paddleKey && r.info.lives === livesBefore) {
          const moved = Math.abs(s[paddleKey] - before[paddleKey]);
          count(run.paddleSpeeds, String(moved));
          sums.paddle += moved;
          sums.moves++;
        }
        if (r.terminated || r.truncated) break;
      }
      run.returns.push(total);
      run.lengths.push(steps);
      if (sums.flying) {
        run.ballDx.push(sums.dx / sums.flying);
        run.ballDy.push(sums.dy / sums.flying);
      }
      if (sums.moves) run.paddleSpeed.push(sums.paddle / sums.moves);
    }
  } finally {
    env.close();
  }
  run.seconds = (performance.now() - start) / 1000;
  return run;
}

/** Mean, spread and quantiles. */
export function summarize(xs: number[]): Summary {
  const n = xs.length;
  const sorted = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  const q = (p: number) => sorted[Math.min(n - 1, Math.floor(p * n))];
  return {
    n,
    mean,
    sd,
    sem: sd / Math.sqrt(n),
    median: q(0.5),
    q10: q(0.1),
    q90: q(0.9),
    min: sorted[0],
    max: sorted[n - 1],
  };
}

/**
 * Two-sample Kolmogorov-Smirnov test: the largest gap between the empirical CDFs, and its
 * asymptotic p-value (with Stephens' small-sample correction).
 */
export function ksTest(a: number[], b: number[]): { d: number; p: number } {
  const xs = [...a].sort((x, y) => x - y);
  const ys = [...b].sort((x, y) => x - y);
  let i = 0, j = 0, d = 0;
  while (i < xs.length && j < ys.length) {
    const v = Math.min(xs[i], ys[j]);
    while (i < xs.length && xs[i] === v) i++;
    while (j < ys.length && ys[j] === v) j++;
    d = Math.max(d, Math.abs(i / xs.length - j / ys.length));
  }
  const ne = (xs.length * ys.length) / (xs.length + ys.length);
  const lambda = (Math.sqrt(ne) + 0.12 + 0.11 / Math.sqrt(ne)) * d;
  let p = 0;
  for (let k = 1; k <= 100; k++) p += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * lambda * lambda);
  return { d, p: lambda < 1e-3 ? 1 : Math.min(1, Math.max(0, p)) };
}

function comparePolicy(policy: PolicyName, native: PolicyRun, ale: PolicyRun): PolicyComparison {
  const metrics: PolicyComparison["metrics"] = {};
  const add = (name: string, a: number[], b: number[]) => {
    if (a.length && b.length) {
      metrics[name] = { native: summarize(a), ale: summarize(b), ks: ksTest(a, b) };
    }
  };
  add("return", native.returns, ale.returns);
  add("length (agent steps)", native.lengths, ale.lengths);
  add("ball |dx| (px/frame), episode mean", native.ballDx, ale.ballDx);
  add("ball |dy| (px/frame), episode mean", native.ballDy, ale.ballDy);
  add("paddle speed (px/step), episode mean", native.paddleSpeed, ale.paddleSpeed);
  return { policy, native, ale, metrics };
}

/** The first frame after reset of both envs (RGB, no no-op start). */
export function resetFrames(game: string): { native: Uint8Array; ale: Uint8Array } {
  const grab = (id: string) => {
    const env = makeEnv({ ...RAW_FRAMES, id }, 0);
    try {
      return env.reset(0).obs.slice();
    } finally {
      env.close();
    }
  };
  return { native: grab(`native:${game}`), ale: grab(`ale:${game}`) };
}

/** Breakout's brick rows (top y) and the x of the first brick. */
const BRICK_ROWS_Y = [57, 63, 69, 75, 81, 87];
const FIRST_BRICK_X = 8;

function compareFrames(game: string, frames: { native: Uint8Array; ale: Uint8Array }) {
  const { native, ale } = frames;
  const width = 160;
  let same = 0;
  const rows = new Set<number>();
  for (let p = 0; p < native.length / 3; p++) {
    const i = 3 * p;
    if (native[i] === ale[i] && native[i + 1] === ale[i + 1] && native[i + 2] === ale[i + 2]) {
      same++;
    } else rows.add(Math.floor(p / width));
  }
  const pixel = (
    f: Uint8Array,
    x: number,
    y: number,
  ) => [...f.subarray(3 * (y * width + x), 3 * (y * width + x) + 3)];
  const brickRows = game === "breakout"
    ? BRICK_ROWS_Y.map((y, row) => ({
      row,
      y,
      native: pixel(native, FIRST_BRICK_X, y),
      ale: pixel(ale, FIRST_BRICK_X, y),
    }))
    : [];
  return {
    identicalPixels: same / (native.length / 3),
    differingRows: [...rows].sort((a, b) => a - b),
    brickRows,
  };
}

/** A 32-bit FNV-1a hash of a frame (replays compare hashes, not kept frames). */
function hashFrame(frame: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < frame.length; i++) h = Math.imul(h ^ frame[i], 0x01000193);
  return h >>> 0;
}

interface Recording {
  actions: number[];
  hashes: number[];
  states: GameState[];
}

function record(env: Env, frames: number, seed: number): Recording {
  const policy = makePolicy("scripted", env.spec, new Rng(seed));
  let { obs, info } = env.reset(seed);
  const rec: Recording = { actions: [], hashes: [hashFrame(obs)], states: [info.state] };
  for (let t = 0; t < frames; t++) {
    const action = policy(info);
    const r = env.step(action);
    rec.actions.push(action);
    rec.hashes.push(hashFrame(r.obs));
    rec.states.push(r.info.state);
    ({ obs, info } = r);
    if (r.terminated || r.truncated) break;
  }
  return rec;
}

/** Plays a recording's actions on `env` reset with `seed`, comparing every frame. */
function compareReplay(env: Env, seed: number, rec: Recording, wholeGame: boolean): ReplayGame {
  const keys = env.spec.stateKeys;
  const result: ReplayGame = { frames: rec.hashes.length, identicalPrefix: 0, identicalFrames: 0 };
  let { obs, info } = env.reset(seed);
  for (let t = 0; t < rec.hashes.length; t++) {
    if (t > 0) ({ obs, info } = env.step(rec.actions[t - 1]));
    const differing = keys.filter((k) => info.state[k] !== rec.states[t][k]);
    const pixels = hashFrame(obs) !== rec.hashes[t];
    if (differing.length === 0 && !pixels) {
      result.identicalFrames++;
      if (!result.firstDifference) result.identicalPrefix++;
    } else if (!result.firstDifference) {
      result.firstDifference = { frame: t, keys: differing, pixels };
      if (!wholeGame) break;
    }
  }
  return result;
}

/**
 * Feeds a recorded ALE game's actions to the native game and compares frame hashes and states.
 * The native game's own random element (Breakout's serve phase, Pong's computer rest phase) is
 * aligned by trying env seeds and keeping the one that agrees longest.
 */
function replayNative(game: string, rec: Recording): ReplayGame {
  const env = makeEnv({ ...RAW_FRAMES, id: `native:${game}` }, 0);
  try {
    let best = { seed: 0, prefix: -1 };
    for (let seed = 0; seed < 64 && best.prefix < rec.hashes.length; seed++) {
      const prefix = compareReplay(env, seed, rec, false).identicalPrefix;
      if (prefix > best.prefix) best = { seed, prefix };
    }
    return compareReplay(env, best.seed, rec, true);
  } finally {
    env.close();
  }
}

/** Runs every comparison. `log` hears about progress. */
export function measureFidelity(
  config: FidelityConfig,
  log: (line: string) => void = () => {},
): FidelityResult {
  const { game, seed } = config;
  const policies: PolicyComparison[] = [];
  for (const [policy, n] of Object.entries(config.episodes) as [PolicyName, number][]) {
    if (!n) continue;
    const runs = ["native", "ale"].map((kind) => {
      const run = playEpisodes(`${kind}:${game}`, config.env, policy, n, seed);
      log(
        `${kind}:${game} ${policy}: ${n} games in ${run.seconds.toFixed(1)} s, mean return ` +
          `${summarize(run.returns).mean.toFixed(1)}, mean length ` +
          `${summarize(run.lengths).mean.toFixed(0)} steps`,
      );
      return run;
    });
    policies.push(comparePolicy(policy, runs[0], runs[1]));
  }
  const frames = compareFrames(game, resetFrames(game));
  log(`reset frame: ${(100 * frames.identicalPixels).toFixed(2)}% identical pixels`);
  const replay: ReplayGame[] = [];
  const ale = makeEnv({ ...RAW_FRAMES, id: `ale:${game}` }, seed);
  try {
    for (let g = 0; g < config.replay.games; g++) {
      const rec = record(ale, config.replay.frames, deriveSeed(seed, `replay/${g}`));
      const result = replayNative(game, rec);
      replay.push(result);
      log(
        `replay ${g}: ${result.identicalFrames}/${result.frames} frames identical, the first ` +
          `${result.identicalPrefix} in a row`,
      );
    }
  } finally {
    ale.close();
  }
  return { game, config, policies, frames, replay };
}

// ---- Report ----

function fmt(s: Summary): string {
  const digits = Math.abs(s.mean) >= 100 ? 0 : Math.abs(s.mean) >= 10 ? 1 : 2;
  const median = Number.isInteger(s.median) ? s.median : s.median.toFixed(digits + 1);
  return `${s.mean.toFixed(digits)} ± ${s.sem.toFixed(digits)} (median ${median})`;
}

/** The markdown tables of a result. */
export function fidelityTables(result: FidelityResult): string {
  const lines: string[] = [];
  lines.push(
    "| policy | metric | native | ALE | KS D | KS p |",
    "|---|---|---:|---:|---:|---:|",
  );
  for (const p of result.policies) {
    for (const [name, m] of Object.entries(p.metrics)) {
      lines.push(
        `| ${p.policy} | ${name.replaceAll("|", "\\|")} | ${fmt(m.native)} | ${fmt(m.ale)} | ${
          m.ks.d.toFixed(3)
        } | ${m.ks.p < 0.001 ? "<0.001" : m.ks.p.toFixed(3)} |`,
      );
    }
  }
  lines.push("", "Ball speeds met (share of agent steps with the ball in flight):", "");
  lines.push("| policy | \\|dx\\|/\\|dy\\| (px/frame) | native | ALE |", "|---|---|---:|---:|");
  for (const p of result.policies) {
    const keys = new Set([...Object.keys(p.native.ballSpeeds), ...Object.keys(p.ale.ballSpeeds)]);
    const total = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0) || 1;
    const [tn, ta] = [total(p.native.ballSpeeds), total(p.ale.ballSpeeds)];
    const sorted = [...keys].sort((a, b) =>
      (p.ale.ballSpeeds[b] ?? 0) / ta - (p.ale.ballSpeeds[a] ?? 0) / ta
    );
    for (const k of sorted) {
      const [sn, sa] = [(p.native.ballSpeeds[k] ?? 0) / tn, (p.ale.ballSpeeds[k] ?? 0) / ta];
      if (sn < 0.002 && sa < 0.002) continue;
      lines.push(
        `| ${p.policy} | ${k} | ${(100 * sn).toFixed(1)}% | ${(100 * sa).toFixed(1)}% |`,
      );
    }
  }
  const f = result.frames;
  lines.push(
    "",
    `Reset frame: ${(100 * f.identicalPixels).toFixed(2)}% of pixels identical` +
      (f.differingRows.length ? ` (differing rows: ${f.differingRows.join(", ")})` : "") + ".",
  );
  if (f.brickRows.length) {
    lines.push("", "| brick row | y | native RGB | ALE RGB |", "|---:|---:|---|---|");
    for (const r of f.brickRows) {
      lines.push(`| ${r.row} | ${r.y} | ${r.native.join(", ")} | ${r.ale.join(", ")} |`);
    }
  }
  lines.push(
    "",
    "Frame-exact replay (ALE games played frame by frame with the ball tracker, actions fed to " +
      "the native game):",
    "",
    "| game | frames | identical frames (RGB and state) | identical from the start | first difference |",
    "|---:|---:|---:|---:|---|",
  );
  result.replay.forEach((g, i) => {
    const d = g.firstDifference;
    const what = d
      ? `frame ${d.frame}: ${[...d.keys, ...(d.pixels ? ["pixels"] : [])].join(", ")}`
      : "none";
    const share = `${g.identicalFrames} (${(100 * g.identicalFrames / g.frames).toFixed(1)}%)`;
    lines.push(`| ${i} | ${g.frames} | ${share} | ${g.identicalPrefix} | ${what} |`);
  });
  return lines.join("\n");
}

/**
 * Blue native, red ALE. (No Plot legend: its swatches come first in the figure and
 * `plotToSvg` would keep one of them; the titles name the colours instead.)
 */
const NATIVE_ALE_COLORS = ["#1f77b4", "#d62728"];
const COLOR_KEY = "blue: native, red: ALE";

/** ECDF points of a sample, for step plots. */
function ecdf(xs: number[], fields: Record<string, string>) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.map((x, i) => ({ ...fields, x, y: (i + 1) / sorted.length }));
}

/** The figures of a result, as SVG text keyed by file name. */
export function fidelityFigures(result: FidelityResult): Record<string, string> {
  const figures: Record<string, string> = {};
  // One figure per policy and metric: their ranges differ too much to share an axis.
  for (const p of result.policies) {
    for (const [metric, pick] of [["return", "returns"], ["length", "lengths"]] as const) {
      const points = [
        ...ecdf(p.native[pick], { env: "native" }),
        ...ecdf(p.ale[pick], { env: "ALE" }),
      ];
      figures[`${metric}_ecdf_${p.policy}.svg`] = plotToSvg({
        title: `${result.game}, ${p.policy} policy: episode ${metric}`,
        subtitle: `share of episodes at or below (${COLOR_KEY})`,
        width: 360,
        height: 260,
        marginLeft: 40,
        x: { label: metric === "return" ? "return" : "length (agent steps)", grid: true },
        y: { label: null, domain: [0, 1] },
        color: { domain: ["native", "ALE"], range: NATIVE_ALE_COLORS },
        marks: [
          Plot.line(points, { x: "x", y: "y", z: "env", stroke: "env", curve: "step-after" }),
        ],
      });
    }
  }
  const speeds = result.policies.flatMap((p) =>
    (["native", "ale"] as const).flatMap((env) => {
      const table = p[env].ballSpeeds;
      const total = Object.values(table).reduce((a, b) => a + b, 0) || 1;
      return Object.entries(table).map(([speed, n]) => ({
        policy: p.policy,
        env: env === "ale" ? "ALE" : "native",
        speed,
        share: n / total,
      }));
    })
  ).filter((d) => d.share >= 0.002);
  figures["ball_speeds.svg"] = plotToSvg({
    title:
      `${result.game}: ball speeds |dx|/|dy| (px/frame), share of in-flight steps (${COLOR_KEY})`,
    width: 720,
    height: 320,
    marginBottom: 50,
    x: { label: null, tickRotate: -30 },
    y: { label: "share", grid: true },
    fx: { label: "policy" },
    color: { domain: ["native", "ALE"], range: NATIVE_ALE_COLORS },
    marks: [Plot.dot(speeds, { x: "speed", y: "share", fill: "env", fx: "policy", r: 4 })],
  });
  const paddle = result.policies.flatMap((p) =>
    (["native", "ale"] as const).flatMap((env) => {
      const table = p[env].paddleSpeeds;
      const total = Object.values(table).reduce((a, b) => a + b, 0) || 1;
      return Object.entries(table).map(([speed, n]) => ({
        policy: p.policy,
        env: env === "ale" ? "ALE" : "native",
        speed: Number(speed),
        share: n / total,
      }));
    })
  );
  figures["paddle_speeds.svg"] = plotToSvg({
    title: `${result.game}: paddle movement per agent step (px), share of steps (${COLOR_KEY})`,
    width: 720,
    height: 300,
    x: { label: "pixels per agent step" },
    y: { label: "share", grid: true, type: "sqrt" },
    fx: { label: "policy" },
    color: { domain: ["native", "ALE"], range: NATIVE_ALE_COLORS },
    marks: [Plot.dot(paddle, { x: "speed", y: "share", fill: "env", fx: "policy", r: 3 })],
  });
  return figures;
}

/**
 * Writes `<game>.json` (every number), `<game>_*.svg` figures and `<game>_reset_frames.png`
 * (native | ALE | differing pixels) into `dir`, and returns the game's markdown section.
 */
export async function writeFidelityReport(dir: string, result: FidelityResult): Promise<string> {
  await writeFileAtomic(join(dir, `${result.game}.json`), JSON.stringify(result, null, 1) + "\n");
  const figures = fidelityFigures(result);
  for (const [name, svg] of Object.entries(figures)) {
    await writeFileAtomic(join(dir, `${result.game}_${name}`), svg);
  }
  const frames = resetFrames(result.game);
  const diff = new Uint8Array(frames.native.length);
  for (let i = 0; i < diff.length; i += 3) {
    const differs = frames.native[i] !== frames.ale[i] ||
      frames.native[i + 1] !== frames.ale[i + 1] ||
      frames.native[i + 2] !== frames.ale[i + 2];
    diff.fill(differs ? 255 : 0, i, i + 3);
  }
  const tiled = tileFrames([frames.native, frames.ale, diff], {
    width: 160,
    height: 210,
    channels: 3,
    columns: 3,
    pad: 4,
  });
  await writeFileAtomic(
    join(dir, `${result.game}_reset_frames.png`),
    encodePng(
      upscaleNearest(tiled.data, tiled.width, tiled.height, 3, 2),
      tiled.width * 2,
      tiled.height * 2,
      3,
    ),
  );
  const image = (name: string) => `![${name}](${result.game}_${name})`;
  const c = result.config;
  const episodes = Object.entries(c.episodes).map(([p, n]) => `${n} ${p}`).join(", ");
  const lines = [
    `## ${result.game}: native vs real ALE`,
    "",
    `Both envs through the same wrapper stack (\`makeEnv\`, ids \`native:${result.game}\` and ` +
    `\`ale:${result.game}\`): skip ${c.env.frameSkip}${c.env.maxPool ? " + max-pool" : ""}, ` +
    `no-op start up to ${c.env.noopMax}, sticky actions ${c.env.stickyActions}, ` +
    `fire reset ${c.env.fireReset}, whole games (no episodic life), raw rewards, at most ` +
    `${c.env.maxEpisodeSteps} agent steps. Games per policy and env: ${episodes}; seed ${c.seed}. ` +
    "Ball and paddle speeds come from the ground-truth state (RAM-decoded on ALE). ± is the " +
    "standard error of the mean; KS: two-sample Kolmogorov-Smirnov test over episodes (small " +
    "p: the distributions differ; speeds are tested as one mean per episode, since the steps " +
    "of an episode are not independent).",
    "",
    fidelityTables(result),
    "",
    // The per-policy distributions side by side (inline images), the speeds below.
    Object.keys(figures).filter((n) => n.includes("_ecdf_")).map(image).join(" "),
    "",
    ...Object.keys(figures).filter((n) => !n.includes("_ecdf_")).map((n) => `${image(n)}\n`),
    `![reset frames: native, ALE, differing pixels](${result.game}_reset_frames.png)`,
    "",
  ];
  return lines.join("\n");
}
