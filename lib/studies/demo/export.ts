/**
 * Exports from a dataset: an episode as an animated GIF, a frame as a PNG. Gray or RGB frames are
 * written as they are stored; stacked frames are not (datasets hold single frames).
 *
 * @module
 */

import type { Dataset } from "../../data/reader.ts";
import { encodeGif } from "../../viz/gif.ts";
import { encodePng, upscaleNearest } from "../../viz/png.ts";

/** Scale factor and GIF timing for exports. */
export interface ExportOptions {
  /** Nearest-neighbour upscaling (84x84 frames are small on screen). */
  scale?: number;
  /** Delay between GIF frames. */
  delayMs?: number;
  /** At most this many frames of the episode (GIFs of long games get large). */
  maxFrames?: number;
}

function frameFormat(ds: Dataset): { h: number; w: number; c: 1 | 3 } {
  const [h, w, c] = ds.frameShape;
  if (c !== 1 && c !== 3) throw new Error(`export: frames have ${c} channels; expected 1 or 3`);
  return { h, w, c };
}

/** One frame as PNG bytes. */
export function framePng(ds: Dataset, index: number, opts: ExportOptions = {}): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= ds.numFrames) {
    throw new Error(`export: frame ${index} is out of range (0..${ds.numFrames - 1})`);
  }
  const { h, w, c } = frameFormat(ds);
  const s = opts.scale ?? 1;
  return encodePng(upscaleNearest(ds.frame(index), w, h, c, s), w * s, h * s, c);
}

/** One episode as GIF bytes. */
export function episodeGif(ds: Dataset, episode: number, opts: ExportOptions = {}): Uint8Array {
  const span = ds.episodes().find((e) => e.episode === episode);
  if (!span) {
    const ids = ds.episodes().map((e) => e.episode);
    throw new Error(`export: no episode ${episode} in the dataset (episodes: ${ids.join(", ")})`);
  }
  const { h, w, c } = frameFormat(ds);
  const s = opts.scale ?? 2;
  const n = Math.min(span.length, opts.maxFrames ?? span.length);
  const frames = Array.from(
    { length: n },
    (_, i) => upscaleNearest(ds.frame(span.start + i), w, h, c, s),
  );
  return encodeGif(frames, w * s, h * s, c, { delayMs: opts.delayMs ?? 50 });
}
