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
      ? { palette: shared.palette, index: shared.indices[i] }
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

/**
 * One palette holding every colour of `frames` exactly (in the order they first appear), with
 * each frame's palette indices; null if the frames have more than 256 colours.
 */
function exactPalette(
  frames: Uint8Array[],
  channels: 1 | 3,
): { palette: Palette; indices: Uint8Array[] } | null {
  const lookup = new Map<number, number>();
  const indices: Uint8Array[] = [];
  for (const frame of frames) {
    const index = new Uint8Array(frame.length / channels);
    // Game screens are long runs of one colour: the previous pixel's entry saves most lookups
    // (a map lookup per pixel made encoding 210x160 screens several times slower).
    let last = -1;
    let lastIndex = 0;
    for (let p = 0; p < index.length; p++) {
      const color = colorAt(frame, p, channels);
      if (color !== last) {
        let i = lookup.get(color);
        if (i === undefined) {
          if (lookup.size === 256) return null;
          i = lookup.size;
          lookup.set(color, i);
        }
        last = color;
        lastIndex = i;
      }
      index[p] = lastIndex;
    }
    indices.push(index);
  }
  const palette = [...lookup.keys()].map((c) => [c >> 16, (c >> 8) & 255, c & 255]);
  return { palette, indices };
}

/** A palette for one frame: exact when it fits, else quantized to 256 colours. */
function framePalette(frame: Uint8Array, channels: 1 | 3): { palette: Palette; index: Uint8Array } {
  const exact = exactPalette([frame], channels);
  if (exact) return { palette: exact.palette, index: exact.indices[0] };
  const rgba = new Uint8Array((frame.length / channels) * 4);
  for (let p = 0; p < rgba.length / 4; p++) {
    const color = colorAt(frame, p, channels);
    rgba.set([color >> 16, (color >> 8) & 255, color & 255, 255], p * 4);
  }
  const palette = quantize(rgba, 256);
  return { palette, index: applyPalette(rgba, palette) };
}
