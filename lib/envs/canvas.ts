/**
 * Drawing surfaces for the games: an RGB one (the observation ALE returns) and a gray one that
 * draws luma directly, so the usual preprocessing (grayscale, max-pool, resize) never builds an
 * RGB frame it would throw away.
 *
 * @module
 */

import type { Canvas, Rgb } from "./types.ts";

/** ALE's grayscale of an RGB color: rounded ITU-R BT.601 luma (matches `getScreenGrayscale`). */
export function luma(r: number, g: number, b: number): number {
  return Math.round(0.299 * r + 0.587 * g + 0.114 * b);
}

/** Converts a packed RGB frame to gray (ALE's luma), writing into `out`. */
export function rgbToGray(rgb: Uint8Array, out: Uint8Array): Uint8Array {
  const n = out.length;
  if (rgb.length !== n * 3) {
    throw new Error(`rgbToGray: RGB buffer has ${rgb.length} bytes, expected ${n * 3}`);
  }
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    // Fixed-point BT.601 (weights x 2^16), rounding like `luma`.
    out[i] = (19595 * rgb[j] + 38470 * rgb[j + 1] + 7471 * rgb[j + 2] + 32768) >>> 16;
  }
  return out;
}

/** Packed RGB surface, row-major `height x width x 3` uint8. */
export class RgbCanvas implements Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, data?: Uint8Array) {
    this.data = data ?? new Uint8Array(width * height * 3);
    if (this.data.length !== width * height * 3) {
      throw new Error(`RgbCanvas: buffer of ${this.data.length} bytes for ${width}x${height}x3`);
    }
  }

  clear(color: Rgb): void {
    const [r, g, b] = color;
    if (r === g && g === b) {
      this.data.fill(r);
      return;
    }
    this.fillRect(0, 0, this.width, this.height, color);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    if (x1 <= x0 || y1 <= y0) return;
    const [r, g, b] = color;
    const d = this.data;
    for (let yy = y0; yy < y1; yy++) {
      let j = (yy * this.width + x0) * 3;
      for (let xx = x0; xx < x1; xx++, j += 3) {
        d[j] = r;
        d[j + 1] = g;
        d[j + 2] = b;
      }
    }
  }
}

/** Single-channel surface holding ALE's grayscale of what is drawn. */
export class GrayCanvas implements Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, data?: Uint8Array) {
    this.data = data ?? new Uint8Array(width * height);
    if (this.data.length !== width * height) {
      throw new Error(`GrayCanvas: buffer of ${this.data.length} bytes for ${width}x${height}`);
    }
  }

  clear(color: Rgb): void {
    this.data.fill(luma(color[0], color[1], color[2]));
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    if (x1 <= x0 || y1 <= y0) return;
    const v = luma(color[0], color[1], color[2]);
    const d = this.data;
    const stride = this.width;
    if (x1 - x0 <= 16) {
      // Narrow rects (walls, ball, digit blocks): a byte loop beats a fill() call per row.
      for (let row = y0 * stride; row < y1 * stride; row += stride) {
        for (let i = row + x0; i < row + x1; i++) d[i] = v;
      }
      return;
    }
    for (let row = y0 * stride; row < y1 * stride; row += stride) d.fill(v, row + x0, row + x1);
  }
}
