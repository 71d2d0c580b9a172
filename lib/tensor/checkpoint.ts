/**
 * Checkpoints: weights (and optimiser moments) in a safetensors file, with a JSON sidecar that
 * holds the config, the step, and whatever else a run needs to resume (schedules, RNG state).
 *
 * Layout in a checkpoint directory:
 * - `ckpt-<step>.safetensors`: every tensor by name (`F32`, little-endian);
 * - `latest.json`: names the weights file, with its sha256 and every tensor's shape.
 * The weights file is written first, then the sidecar is renamed into place: that rename is the
 * commit point, so a run killed at any moment leaves the previous checkpoint intact. Reading
 * verifies the checksum and the names and shapes against the model.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { writeFileAtomic } from "../run/atomic.ts";

/** The sidecar. */
export interface CheckpointMeta {
  format: "jepa-atari-checkpoint";
  version: 1;
  step: number;
  weights: string;
  sha256: string;
  tensors: Record<string, number[]>;
  config: unknown;
  extra: Record<string, unknown>;
  createdAt: string;
}

/** A loaded tensor. */
export interface LoadedTensor {
  shape: number[];
  data: Float32Array;
}

const SIDECAR = "latest.json";

/** Serialises named float32 tensors as safetensors, with an optional string `metadata` map. */
export function encodeSafetensors(
  tensors: [string, Float32Array, number[]][],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, data, shape] of tensors) {
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header so the data starts 8-byte aligned (as the reference writer does).
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, data] of tensors) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    pos += data.byteLength;
  }
  return out;
}

/** The safetensors header of `bytes`, parsed; errors name `file` and what is wrong. */
function safetensorsHeader(
  bytes: Uint8Array,
  file: string,
): { header: Record<string, unknown>; base: number } {
  if (bytes.length < 8) {
    throw new Error(`${file}: truncated safetensors file (${bytes.length} bytes)`);
  }
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + headerLen > bytes.length) {
    throw new Error(`${file}: header length ${headerLen} exceeds the file`);
  }
  try {
    return {
      header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))),
      base: 8 + headerLen,
    };
  } catch {
    throw new Error(`${file}: safetensors header is not valid JSON`);
  }
}

/** The string map in a safetensors file's `__metadata__` (empty when it has none). */
export function safetensorsMetadata(bytes: Uint8Array, file: string): Record<string, string> {
  const meta = safetensorsHeader(bytes, file).header.__metadata__;
  return (meta && typeof meta === "object" ? meta : {}) as Record<string, string>;
}

/** Parses safetensors bytes; errors name `file` and what is wrong. */
export function decodeSafetensors(bytes: Uint8Array, file: string): Map<string, LoadedTensor> {
  const { header: parsed, base } = safetensorsHeader(bytes, file);
  const header = parsed as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, LoadedTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (info.dtype !== "F32") {
      throw new Error(`${file}: tensor ${name} has dtype ${info.dtype}, expected F32`);
    }
    const [start, end] = info.data_offsets;
    const size = info.shape.reduce((a, b) => a * b, 1);
    if (end - start !== size * 4 || base + end > bytes.length) {
      throw new Error(
        `${file}: tensor ${name} data is truncated or inconsistent with shape [${info.shape}]`,
      );
    }
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(bytes.subarray(base + start, base + end));
    out.set(name, { shape: info.shape, data });
  }
  return out;
}

/** Writes a checkpoint of `tensors` at `step` into `dir`; removes older weight files. */
export async function saveCheckpoint(
  dir: string,
  step: number,
  tensors: [string, tf.Tensor][],
  config: unknown,
  extra: Record<string, unknown> = {},
): Promise<CheckpointMeta> {
  const entries = tensors.map(([name, t]) =>
    [name, t.dataSync() as Float32Array, t.shape] as [string, Float32Array, number[]]
  );
  const bytes = encodeSafetensors(entries);
  const weights = `ckpt-${String(step).padStart(8, "0")}.safetensors`;
  await writeFileAtomic(join(dir, weights), bytes);
  const meta: CheckpointMeta = {
    format: "jepa-atari-checkpoint",
    version: 1,
    step,
    weights,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    tensors: Object.fromEntries(entries.map(([n, , s]) => [n, s])),
    config,
    extra,
    createdAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(dir, SIDECAR), JSON.stringify(meta, null, 1) + "\n");
  for (const f of readdirSync(dir)) {
    if (f.startsWith("ckpt-") && f.endsWith(".safetensors") && f !== weights) rmSync(join(dir, f));
  }
  return meta;
}

/** The step of the committed checkpoint in `dir`, read from its sidecar alone (null: none). */
export function checkpointStep(dir: string): number | null {
  const sidecar = join(dir, SIDECAR);
  if (!existsSync(sidecar)) return null;
  try {
    return JSON.parse(readFileSync(sidecar, "utf8")).step ?? null;
  } catch {
    throw new Error(`${sidecar}: not valid JSON`);
  }
}

/** True when `dir` holds a committed checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, SIDECAR));
}

/**
 * The sidecar of the latest checkpoint in `dir` alone (config, step, checksum), without reading
 * the weights; throws naming the file when there is none or it is not a checkpoint's.
 */
export function readCheckpointMeta(dir: string): CheckpointMeta {
  const sidecar = join(dir, SIDECAR);
  if (!existsSync(sidecar)) throw new Error(`${sidecar}: no checkpoint here`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(sidecar, "utf8"));
  } catch {
    throw new Error(`${sidecar}: not valid JSON`);
  }
  if (meta?.format !== "jepa-atari-checkpoint" || meta.version !== 1) {
    throw new Error(
      `${sidecar}: not a version-1 jepa-atari checkpoint (format ${meta?.format}, version ${meta?.version})`,
    );
  }
  return meta;
}

/** The path of the sidecar in a checkpoint directory (for messages that name it). */
export function checkpointSidecar(dir: string): string {
  return join(dir, SIDECAR);
}

/** Reads and validates the latest checkpoint in `dir`. */
export function loadCheckpoint(
  dir: string,
): { meta: CheckpointMeta; tensors: Map<string, LoadedTensor> } {
  const meta = readCheckpointMeta(dir);
  const file = join(dir, meta.weights);
  if (!existsSync(file)) throw new Error(`${file}: weights file named by ${SIDECAR} is missing`);
  const bytes = readFileSync(file);
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (sha !== meta.sha256) {
    throw new Error(`${file}: checksum mismatch (file is corrupt or was replaced)`);
  }
  const tensors = decodeSafetensors(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    file,
  );
  for (const [name, shape] of Object.entries(meta.tensors)) {
    const t = tensors.get(name);
    if (!t || t.shape.join() !== shape.join()) {
      throw new Error(`${file}: tensor ${name} missing or of the wrong shape`);
    }
  }
  return { meta, tensors };
}

/**
 * Copies loaded tensors into variables by name. Every variable must be present with its exact
 * shape; the error lists what is missing or mismatched.
 */
export function assignTensors(
  vars: [string, tf.Variable][],
  tensors: Map<string, LoadedTensor>,
  source: string,
): void {
  const problems: string[] = [];
  for (const [name, v] of vars) {
    const t = tensors.get(name);
    if (!t) problems.push(`missing ${name}`);
    else if (t.shape.join() !== v.shape.join()) {
      problems.push(`${name}: [${t.shape}] in file, [${v.shape}] in model`);
    }
  }
  if (problems.length) {
    throw new Error(
      `${source}: checkpoint does not fit the model (${problems.slice(0, 5).join("; ")}${
        problems.length > 5 ? "; ..." : ""
      })`,
    );
  }
  for (const [name, v] of vars) {
    const t = tensors.get(name)!;
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, "float32")));
  }
}
