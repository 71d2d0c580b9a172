/**
 * The benchmark's encoders, each made for one seed on one dataset: the untrained ones (random
 * CNN and ViT, raw pixels), and the trained ones under `<dir>/<encoder>/` (checkpoints that
 * resume, and `encoder.safetensors` once finished, so a resumed benchmark loads rather than
 * retrains). Every trained method sees the same training episodes (one `valFraction` and seed).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Dataset } from "../../data/reader.ts";
import { encoderSubject, pixelSubject, type ProbeSubject } from "../../eval/encoder_probe.ts";
import {
  ENCODER_FILE,
  type FrozenEncoder,
  loadEncoder,
  randomEncoder,
  saveEncoder,
} from "../../models/encoder.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import type { OnStep } from "../../run/progress.ts";
import { deriveSeed } from "../../tensor/rng.ts";
import { evaluatedCheckpoint } from "../../train/loop.ts";
import { encoderConfig, pretrain, type PretrainConfig } from "../../train/pretrain.ts";
import { trainStdim } from "../../train/stdim.ts";
import { trainSupervised } from "../../train/supervised.ts";
import { trainTransitionModel, transitionFrozenEncoder } from "../../train/transition.ts";
import type { IjepaAblation, ProbeBenchConfig } from "./presets.ts";
import { axisScale, type BenchVariable } from "./variables.ts";

/** What an encoder of the benchmark is made from. */
export interface EncoderContext {
  cfg: ProbeBenchConfig;
  seed: number;
  ds: Dataset;
  variables: BenchVariable[];
  /** The seed's directory; trained encoders live in `<dir>/<name>/`. */
  dir: string;
  /** The encoder's key (its spec, data and seed hashed): files made under another are remade. */
  key: string;
  onStep?: OnStep;
  log?(line: string): void;
}

/** A made encoder: what the probes read, and its training steps (0 when untrained). */
export interface MadeEncoder {
  subject: ProbeSubject;
  steps: number;
  /** Seconds of training in the session that finished it (0 when untrained or not recorded). */
  seconds: number;
  /** Whether this call trained it (rather than loading it, or it being untrained). */
  trained: boolean;
}

/** The I-JEPA config of an ablation row: the recipe with the ablation's changes. */
export function ablatedIjepa(base: PretrainConfig, a: IjepaAblation): PretrainConfig {
  return {
    ...base,
    ...(a.regulariser ? { regulariser: a.regulariser } : {}),
    ...(a.centerTargets !== undefined ? { centerTargets: a.centerTargets } : {}),
    ...(a.pastAtTargets !== undefined ? { pastAtTargets: a.pastAtTargets } : {}),
    encoder: { ...base.encoder, patch: a.patch ?? base.encoder.patch },
    predictor: { ...base.predictor, width: a.predictorWidth ?? base.predictor.width },
    masks: { ...base.masks, motionTargets: a.motionTargets ?? base.masks.motionTargets },
    train: {
      ...base.train,
      steps: a.steps ?? base.train.steps,
      lr: a.lr ?? base.train.lr,
      ema: a.ema ?? base.train.ema,
    },
  };
}

/**
 * What makes encoder `name` besides the data and the seed: its method's config (the untrained
 * ones: their shape). The benchmark keys each encoder's files with it, so that a changed config
 * remakes exactly the encoders it changes.
 */
export function encoderSpec(
  name: string,
  cfg: ProbeBenchConfig,
  variables: BenchVariable[],
  frameShape: readonly number[],
): Record<string, unknown> {
  const cnn = { features: cfg.cnnFeatures };
  if (name === "majority" || name === "oracle") return {};
  if (name === "pixels") return { patch: cfg.ijepa.encoder.patch };
  if (name === "random-cnn") return cnn;
  if (name === "random-vit") return { encoder: cfg.ijepa.encoder };
  if (name === "ae") return { pretrain: cfg.ae };
  if (name === "ijepa") return { pretrain: cfg.ijepa };
  if (name === "vjepa") return { pretrain: cfg.vjepa };
  if (name === "vicreg") return { transition: cfg.vicreg };
  if (name === "stdim") return { ...cnn, train: cfg.stdim };
  if (name === "supervised") {
    return { ...cnn, train: cfg.supervised, targets: supervisedTargets(variables, frameShape) };
  }
  if (name.startsWith("ijepa:")) {
    const ablation = cfg.ablations.find((a) => `ijepa:${a.name}` === name);
    if (ablation) return { pretrain: ablatedIjepa(cfg.ijepa, ablation) };
  }
  const artifact = cfg.artifacts.find((a) => a.name === name);
  if (artifact) return { artifact: fileDigest(artifact.path) };
  throw new Error(`probe-bench: unknown encoder '${name}'`);
}

/** SHA-256 of a file (an artifact's identity in the keys); a missing file is an error naming it. */
function fileDigest(path: string): string {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, ENCODER_FILE) : path;
  if (!existsSync(file)) throw new Error(`artifacts: ${file}: no such encoder artifact`);
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * An encoder artifact loaded for the benchmark's frames: one made for another frame size or
 * stack is an error naming the file, what it expects and what the dataset gives.
 */
export function loadArtifact(path: string, frameShape: readonly number[], stack: number) {
  const { encoder } = loadEncoder(path);
  const [h, w, c] = frameShape;
  const { imageSize, channels } = encoder.cfg;
  if (imageSize[0] !== h || imageSize[1] !== w || channels !== c * stack) {
    throw new Error(
      `${path}: the encoder takes ${imageSize[1]}x${imageSize[0]} frames with ${channels} ` +
        `channels; the benchmark gives ${w}x${h} frames of ${c} channel(s) stacked ${stack} ` +
        `(${c * stack} channels)`,
    );
  }
  return encoder;
}

/** The supervised heads: one per variable, classed as the probe classes it. */
function supervisedTargets(variables: BenchVariable[], frameShape: readonly number[]) {
  return variables.map((v) => ({
    key: v.key,
    ...(v.when ? { when: v.when } : {}),
    ...(v.axis ? { scale: axisScale(v.axis, frameShape) } : {}),
  }));
}

/** The benchmark's names of the I-JEPA rows: the recipe, then `ijepa:<ablation>` each. */
export function ijepaRows(cfg: ProbeBenchConfig): string[] {
  return ["ijepa", ...cfg.ablations.map((a) => `ijepa:${a.name}`)];
}

/**
 * Makes (or loads, when finished before) the encoder `name` for one seed; `name` is one of
 * `BENCH_ENCODERS` other than `majority` and `oracle` (label-only rows), or an `ijepa:<ablation>` row.
 */
export async function makeEncoder(name: string, ctx: EncoderContext): Promise<MadeEncoder> {
  const { cfg, seed, ds } = ctx;
  const [h, w, c] = ds.frameShape;
  const channels = c * cfg.stack;
  const untrained = (subject: ProbeSubject) => ({ subject, steps: 0, seconds: 0, trained: false });
  if (name === "pixels") {
    return untrained(pixelSubject(ds.frameShape, cfg.stack, cfg.ijepa.encoder.patch));
  }
  if (name === "random-cnn") {
    const enc = randomEncoder(
      { arch: "cnn", imageSize: [h, w], channels, features: cfg.cnnFeatures },
      deriveSeed(seed, name),
    );
    return untrained(encoderSubject({ ...enc, name }));
  }
  if (name === "random-vit") {
    const enc = randomEncoder(
      encoderConfig(pretrainConfig(cfg.ijepa, ctx), ds.frameShape),
      deriveSeed(seed, name),
    );
    return untrained(encoderSubject({ ...enc, name }));
  }
  const artifact = cfg.artifacts.find((a) => a.name === name);
  if (artifact) {
    const enc = loadArtifact(artifact.path, ds.frameShape, cfg.stack);
    return untrained(encoderSubject({ ...enc, name }));
  }
  const dir = join(ctx.dir, name.replace(":", "-"));
  // The directory belongs to one spec: made for another, it starts over.
  const keyFile = join(dir, "key.json");
  const key = JSON.stringify({ key: ctx.key }) + "\n";
  if (existsSync(dir) && (!existsSync(keyFile) || readFileSync(keyFile, "utf8") !== key)) {
    ctx.log?.(`${dir} was made with another config: starting ${name} over`);
    rmSync(dir, { recursive: true });
  }
  if (!existsSync(keyFile)) await writeFileAtomic(keyFile, key);
  const finished = join(dir, ENCODER_FILE);
  if (existsSync(finished)) {
    const { encoder, record } = loadEncoder(finished);
    const seconds = Number(record.source.seconds ?? 0);
    return {
      subject: encoderSubject({ ...encoder, name }),
      steps: record.step,
      seconds,
      trained: false,
    };
  }
  const start = performance.now();
  const { encoder, steps, source } = await train(name, ctx, join(dir, "checkpoints"));
  // The session that finished training (an interrupted one's earlier sessions are not counted).
  const seconds = (performance.now() - start) / 1000;
  await saveEncoder(dir, { ...encoder, name }, { step: steps, source: { ...source, seconds } });
  return { subject: encoderSubject({ ...encoder, name }), steps, seconds, trained: true };
}

/** A method's config with the benchmark's seed, stack and split. */
function pretrainConfig(base: PretrainConfig, ctx: EncoderContext): PretrainConfig {
  return { ...base, seed: ctx.seed, stack: ctx.cfg.stack, valFraction: ctx.cfg.valFraction };
}

async function train(
  name: string,
  ctx: EncoderContext,
  checkpointDir: string,
): Promise<{ encoder: FrozenEncoder; steps: number; source: Record<string, unknown> }> {
  const { cfg, seed, ds, onStep } = ctx;
  const opts = { checkpointDir, resume: true };
  const hooks = { onStep };
  const common = { seed, stack: cfg.stack, valFraction: cfg.valFraction };
  const spec = encoderSpec(name, cfg, ctx.variables, ds.frameShape);
  if (spec.pretrain) {
    const config = pretrainConfig(spec.pretrain as PretrainConfig, ctx);
    await pretrain(config, ds, opts, hooks);
    // Under early stopping the best checkpoint's encoder, as every study evaluates it.
    const { encoder, record } = loadEncoder(evaluatedCheckpoint(checkpointDir));
    return { encoder, steps: record.step, source: { method: config.method, config } };
  }
  if (spec.transition) {
    const config = { ...cfg.vicreg, ...common };
    const { model, result } = await trainTransitionModel(config, "vicreg", ds, opts, hooks);
    return {
      encoder: transitionFrozenEncoder(model),
      steps: result.steps,
      source: { method: "vicreg", config },
    };
  }
  if (name === "stdim") {
    const config = { ...common, features: cfg.cnnFeatures, train: cfg.stdim };
    const { encoder, result } = await trainStdim(config, ds, opts, hooks);
    return { encoder, steps: result.steps, source: { method: "stdim", config } };
  }
  if (name === "supervised") {
    const targets = supervisedTargets(ctx.variables, ds.frameShape);
    const config = { ...common, features: cfg.cnnFeatures, targets, train: cfg.supervised };
    const { encoder, result } = await trainSupervised(config, ds, opts, hooks);
    return { encoder, steps: result.steps, source: { method: "supervised", config } };
  }
  throw new Error(`probe-bench: '${name}' is not a trained encoder`);
}
