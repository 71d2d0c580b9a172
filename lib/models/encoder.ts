/**
 * A frozen image encoder as the evaluations and agents see it: a config and its parameters,
 * stored as an artifact of its own, and how to turn uint8 frame stacks into one vector per frame
 * or into a grid of per-position vectors ({@linkcode embedFrames}).
 *
 * Two architectures, told apart by the config's `arch` ({@linkcode EncoderConfig}):
 * - a ViT (`arch` absent or `"vit"`; every pretraining method's encoder): one vector is the mean
 *   of the final tokens (or CLS), the grid is the final tokens over the patch grid;
 * - the Nature CNN of DQN / CleanRL (`arch: "cnn"`; e.g. an end-to-end RL agent's encoder): one
 *   vector is its dense output, the grid is its last convolution's feature map, the positions
 *   that AtariARI-style probes read.
 * A plain {@linkcode VitConfig} is an encoder config as it is, so ViT call sites need no tag;
 * callers that need a ViT (patch geometry) narrow with {@linkcode requireVit}, and sizes that
 * hold for both come from {@linkcode embeddingShape}.
 *
 * The artifact is one safetensors file, `encoder.safetensors`, that pretraining writes beside
 * every checkpoint it saves: the encoder's weights under their parameter paths, and in the
 * file's `__metadata__` a {@linkcode EncoderRecord} (the architecture, its config, what trained
 * it, the step). So {@linkcode loadEncoder} rebuilds the encoder from that file alone, without
 * the training method (predictor, EMA target, optimiser moments) it came from.
 *
 * @module
 */

import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  initNatureCnn,
  NATURE_CNN_CHANNELS,
  natureCnn,
  natureCnnFeatureMap,
  natureCnnGrid,
} from "../nn/cnn.ts";
import type { ByteImages } from "../nn/conv.ts";
import { flattenParams, type Params } from "../nn/params.ts";
import {
  initVit,
  patchify,
  pool,
  sincos2d,
  type VitConfig,
  vitEncode,
  vitGrid,
} from "../nn/vit.ts";
import { writeFileAtomic } from "../run/atomic.ts";
import {
  assignTensors,
  checkpointStep,
  decodeSafetensors,
  encodeSafetensors,
  safetensorsMetadata,
} from "../tensor/checkpoint.ts";
import { deriveSeed, Rng } from "../tensor/rng.ts";

/**
 * The Nature CNN as an encoder (`initNatureCnn` / `natureCnn` in `nn/cnn.ts`): its convolutions
 * are fixed (8x8/4 to 32, 4x4/2 to 64, 3x3/1 to 64 channels); the input and the dense layer's
 * width are what vary.
 */
export interface CnnConfig {
  arch: "cnn";
  /** `[height, width]` of the frames, in pixels. */
  imageSize: [number, number];
  /** Input channels: channels per frame times frames stacked. */
  channels: number;
  /**
   * Width of the dense output (the pooled embedding; CleanRL's 512). Named as `initNatureCnn`
   * names it rather than `width`, so that code reading a ViT's token width from `cfg.width`
   * fails to type-check on a CNN instead of mistaking this for its token width (64).
   */
  features: number;
}

/**
 * An encoder's architecture and shape. A ViT's `arch` is optional, so that every existing
 * {@linkcode VitConfig} is one as it is; narrow with `cfg.arch === "cnn"`.
 */
export type EncoderConfig = (VitConfig & { arch?: "vit" }) | CnnConfig;

/** The architecture tag: `EncoderConfig["arch"]`, with a ViT's spelled out. */
export type EncoderArch = "vit" | "cnn";

/** An encoder to evaluate; `FrozenEncoder<VitConfig>` ({@linkcode VitEncoder}) is a ViT. */
export interface FrozenEncoder<C extends EncoderConfig = EncoderConfig> {
  /** What it is, for tables: "ijepa", "ae", "random", ... */
  name: string;
  cfg: C;
  params: Params;
}

/** A ViT encoder: what callers that need patches take ({@linkcode requireVit}). */
export type VitEncoder = FrozenEncoder<VitConfig>;
/** A Nature CNN encoder. */
export type CnnEncoder = FrozenEncoder<CnnConfig>;

/** The architecture of `cfg` ("vit" when untagged). */
export function encoderArch(cfg: EncoderConfig): EncoderArch {
  return cfg.arch === "cnn" ? "cnn" : "vit";
}

/**
 * `enc` as a ViT, for a caller that needs one (patch geometry, a ViT agent, a pixel decoder
 * over patches): a CNN is an error naming `use` (that caller), rather than a wrong shape later.
 */
export function requireVit(enc: FrozenEncoder, use: string): VitEncoder {
  if (enc.cfg.arch === "cnn") {
    throw new Error(`${use} needs a ViT encoder, but ${enc.name} is a Nature CNN`);
  }
  // The check above narrowed `enc.cfg`; TypeScript does not carry that to `enc` itself.
  return enc as VitEncoder;
}

/**
 * What {@linkcode embedFrames} returns per frame: the pooled vector (`[width]`), or the grid of
 * per-position vectors (`[tokens, tokenWidth]`, row-major over the grid). For a ViT, pooled is
 * the mean of the final tokens (or CLS) and the grid its final tokens (without CLS); for a CNN,
 * pooled is its dense output and the grid its last feature map.
 */
export type Embedding = "pooled" | "tokens";

/** The sizes of an encoder's embeddings; see {@linkcode Embedding}. */
export interface EmbeddingShape {
  /** Width of the pooled vector. */
  width: number;
  /** Rows and columns of the grid, and their product (the number of positions). */
  rows: number;
  cols: number;
  tokens: number;
  /** Width of each grid vector: a ViT's `width`; a CNN's last feature map's channels (64). */
  tokenWidth: number;
}

/** The sizes of the embeddings of an encoder of shape `cfg`. */
export function embeddingShape(cfg: EncoderConfig): EmbeddingShape {
  if (cfg.arch === "cnn") {
    const [rows, cols] = natureCnnGrid(...cfg.imageSize);
    return {
      width: cfg.features,
      rows,
      cols,
      tokens: rows * cols,
      tokenWidth: NATURE_CNN_CHANNELS,
    };
  }
  const { rows, cols, tokens } = vitGrid(cfg);
  return { width: cfg.width, rows, cols, tokens, tokenWidth: cfg.width };
}

/**
 * Embeds `frames [B, H, W, C]` (uint8, channels last) in chunks of `batch`; returns `[B, width]`
 * floats, or `[B, tokens, tokenWidth]` with `embedding: "tokens"` ({@linkcode embeddingShape}).
 * Leaves no tensors behind.
 */
export function embedFrames(
  enc: FrozenEncoder,
  frames: Uint8Array,
  count: number,
  batch = 128,
  embedding: Embedding = "pooled",
): Float32Array {
  const [h, w] = enc.cfg.imageSize;
  const c = enc.cfg.channels;
  const shape = embeddingShape(enc.cfg);
  const perFrame = embedding === "pooled" ? shape.width : shape.tokens * shape.tokenWidth;
  const frameBytes = h * w * c;
  if (frames.length !== count * frameBytes) {
    throw new Error(`embedFrames: ${frames.length} bytes for ${count} frames of ${h}x${w}x${c}`);
  }
  const out = new Float32Array(count * perFrame);
  const chunks = enc.cfg.arch === "cnn"
    ? cnnChunks(enc.cfg, enc.params, embedding)
    : vitChunks(enc.cfg, enc.params, embedding);
  try {
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const bytes = frames.subarray(start * frameBytes, (start + n) * frameBytes);
      const z = tf.tidy(() => chunks.embed(bytes, n));
      out.set(z.dataSync(), start * perFrame);
      z.dispose();
    }
  } finally {
    chunks.dispose();
  }
  return out;
}

/**
 * How {@linkcode embedFrames} embeds one chunk of `n` frames (called inside a `tf.tidy`), and
 * frees what it keeps across chunks.
 */
interface ChunkEmbedder {
  embed(bytes: Uint8Array, n: number): tf.Tensor;
  dispose(): void;
}

/** A ViT's chunks: patches in, final tokens out; the position table is shared by all chunks. */
function vitChunks(cfg: VitConfig, params: Params, embedding: Embedding): ChunkEmbedder {
  const [h, w] = cfg.imageSize;
  const { rows, cols, tokens, patchDim } = vitGrid(cfg);
  const pos = tf.tensor3d(sincos2d(cfg.width, rows, cols), [1, tokens, cfg.width]);
  return {
    embed(bytes, n) {
      const patches = patchify(bytes, n, h, w, cfg.channels, cfg.patch);
      const out = vitEncode(params, cfg, tf.tensor3d(patches, [n, tokens, patchDim]), pos);
      if (embedding === "pooled") return pool(out, cfg.cls);
      return cfg.cls ? out.slice([0, 1, 0], [-1, tokens, -1]) : out;
    },
    dispose: () => pos.dispose(),
  };
}

/**
 * A CNN's chunks: the uint8 frames go straight into the first convolution, scaled by 1/255 as
 * CleanRL's agents scale them; `tokens` stops at the last feature map, `[n, rows, cols, 64]`,
 * whose row-major order is already `[n, positions, channels]`.
 */
function cnnChunks(cfg: CnnConfig, params: Params, embedding: Embedding): ChunkEmbedder {
  const [h, w] = cfg.imageSize;
  return {
    embed(bytes, n) {
      const images: ByteImages = { bytes, shape: [n, h, w, cfg.channels], scale: 1 / 255 };
      return embedding === "pooled"
        ? natureCnn(params, images)
        : natureCnnFeatureMap(params, images);
    },
    dispose: () => {},
  };
}

/** File name of an encoder artifact inside a checkpoint directory. */
export const ENCODER_FILE = "encoder.safetensors";
/** The `__metadata__` key that holds the {@linkcode EncoderRecord} as JSON. */
const RECORD_KEY = "jepa-atari-encoder";

/** What an encoder artifact says about itself. */
export interface EncoderRecord {
  format: "jepa-atari-encoder";
  version: 1;
  /**
   * The architecture (the config's `arch`, kept here rather than in `config`). Every artifact
   * so far says "vit"; one without it is read as a ViT. Readers from before CNN encoders reject
   * a "cnn" one with a clear error, so a ViT artifact stays readable by them at version 1.
   */
  kind: EncoderArch;
  /** What it is, for tables: "ijepa", "ae", "vjepa", ... */
  name: string;
  /** The shape fields of that architecture: the encoder's config without `arch`. */
  config: VitConfig | Omit<CnnConfig, "arch">;
  /** The training step of the checkpoint it was written with. */
  step: number;
  /** Where it came from (the training method and its config), for provenance only. */
  source: Record<string, unknown>;
}

/**
 * Writes `enc` as `<dir>/encoder.safetensors` (atomically), recording `step` and `source`.
 * Returns the file's path.
 */
export async function saveEncoder(
  dir: string,
  enc: FrozenEncoder,
  opts: { step: number; source?: Record<string, unknown> },
): Promise<string> {
  // The tag goes to `kind` alone, so that a ViT's record is byte for byte what it was before
  // CNN encoders (and what older readers expect).
  const { arch: _, ...config } = enc.cfg;
  const record: EncoderRecord = {
    format: RECORD_KEY,
    version: 1,
    kind: encoderArch(enc.cfg),
    name: enc.name,
    config,
    step: opts.step,
    source: opts.source ?? {},
  };
  const tensors = flattenParams(enc.params).map(([name, v]) =>
    [name, v.dataSync() as Float32Array, v.shape] as [string, Float32Array, number[]]
  );
  const path = join(dir, ENCODER_FILE);
  await writeFileAtomic(
    path,
    encodeSafetensors(tensors, { [RECORD_KEY]: JSON.stringify(record) }),
  );
  return path;
}

/** An error for a config field of an artifact: the file, the field, what it must be, what it is. */
function configError(file: string, cfg: Record<string, unknown>, field: string, want: string) {
  return new Error(
    `${file}: encoder config field '${field}' must be ${want}, got ${JSON.stringify(cfg[field])}`,
  );
}

/** The fields every architecture's config has: `imageSize`, and positive integer `ints`. */
function checkShapeFields(cfg: Record<string, unknown>, file: string, ints: string[]): void {
  const size = cfg.imageSize;
  if (
    !Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)
  ) {
    throw configError(file, cfg, "imageSize", "[height, width] in pixels");
  }
  for (const field of ints) {
    if (!(Number.isInteger(cfg[field]) && (cfg[field] as number) > 0)) {
      throw configError(file, cfg, field, "a positive integer");
    }
  }
  // The architecture is the record's `kind`; a tag in the config could only contradict it.
  if ("arch" in cfg) throw configError(file, cfg, "arch", "absent (the record's kind says it)");
}

/** The ViT shape fields an artifact's config must carry, with what each must be. */
function checkVitConfig(cfg: Record<string, unknown>, file: string): VitConfig {
  checkShapeFields(cfg, file, ["channels", "patch", "width", "depth", "heads"]);
  if (!(typeof cfg.mlpRatio === "number" && cfg.mlpRatio > 0)) {
    throw configError(file, cfg, "mlpRatio", "a positive number");
  }
  if (typeof cfg.cls !== "boolean") throw configError(file, cfg, "cls", "true or false");
  return cfg as unknown as VitConfig;
}

/** The Nature CNN shape fields an artifact's config must carry, with what each must be. */
function checkCnnConfig(cfg: Record<string, unknown>, file: string): CnnConfig {
  checkShapeFields(cfg, file, ["channels", "features"]);
  const [h, w] = cfg.imageSize as [number, number];
  try {
    natureCnnGrid(h, w);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message} (encoder config field 'imageSize')`);
  }
  const { imageSize, channels, features } = cfg as unknown as CnnConfig;
  return { arch: "cnn", imageSize, channels, features };
}

/** Fresh parameters of an encoder of shape `cfg`, drawn from `rng`. */
function initEncoder(rng: Rng, cfg: EncoderConfig): Params {
  return cfg.arch === "cnn"
    ? initNatureCnn(rng, [...cfg.imageSize, cfg.channels], cfg.features)
    : initVit(rng, cfg);
}

/** What an encoder of shape `cfg` is, for errors. */
function describeEncoder(cfg: EncoderConfig): string {
  return cfg.arch === "cnn"
    ? `Nature CNN (${cfg.features} features)`
    : `ViT (depth ${cfg.depth}, cls ${cfg.cls})`;
}

/**
 * Reads an encoder artifact: `path` is the file or the directory holding `encoder.safetensors`
 * (a checkpoint directory). Validates the record, its architecture (`kind`), the config and
 * every tensor's name and shape against the encoder the config describes; a checkpoint sidecar
 * of another step beside it (the run was killed between writing the two) is an error too. The
 * caller owns the variables.
 */
export function loadEncoder(path: string): { encoder: FrozenEncoder; record: EncoderRecord } {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const file = isDir ? join(path, ENCODER_FILE) : path;
  if (!existsSync(file)) {
    throw new Error(
      `${file}: no encoder artifact here (pretraining writes ${ENCODER_FILE} beside each ` +
        `checkpoint it saves; a checkpoint from before that has none: pretrain again)`,
    );
  }
  const raw = readFileSync(file);
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const text = safetensorsMetadata(bytes, file)[RECORD_KEY];
  if (text === undefined) {
    throw new Error(`${file}: not an encoder artifact (no ${RECORD_KEY} record)`);
  }
  let record: EncoderRecord;
  try {
    record = JSON.parse(text);
  } catch {
    throw new Error(`${file}: the ${RECORD_KEY} record is not valid JSON`);
  }
  if (record?.format !== RECORD_KEY || record.version !== 1) {
    throw new Error(
      `${file}: expected a version-1 ${RECORD_KEY} record, got format ${record?.format}, ` +
        `version ${record?.version}`,
    );
  }
  // No tag: an artifact from before the tag existed, which could only be a ViT.
  const kind: unknown = record.kind ?? "vit";
  if (kind !== "vit" && kind !== "cnn") {
    throw new Error(
      `${file}: encoder record field 'kind' must be "vit" or "cnn" (the architecture; absent ` +
        `means "vit"), got ${JSON.stringify(record.kind)}`,
    );
  }
  const config = record.config as unknown as Record<string, unknown>;
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${file}: no encoder config`);
  }
  const cfg: EncoderConfig = kind === "cnn"
    ? checkCnnConfig(config, file)
    : checkVitConfig(config, file);
  record = { ...record, kind };
  const step = checkpointStep(dirname(file));
  if (step !== null && step !== record.step) {
    throw new Error(
      `${file}: written at step ${record.step}, but the checkpoint beside it is at step ${step} ` +
        `(the run stopped between the two writes: resume it to rewrite both)`,
    );
  }
  const tensors = decodeSafetensors(bytes, file);
  const params = tf.tidy(() => initEncoder(new Rng(0), cfg));
  const vars = flattenParams(params);
  if (vars.length !== tensors.size) {
    tf.dispose(vars.map(([, v]) => v));
    throw new Error(
      `${file}: ${tensors.size} tensors for a ${describeEncoder(cfg)} of ${vars.length}`,
    );
  }
  try {
    assignTensors(vars, tensors, file);
  } catch (err) {
    tf.dispose(vars.map(([, v]) => v));
    throw err;
  }
  return { encoder: { name: record.name, cfg, params }, record };
}

/**
 * A randomly initialised encoder of shape `cfg` (the untrained control), drawn with `seed`. A
 * ViT is drawn as the autoencoder's encoder is at initialisation, so "random" is the
 * autoencoder before its first step; a CNN the same way, with CleanRL's orthogonal init.
 */
export function randomEncoder<C extends EncoderConfig>(cfg: C, seed: number): FrozenEncoder<C> {
  const params = tf.tidy(() => initEncoder(new Rng(deriveSeed(seed, "init")).fork("encoder"), cfg));
  return { name: "random", cfg, params };
}
