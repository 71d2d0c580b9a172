/**
 * A frozen image encoder as the evaluations and agents see it: a ViT config and its parameters,
 * stored as an artifact of its own, and how to turn uint8 frame stacks into one vector per frame
 * (mean of the final tokens, or CLS), or into the grid of final tokens.
 *
 * The artifact is one safetensors file, `encoder.safetensors`, that pretraining writes beside
 * every checkpoint it saves: the encoder's weights under their parameter paths, and in the
 * file's `__metadata__` a {@linkcode EncoderRecord} (the config, what trained it, the step). So
 * {@linkcode loadEncoder} rebuilds the encoder from that file alone, without the training method
 * (predictor, EMA target, optimiser moments) it came from.
 *
 * @module
 */

import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
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

/** An encoder to evaluate. */
export interface FrozenEncoder {
  /** What it is, for tables: "ijepa", "ae", "random", ... */
  name: string;
  cfg: VitConfig;
  params: Params;
}

/**
 * What {@linkcode embedFrames} returns per frame: the pooled vector (`[width]`), or every final
 * token (`[tokens, width]`, row-major over the patch grid; without CLS).
 */
export type Embedding = "pooled" | "tokens";

/**
 * Embeds `frames [B, H, W, C]` (uint8, channels last) in chunks of `batch`; returns `[B, width]`
 * floats, or `[B, tokens, width]` with `embedding: "tokens"`.
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
  const { tokens, patchDim } = vitGrid(enc.cfg);
  const d = enc.cfg.width;
  const perFrame = embedding === "pooled" ? d : tokens * d;
  const frameBytes = h * w * c;
  if (frames.length !== count * frameBytes) {
    throw new Error(`embedFrames: ${frames.length} bytes for ${count} frames of ${h}x${w}x${c}`);
  }
  const out = new Float32Array(count * perFrame);
  const pos = tf.tensor3d(
    sincos2d(d, enc.cfg.imageSize[0] / enc.cfg.patch, enc.cfg.imageSize[1] / enc.cfg.patch),
    [1, tokens, d],
  );
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const patches = patchify(
      frames.subarray(start * frameBytes, (start + n) * frameBytes),
      n,
      h,
      w,
      c,
      enc.cfg.patch,
    );
    const z = tf.tidy(() => {
      const h = vitEncode(enc.params, enc.cfg, tf.tensor3d(patches, [n, tokens, patchDim]), pos);
      if (embedding === "pooled") return pool(h, enc.cfg.cls);
      return enc.cfg.cls ? h.slice([0, 1, 0], [-1, tokens, -1]) : h;
    });
    out.set(z.dataSync(), start * perFrame);
    z.dispose();
  }
  pos.dispose();
  return out;
}

/** File name of an encoder artifact inside a checkpoint directory. */
export const ENCODER_FILE = "encoder.safetensors";
/** The `__metadata__` key that holds the {@linkcode EncoderRecord} as JSON. */
const RECORD_KEY = "jepa-atari-encoder";

/** What an encoder artifact says about itself. */
export interface EncoderRecord {
  format: "jepa-atari-encoder";
  version: 1;
  kind: "vit";
  /** What it is, for tables: "ijepa", "ae", "vjepa", ... */
  name: string;
  config: VitConfig;
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
  const record: EncoderRecord = {
    format: RECORD_KEY,
    version: 1,
    kind: "vit",
    name: enc.name,
    config: enc.cfg,
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

/** The ViT shape fields an artifact's config must carry, with what each must be. */
function checkVitConfig(c: unknown, file: string): VitConfig {
  const cfg = c as Record<string, unknown>;
  const bad = (field: string, want: string) =>
    new Error(
      `${file}: encoder config field '${field}' must be ${want}, got ${
        JSON.stringify(cfg?.[field])
      }`,
    );
  if (typeof cfg !== "object" || cfg === null) throw new Error(`${file}: no encoder config`);
  const size = cfg.imageSize;
  if (
    !Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)
  ) {
    throw bad("imageSize", "[height, width] in pixels");
  }
  for (const field of ["channels", "patch", "width", "depth", "heads", "mlpRatio"]) {
    if (!(typeof cfg[field] === "number" && (cfg[field] as number) > 0)) {
      throw bad(field, "a positive number");
    }
  }
  if (typeof cfg.cls !== "boolean") throw bad("cls", "true or false");
  return cfg as unknown as VitConfig;
}

/**
 * Reads an encoder artifact: `path` is the file or the directory holding `encoder.safetensors`
 * (a checkpoint directory). Validates the record, the config and every tensor's name and shape
 * against the ViT the config describes; a checkpoint sidecar of another step beside it (the
 * run was killed between writing the two) is an error too. The caller owns the variables.
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
  if (record.format !== RECORD_KEY || record.version !== 1 || record.kind !== "vit") {
    throw new Error(
      `${file}: expected a version-1 ViT encoder record, got format ${record.format}, ` +
        `version ${record.version}, kind ${record.kind}`,
    );
  }
  const cfg = checkVitConfig(record.config, file);
  const step = checkpointStep(dirname(file));
  if (step !== null && step !== record.step) {
    throw new Error(
      `${file}: written at step ${record.step}, but the checkpoint beside it is at step ${step} ` +
        `(the run stopped between the two writes: resume it to rewrite both)`,
    );
  }
  const tensors = decodeSafetensors(bytes, file);
  const params = tf.tidy(() => initVit(new Rng(0), cfg));
  const vars = flattenParams(params);
  if (vars.length !== tensors.size) {
    tf.dispose(vars.map(([, v]) => v));
    throw new Error(
      `${file}: ${tensors.size} tensors for a ViT of ${vars.length} (depth ${cfg.depth}, ` +
        `cls ${cfg.cls})`,
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
 * A randomly initialised encoder of shape `cfg` (the untrained control), drawn as the
 * autoencoder's encoder is at initialisation with `seed`, so "random" is the autoencoder before
 * its first step.
 */
export function randomEncoder(cfg: VitConfig, seed: number): FrozenEncoder {
  const params = tf.tidy(() => initVit(new Rng(deriveSeed(seed, "init")).fork("encoder"), cfg));
  return { name: "random", cfg, params };
}
