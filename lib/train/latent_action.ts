/**
 * Training and evaluating the latent-action model (`lib/models/latent_action.ts`) on the
 * transitions of one dataset (gray frames), in the shared loop (`loop.ts`: exact resume, the NaN
 * guard, checkpoints). After every step the batch's codes feed the usage EMA, and every
 * `usage.resetEvery` steps the codes whose share fell below `usage.deadThreshold / K` are reset
 * to encoder outputs of that batch (drawn from a stream seeded by the step, so a resumed run
 * resets the same codes). With `contextNoise` > 0 the world model's context frames are trained
 * with Gaussian noise of that std (seeded by the step), clipped to [0, 1], while the target stays
 * clean: in a rollout the context is the model's own imperfect output, and a model that has only
 * seen real frames compounds its errors (noise augmentation, as GameNGen does).
 *
 * {@linkcode evaluateLatentAction} measures, on held-out episodes:
 * - next-frame PSNR and SSIM with the inferred code, beside copying the last frame;
 * - codebook use (share of codes chosen), perplexity, and the codes' spread (a collapsed
 *   codebook is used evenly and means nothing);
 * - rollouts of `horizon` steps from a real stack, each step's code inferred from the real pair
 *   or drawn at random (and copy-last), PSNR against the real frames per step; Genie's
 *   controllability delta-t PSNR = PSNR(inferred) - PSNR(random) at `deltaAt`, with a bootstrap
 *   interval over the sequences.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { sequenceBatches, splitEpisodes } from "../data/batches.ts";
import type { Dataset } from "../data/reader.ts";
import { batchImageMetrics, changedFrames, framePsnr, maskedMean } from "../eval/image_metrics.ts";
import { percentile } from "../eval/robustness_stats.ts";
import {
  inferCodes,
  initLatentAction,
  type LatentActionConfig,
  latentActionLoss,
  type LatentActionModel,
  predictWithCodes,
} from "../models/latent_action.ts";
import { namedParams } from "../nn/params.ts";
import { patchify, unpatchifyFloats, type VitConfig, vitGrid } from "../nn/vit.ts";
import { codebookSpread, codebookStats, CodeUsage } from "../nn/vq.ts";
import { assignTensors, loadCheckpoint } from "../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";
import { type LoopHooks, type LoopResult, type LoopSchedule, trainLoop } from "./loop.ts";
import { type TransitionBatch, transitionBatches, windowsIn } from "./transition.ts";

/** Everything that defines a training run. */
export interface LatentActionTrainConfig {
  seed: number;
  /** Frames in the world model's context stack. */
  stack: number;
  valFraction: number;
  /** Encoders' shapes (image size and channels follow the dataset); the patch is shared. */
  encoder: Omit<VitConfig, "imageSize" | "channels">;
  actionEncoder: Omit<VitConfig, "imageSize" | "channels" | "patch">;
  decoder: LatentActionConfig["decoder"];
  codes: number;
  codeDim: number;
  commitment: number;
  /** The latent action encoder's input and the changing pixels' weight (module doc of the model). */
  pairInput?: "frames" | "difference";
  changeWeight?: number;
  /** The weight of the variance hinge that keeps the latent action encoder's outputs apart. */
  spreadWeight?: number;
  /** Std of the Gaussian noise on the training context frames, pixels in [0, 1] (module doc). */
  contextNoise?: number;
  usage: { decay: number; deadThreshold: number; resetEvery: number };
  train: LoopSchedule;
  /** Held-out transitions (and sequences) the evaluation uses, and the rollout length. */
  eval: { rows: number; horizon: number; deltaAt: number };
}

/** The model config for a dataset's frames `[h, w, 1]`. */
export function latentActionModelConfig(
  cfg: LatentActionTrainConfig,
  frameShape: readonly number[],
): LatentActionConfig {
  const [h, w, c] = frameShape;
  if (c !== 1) {
    throw new Error(`latent action: frames must be gray (1 channel), the dataset's have ${c}`);
  }
  const imageSize: [number, number] = [h, w];
  return {
    encoder: { ...cfg.encoder, imageSize, channels: cfg.stack },
    actionEncoder: { ...cfg.actionEncoder, patch: cfg.encoder.patch, imageSize, channels: 2 },
    decoder: cfg.decoder,
    codes: cfg.codes,
    codeDim: cfg.codeDim,
    commitment: cfg.commitment,
    pairInput: cfg.pairInput ?? "frames",
    changeWeight: cfg.changeWeight ?? 0,
    spreadWeight: cfg.spreadWeight ?? 0,
  };
}

/** Every variable of a model, by checkpoint name (the usage shares beside it, when given). */
function variables(m: LatentActionModel, usage?: CodeUsage) {
  const trainable = [
    ...namedParams("world/encoder", m.world.encoder),
    ...namedParams("world/decoder", m.world.decoder),
    ...namedParams("action/encoder", m.actionEncoder),
    ...namedParams("action/project", m.project),
    ["codebook", m.codebook] as [string, tf.Variable],
  ];
  const shares = usage ? [["usage", usage.share] as [string, tf.Variable]] : [];
  return { trainable, all: [...trainable, ...shares] };
}

/** Patches of two-frame images (x_t, x_t+1), channels interleaved as `patchify` lays them. */
export function pairPatches(last: Float32Array, next: Float32Array): Float32Array {
  const out = new Float32Array(2 * last.length);
  for (let i = 0; i < last.length; i++) {
    out[2 * i] = last[i];
    out[2 * i + 1] = next[i];
  }
  return out;
}

function batchTensors(m: LatentActionModel, x: TransitionBatch) {
  const { tokens, patchDim } = vitGrid(m.cfg.encoder);
  const p = m.cfg.encoder.patch;
  return {
    context: tf.tensor3d(x.now, [x.b, tokens, patchDim]),
    pairs: tf.tensor3d(pairPatches(x.lastFrame, x.nextFrame), [x.b, tokens, 2 * p * p]),
    target: tf.tensor3d(x.nextFrame, [x.b, tokens, p * p]),
  };
}

/** Trains (or resumes) a model on `ds`; the caller disposes it (`disposeLatentAction`). */
export async function trainLatentAction(
  cfg: LatentActionTrainConfig,
  ds: Dataset,
  opts: { checkpointDir: string; resume?: boolean; stopAfter?: number },
  hooks: LoopHooks = {},
): Promise<{ model: LatentActionModel; usage: CodeUsage; result: LoopResult }> {
  const model = initLatentAction(
    new Rng(deriveSeed(cfg.seed, "init")),
    latentActionModelConfig(cfg, ds.frameShape),
  );
  const usage = new CodeUsage(cfg.codes, cfg.usage.decay);
  const { trainable, all } = variables(model, usage);
  const { train } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const t = cfg.train;
  let last: { codes: Int32Array; ze: Float32Array } | null = null;
  const result = await trainLoop<TransitionBatch>(
    {
      trainable,
      all,
      perEpoch: Math.floor(windowsIn(ds, train) / t.batchSize),
      epoch: (e) =>
        transitionBatches(ds, cfg, train, t.batchSize, deriveSeed(cfg.seed, `epoch/${e}`), true),
      loss: (batch, step) => {
        const x = batchTensors(model, batch);
        const noise = cfg.contextNoise ?? 0;
        if (noise > 0) {
          const seed = deriveSeed(cfg.seed, `context-noise/${step}`);
          x.context = tf.clipByValue(
            tf.add(x.context, tf.randomNormal(x.context.shape, 0, noise, "float32", seed)),
            0,
            1,
          );
        }
        const out = latentActionLoss(model, x);
        last = { codes: out.codes, ze: out.ze };
        return out.total;
      },
      afterStep: (step) => {
        if (!last) return;
        usage.update(last.codes);
        if ((step + 1) % cfg.usage.resetEvery === 0) {
          const dead = usage.dead(cfg.usage.deadThreshold);
          usage.reset(
            model.codebook,
            dead,
            last.ze,
            new Rng(deriveSeed(cfg.seed, `reset/${step}`)),
          );
        }
      },
    },
    t,
    {
      checkpointDir: opts.checkpointDir,
      resume: opts.resume,
      stopAfter: opts.stopAfter,
      config: cfg,
      extra: { frameShape: ds.frameShape },
      label: "latent action",
    },
    hooks,
  );
  return { model, usage, result };
}

/** Frees a model's variables. */
export function disposeLatentAction(m: LatentActionModel, usage?: CodeUsage): void {
  for (const [, v] of variables(m, usage).all) v.dispose();
}

/** Rebuilds a trained model from its checkpoint directory. */
export function loadLatentAction(
  checkpointDir: string,
): { model: LatentActionModel; cfg: LatentActionTrainConfig } {
  const { meta, tensors } = loadCheckpoint(checkpointDir);
  const cfg = meta.config as LatentActionTrainConfig;
  const frameShape = (meta.extra as { frameShape: number[] }).frameShape;
  const model = initLatentAction(new Rng(0), latentActionModelConfig(cfg, frameShape));
  const usage = new CodeUsage(cfg.codes);
  assignTensors(variables(model, usage).all, tensors, checkpointDir);
  usage.dispose();
  return { model, cfg };
}

/** What {@linkcode evaluateLatentAction} reports. */
export interface LatentActionEval {
  psnr: number;
  copyLastPsnr: number;
  /**
   * PSNR on the held-out transitions whose next frame differs from the last (their share:
   * `changedShare`), where copying cannot score an exact match (`image_metrics.ts`).
   */
  psnrChanged: number;
  copyLastPsnrChanged: number;
  changedShare: number;
  ssim: number;
  copyLastSsim: number;
  /** Share of the K codes chosen on the held-out pairs, and the perplexity of their histogram. */
  codebookUse: number;
  perplexity: number;
  /** Median distance between codes over their mean norm (`codebookSpread`; ~0: collapsed). */
  codeSpread: number;
  /**
   * Per horizon step (1-based): mean PSNR of the rollouts and of copying the first frame; the
   * same over the sequences whose real frame at that step differs from the first (`changed`).
   */
  rollout: {
    step: number;
    inferred: number;
    random: number;
    copyLast: number;
    changed: { share: number; inferred: number; random: number; copyLast: number };
  }[];
  /** Genie's controllability at `deltaAt`: mean, and a 95% bootstrap interval over sequences. */
  deltaPsnr: { at: number; mean: number; ci95: [number, number] };
  rows: number;
  sequences: number;
}

/** The newest frame of stack patches `[B, N, p*p*k]` as patches `[B, N, p*p]`. */
function newestOf(stack: Float32Array, rows: number, pp: number, k: number): Float32Array {
  const out = new Float32Array(rows * pp);
  for (let i = 0; i < rows * pp; i++) out[i] = stack[i * k + k - 1];
  return out;
}

/** The stack with its oldest frame dropped and `frame` (`[B, N, p*p]`) appended. */
function pushFrame(stack: Float32Array, frame: Float32Array, k: number): Float32Array {
  const out = new Float32Array(stack.length);
  for (let i = 0; i < frame.length; i++) {
    for (let j = 0; j < k - 1; j++) out[i * k + j] = stack[i * k + j + 1];
    out[i * k + k - 1] = Math.min(1, Math.max(0, frame[i]));
  }
  return out;
}

/**
 * `length` consecutive stacks (patches `[b, N, p*p*k]`) of up to `eval.rows / 2` sequences from
 * held-out episodes, and their newest frames (`[b, N, p*p]`), step by step.
 */
export function heldOutSequences(
  cfg: LatentActionTrainConfig,
  ds: Dataset,
  length: number,
): { stacks: Float32Array[]; frames: Float32Array[]; b: number } {
  const { val } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  const [h, w] = ds.frameShape;
  const p = cfg.encoder.patch;
  const k = cfg.stack;
  const seq = sequenceBatches(ds, {
    episodes: val,
    batchSize: Math.max(1, Math.floor(cfg.eval.rows / 2)),
    stack: k,
    length,
    seed: deriveSeed(cfg.seed, "rollout"),
    dropLast: false,
  }).next().value;
  if (!seq) throw new Error(`latent action: no held-out sequence of ${length} steps`);
  const [b, , , , ck] = seq.shape;
  const stackBytes = h * w * ck;
  const tokens = (h / p) * (w / p);
  const stacks = Array.from({ length }, (_, s) => {
    const bytes = new Uint8Array(b * stackBytes);
    for (let i = 0; i < b; i++) {
      const at = (i * length + s) * stackBytes;
      bytes.set(seq.frames.subarray(at, at + stackBytes), i * stackBytes);
    }
    return patchify(bytes, b, h, w, ck, p);
  });
  return { stacks, frames: stacks.map((st) => newestOf(st, b * tokens, p * p, k)), b };
}

/**
 * A rollout of `steps` steps in the model from `start` (stack patches `[b, N, p*p*k]`): each
 * step's codes from `codesAt(step)`, each predicted frame (clipped to [0, 1]) pushed into the
 * stack the next step reads. Returns the predicted frames' patches `[b, N, p*p]` per step.
 */
export function rollout(
  model: LatentActionModel,
  start: Float32Array,
  b: number,
  steps: number,
  codesAt: (step: number) => Int32Array,
): Float32Array[] {
  const { tokens } = vitGrid(model.cfg.encoder);
  const k = model.cfg.encoder.channels;
  const pp = model.cfg.encoder.patch ** 2;
  const frames: Float32Array[] = [];
  let stack = start;
  for (let s = 0; s < steps; s++) {
    const codes = codesAt(s);
    const next = tf.tidy(() =>
      predictWithCodes(model, tf.tensor3d(stack, [b, tokens, pp * k]), codes)
        .dataSync() as Float32Array
    );
    stack = pushFrame(stack, next, k);
    frames.push(next.map((v) => Math.min(1, Math.max(0, v))));
  }
  return frames;
}

/** Evaluates a trained model on held-out episodes; see the module doc. */
export function evaluateLatentAction(
  cfg: LatentActionTrainConfig,
  ds: Dataset,
  model: LatentActionModel,
): LatentActionEval {
  const { val } = splitEpisodes(ds, { valFraction: cfg.valFraction, seed: cfg.seed });
  if (val.length === 0) throw new Error("latent action: the dataset needs held-out episodes");
  const [h, w] = ds.frameShape;
  const p = cfg.encoder.patch;
  const pp = p * p;
  const { tokens } = vitGrid(model.cfg.encoder);
  const frame = (patches: Float32Array, b: number) => unpatchifyFloats(patches, b, h, w, 1, p);

  // One-step prediction on held-out transitions.
  const x = transitionBatches(ds, cfg, val, cfg.eval.rows, cfg.seed, false).next().value;
  if (!x) throw new Error("latent action: no held-out transitions");
  const codes = tf.tidy(() => inferCodes(model, batchTensors(model, x).pairs));
  const predicted = tf.tidy(() => {
    const t = batchTensors(model, x);
    return predictWithCodes(model, t.context, codes).dataSync() as Float32Array;
  });
  const target = frame(x.nextFrame, x.b);
  const model1 = batchImageMetrics(frame(predicted, x.b), target, x.b, h, w);
  const copy1 = batchImageMetrics(frame(x.lastFrame, x.b), target, x.b, h, w);
  const changed1 = changedFrames(x.lastFrame, x.nextFrame, x.b, h * w);
  const stats = codebookStats(codes, cfg.codes);

  // Rollouts: sequences of horizon + 1 stacks inside held-out episodes.
  const H = cfg.eval.horizon;
  const { stacks: realStacks, frames: realFrames, b } = heldOutSequences(cfg, ds, H + 1);
  const rng = new Rng(deriveSeed(cfg.seed, "random-codes"));
  const inferredCodes = (s: number) =>
    tf.tidy(() =>
      inferCodes(
        model,
        tf.tensor3d(pairPatches(realFrames[s], realFrames[s + 1]), [b, tokens, 2 * pp]),
      )
    );
  const randomCodes = () => Int32Array.from({ length: b }, () => rng.int(cfg.codes));
  // PSNR does not depend on the order of the pixels: each frame's patches are scored as they are.
  const size = tokens * pp;
  const psnrs = (frames: Float32Array[]) =>
    frames.map((f, s) =>
      Array.from({ length: b }, (_, i) =>
        framePsnr(
          f.subarray(i * size, (i + 1) * size),
          realFrames[s + 1].subarray(i * size, (i + 1) * size),
        ))
    );
  const perSeq = {
    inferred: psnrs(rollout(model, realStacks[0], b, H, inferredCodes)),
    random: psnrs(rollout(model, realStacks[0], b, H, randomCodes)),
    copy: psnrs(Array.from({ length: H }, () => realFrames[0])),
  };
  const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
  const movedSince = realFrames.slice(1).map((f) => changedFrames(realFrames[0], f, b, size));
  const at = Math.min(cfg.eval.deltaAt, H) - 1;
  const deltas = perSeq.inferred[at].map((v, i) => v - perSeq.random[at][i]);
  return {
    psnr: model1.psnr,
    copyLastPsnr: copy1.psnr,
    psnrChanged: maskedMean(model1.perFramePsnr, changed1),
    copyLastPsnrChanged: maskedMean(copy1.perFramePsnr, changed1),
    changedShare: changed1.filter(Boolean).length / x.b,
    ssim: model1.ssim,
    copyLastSsim: copy1.ssim,
    codebookUse: stats.used,
    perplexity: stats.perplexity,
    codeSpread: codebookSpread(model.codebook.dataSync() as Float32Array, cfg.codes),
    rollout: perSeq.inferred.map((xs, s) => ({
      step: s + 1,
      inferred: mean(xs),
      random: mean(perSeq.random[s]),
      copyLast: mean(perSeq.copy[s]),
      changed: {
        share: movedSince[s].filter(Boolean).length / b,
        inferred: maskedMean(xs, movedSince[s]),
        random: maskedMean(perSeq.random[s], movedSince[s]),
        copyLast: maskedMean(perSeq.copy[s], movedSince[s]),
      },
    })),
    deltaPsnr: {
      at: at + 1,
      mean: mean(deltas),
      ci95: bootstrapMean(deltas, deriveSeed(cfg.seed, "bootstrap")),
    },
    rows: x.b,
    sequences: b,
  };
}

/** A 95% percentile bootstrap interval of the mean (2000 resamples). */
function bootstrapMean(xs: number[], seed: number): [number, number] {
  const rng = new Rng(seed);
  const means = Array.from({ length: 2000 }, () => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)];
    return s / xs.length;
  }).sort((a, b) => a - b);
  return [percentile(means, 0.025), percentile(means, 0.975)];
}
