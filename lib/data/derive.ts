/**
 * Derived datasets: a dataset's frames passed through the per-frame part of the env's pipeline
 * (ALE's gray, area resize), every other column kept. A recording (`deno task record`) stores the
 * full 210x160 RGB screen, what a person watches; models learn from the gray 84x84 frames the
 * agents see, and {@linkcode ensureDerivedDataset} makes those once, beside the recording.
 *
 * A derived manifest records its source (path, frame count and the content hashes of its steps
 * table and frame shards) and the transform, so a recording that changes is derived again.
 * Recorded screens are single frames, so there is no max-pool over the last two emulator frames
 * here (Breakout draws no sprite on alternate frames; games that flicker differ slightly).
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { rgbToGray } from "../envs/canvas.ts";
import { AreaResizer } from "../envs/resize.ts";
import { valueDiffs } from "../run/config.ts";
import type { OnStep } from "../run/progress.ts";
import { MANIFEST_FILE } from "./format.ts";
import { type Dataset, openDataset } from "./reader.ts";
import { DatasetWriter } from "./writer.ts";

/** The per-frame pipeline of a derived dataset. */
export interface FrameTransform {
  /** ALE's luma of each RGB pixel (a no-op on gray frames). */
  grayscale: boolean;
  /** Area resize to [height, width]; null keeps the size. */
  resize: [number, number] | null;
}

/** What a derived manifest records under `meta.derivedFrom`. */
interface DerivedFrom {
  path: string;
  numFrames: number;
  steps: string;
  shards: string[];
  transform: FrameTransform;
}

/** The frame shape `[h, w, c]` that `transform` makes of frames of `shape`. */
export function derivedFrameShape(
  shape: readonly number[],
  transform: FrameTransform,
): [number, number, number] {
  const [h, w, c] = shape;
  const [outH, outW] = transform.resize ?? [h, w];
  return [outH, outW, transform.grayscale ? 1 : c];
}

/** Whether `transform` leaves frames of `shape` as they are. */
export function isIdentity(shape: readonly number[], transform: FrameTransform): boolean {
  return derivedFrameShape(shape, transform).every((v, i) => v === shape[i]);
}

/** The source record of `src` under `transform`, as JSON keeps it. */
function derivedFrom(src: Dataset, transform: FrameTransform): DerivedFrom {
  return JSON.parse(JSON.stringify({
    path: src.path,
    numFrames: src.numFrames,
    steps: src.manifest.steps.sha256,
    shards: src.manifest.shards.map((s) => s.sha256),
    transform,
  }));
}

/**
 * Writes every row of `src` to `path` with its frame transformed, atomically (nothing appears
 * at `path` if it throws). `onStep` receives each episode as loop "derive".
 */
export async function deriveDataset(
  src: Dataset,
  path: string,
  transform: FrameTransform,
  onStep?: OnStep,
): Promise<void> {
  const [h, w, c] = src.frameShape;
  if (transform.grayscale && c !== 3 && c !== 1) {
    throw new Error(`${src.path}: frames of ${c} channels; gray needs RGB (3) or gray (1) frames`);
  }
  const shape = derivedFrameShape(src.frameShape, transform);
  const gray = transform.grayscale && c === 3 ? new Uint8Array(h * w) : null;
  const resizer = transform.resize ? new AreaResizer(h, w, shape[0], shape[1], gray ? 1 : c) : null;
  const resized = new Uint8Array(shape[0] * shape[1] * shape[2]);
  const writer = await DatasetWriter.create(path, {
    env: src.manifest.env,
    frameShape: shape,
    stateKeys: [...src.manifest.stateKeys],
    meta: {
      ...src.manifest.meta,
      derivedFrom: derivedFrom(src, transform),
      createdAt: new Date().toISOString(),
    },
  });
  try {
    const episodes = src.episodes();
    for (const [e, { start, length }] of episodes.entries()) {
      for (let i = start; i < start + length; i++) {
        let frame = src.frame(i);
        if (gray) frame = rgbToGray(frame, gray);
        if (resizer) frame = resizer.resize(frame, resized);
        writer.add(frame, src.row(i));
      }
      onStep?.({ loop: "derive", step: e + 1, total: episodes.length, values: { rows: length } });
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/**
 * `src` transformed, from `dir` (default: beside `src`, named after the transform) when its
 * manifest records this very source and transform, else derived there first. Returns `src`
 * itself when the transform changes nothing.
 */
export async function ensureDerivedDataset(
  src: Dataset,
  transform: FrameTransform,
  opts: { dir?: string; log?: (line: string) => void; onStep?: OnStep } = {},
): Promise<Dataset> {
  if (isIdentity(src.frameShape, transform)) return src;
  const [h, w, c] = derivedFrameShape(src.frameShape, transform);
  const dir = opts.dir ?? `${src.path.replace(/\/+$/, "")}-${h}x${w}${c === 1 ? "-gray" : ""}`;
  const wanted = derivedFrom(src, transform);
  let reason = "no derived dataset yet";
  try {
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8"));
    const diffs = valueDiffs(manifest?.meta?.derivedFrom, wanted);
    if (diffs.length === 0) {
      const ds = await openDataset(dir);
      opts.log?.(`dataset ${dir} (${src.path} at ${h}x${w}x${c}) is current`);
      return ds;
    }
    reason = `it was derived with ${diffs.join(", ")}`;
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") reason = (err as Error).message;
  }
  opts.log?.(`deriving ${src.path} at ${h}x${w}x${c} -> ${dir} (${reason})`);
  await deriveDataset(src, dir, transform, opts.onStep);
  return await openDataset(dir);
}
