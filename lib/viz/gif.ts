/**
 * Animated GIFs of episodes, for reports and notebooks.
 *
 * Atari frames use a handful of colours, so the encoder first tries one exact palette shared by
 * all frames (pixels come back bit-exact). Only when the episode has more than 256 distinct
 * colours (perturbed frames, noise) does each frame get its own palette, exact when that frame
 * alone fits in 256 colours and quantized (gifenc's PnnQuant) otherwise. LZW and the file
 * structure come from npm:gifenc.
 *
 * @module
 */

import gifenc from "gifenc";

/** A GIF palette: `[r, g, b]` triples, at most 256. */
type Palette = number[][];

// gifenc ships no type declarations; this is the part of its API used here.
interface GifencEncoder {
  writeFrame(
    index: Uint8Array,
    width: number,
    height: number,
    opts: { palette?: Palette; delay?: number; repeat?: number },
  ): void;
  finish(): void;
  bytes(): Uint8Array;
}
interface Gifenc {
  GIFEncoder(): GifencEncoder;
  quantize(rgba: Uint8Array, maxColors: number): Palette;
  applyPalette(rgba: Uint8Array, palette: Palette): Uint8Array;
}
const { GIFEncoder, quantize, applyPalette } = gifenc as Gifenc;

/** Options for {@linkcode encodeGif}. */
export interface GifOptions {
  /**
   * Time each frame is shown, in ms; GIF stores hundredths of a second, so it is rounded to
   * 10 ms. Default 70 (about 15 fps, ALE's rate at frame skip 4). Browsers show delays under
   * 20 ms as 100 ms.
   */
  delayMs?: number;
  /** Loop forever (default true) or play once. */
  loop?: boolean;
}

/**
 * Encodes frames (`height x width x channels`, uint8, gray or RGB) as an animated GIF.
 *
 * ```ts
 * const gif = encodeGif(episodeFrames, 160, 210, 3, { delayMs: 70 });
 * await Deno.writeFile("episode.gif", gif);
 * ```
 */
export function encodeGif(
  frames: Uint8Array[],
  width: number,
  height: number,
  channels: 1 | 3,
  opts: GifOptions = {},
): Uint8Array {
  if (frames.length === 0) throw new Error("encodeGif: no frames");
  const pixels = width * height;
  frames.forEach((frame, i) => {
    if (frame.length !== pixels * channels) {
      throw new Error(
        `encodeGif: frame ${i} has ${frame.length} bytes, expected ${width}x${height}x${channels}`,
      );
    }
  });
  const delay = opts.delayMs ?? 70;
  const repeat = (opts.loop ?? true) ? 0 : -1; // gifenc: 0 = forever, -1 = no loop extension
  const shared = exactPalette(frames, channels);
  const encoder = GIFEncoder();
  frames.forEach((frame, i) => {
    const { palette, index } = shared
      ? { palette: shared.palette, index: indexFrame(frame, channels, shared.lookup) }
      : framePalette(frame, channels);
    // gifenc writes the first frame's palette as the global table and any later palette as a
    // local one, so a shared palette is passed once.
    const framePaletteOpt = shared && i > 0 ? undefined : palette;
    encoder.writeFrame(index, width, height, { palette: framePaletteOpt, delay, repeat });
  });
  encoder.finish();
  return encoder.bytes();
}

/** The colour of pixel `p` as 0xRRGGBB; gray pixels become r = g = b. */
function colorAt(frame: Uint8Array, p: number, channels: 1 | 3): number {
  if (channels === 1) return frame[p] * 0x010101;
  const i = p * 3;
  return (frame[i] << 16) | (frame[i + 1] << 8) | frame[i + 2];
}

/** One palette holding every colour of `frames` exactly, or null if they have more than 256. */
function exactPalette(
  frames: Uint8Array[],
  channels: 1 | 3,
): { palette: Palette; lookup: Map<number, number> } | null {
  const lookup = new Map<number, number>();
  for (const frame of frames) {
    const pixels = frame.length / channels;
    for (let p = 0; p < pixels; p++) {
      const color = colorAt(frame, p, channels);
      if (lookup.has(color)) continue;
      if (lookup.size === 256) return null;
      lookup.set(color, lookup.size);
    }
  }
  const palette = [...lookup.keys()].map((c) => [c >> 16, (c >> 8) & 255, c & 255]);
  return { palette, lookup };
}

function indexFrame(frame: Uint8Array, channels: 1 | 3, lookup: Map<number, number>): Uint8Array {
  const index = new Uint8Array(frame.length / channels);
  for (let p = 0; p < index.length; p++) index[p] = lookup.get(colorAt(frame, p, channels))!;
  return index;
}

/** A palette for one frame: exact when it fits, else quantized to 256 colours. */
function framePalette(frame: Uint8Array, channels: 1 | 3): { palette: Palette; index: Uint8Array } {
  const exact = exactPalette([frame], channels);
  if (exact) return { palette: exact.palette, index: indexFrame(frame, channels, exact.lookup) };
  const rgba = new Uint8Array((frame.length / channels) * 4);
  for (let p = 0; p < rgba.length / 4; p++) {
    const color = colorAt(frame, p, channels);
    rgba.set([color >> 16, (color >> 8) & 255, color & 255, 255], p * 4);
  }
  const palette = quantize(rgba, 256);
  return { palette, index: applyPalette(rgba, palette) };
}
