/**
 * PNG encoding and decoding for 8-bit gray, RGB and RGBA images, plus the two image helpers the
 * reports need: a gallery grid of frames and a nearest-neighbour upscale (Atari frames are tiny).
 *
 * The decoder covers what real files use for such images (all five row filters, several IDAT
 * chunks, ancillary chunks skipped), because the Atari-HEAD dataset ships its frames as PNGs.
 * Palette, 16-bit, gray+alpha and interlaced PNGs are rejected with a clear error.
 *
 * @module
 */

import { deflateSync, inflateSync } from "node:zlib";

/** Channels of an 8-bit image: gray, RGB or RGBA (PNG color types 0, 2, 6). */
export type Channels = 1 | 3 | 4;

/** A decoded image: `data` is row-major, channels interleaved (channels last). */
export interface Image {
  data: Uint8Array;
  width: number;
  height: number;
  channels: Channels;
}

/** PNG row filters: 0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth. */
export type PngFilter = 0 | 1 | 2 | 3 | 4;

/** Options for {@linkcode encodePng}. */
export interface EncodePngOptions {
  /**
   * Row filter applied to every row. Default 2 (Up): game frames repeat rows a lot, and a row
   * equal to the one above filters to zeros, which deflate packs best.
   */
  filter?: PngFilter;
  /** zlib level 0-9, default 6. */
  level?: number;
}

const SIGNATURE = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
const COLOR_TYPE_OF: Record<Channels, number> = { 1: 0, 3: 2, 4: 6 };
const CHANNELS_OF: Record<number, Channels> = { 0: 1, 2: 3, 6: 4 };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the zlib / PNG polynomial) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Encodes an 8-bit image as PNG. `data` holds `height` rows of `width * channels` bytes.
 *
 * ```ts
 * const png = encodePng(frame, 160, 210, 3);
 * await Deno.writeFile("frame.png", png);
 * ```
 */
export function encodePng(
  data: Uint8Array,
  width: number,
  height: number,
  channels: Channels,
  opts: EncodePngOptions = {},
): Uint8Array {
  checkSize(data, width, height, channels);
  const filter = opts.filter ?? 2;
  const stride = width * channels;
  // Each row is stored as its filter type byte followed by the filtered bytes.
  const raw = new Uint8Array(height * (stride + 1));
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? data.subarray((y - 1) * stride, y * stride) : zeros;
    raw[y * (stride + 1)] = filter;
    filterRow(filter, row, prev, channels, raw.subarray(y * (stride + 1) + 1));
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, COLOR_TYPE_OF[channels], 0, 0, 0], 8); // depth, color type, deflate, filter, no interlace
  return concat([
    SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: opts.level ?? 6 })),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/**
 * Decodes an 8-bit, non-interlaced gray, RGB or RGBA PNG. Throws on a bad signature, a chunk
 * CRC mismatch, truncated data or an unsupported format, saying which.
 */
export function decodePng(bytes: Uint8Array): Image {
  if (bytes.length < 8 || !SIGNATURE.every((b, i) => bytes[i] === b)) {
    throw new Error("decodePng: not a PNG (bad signature)");
  }
  let header: { width: number; height: number; channels: Channels } | undefined;
  const idat: Uint8Array[] = [];
  for (const { type, body } of readChunks(bytes)) {
    if (type === "IHDR") header = parseHeader(body);
    else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
  }
  if (!header) throw new Error("decodePng: missing IHDR chunk");
  if (idat.length === 0) throw new Error("decodePng: missing IDAT chunk");
  const { width, height, channels } = header;
  const raw = new Uint8Array(inflateSync(concat(idat)));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) {
    throw new Error(
      `decodePng: image data too short: ${raw.length} bytes, need ${height * (stride + 1)}`,
    );
  }
  const data = new Uint8Array(height * stride);
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const at = y * (stride + 1);
    const type = raw[at];
    if (type > 4) throw new Error(`decodePng: bad filter type ${type} on row ${y}`);
    const out = data.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? data.subarray((y - 1) * stride, y * stride) : zeros;
    unfilterRow(type as PngFilter, raw.subarray(at + 1, at + 1 + stride), prev, channels, out);
  }
  return { data, width, height, channels };
}

/** How {@linkcode tileFrames} lays frames out. */
export interface TileOptions {
  /** Size of every frame, in pixels. */
  width: number;
  height: number;
  channels: Channels;
  /** Frames per row (fewer when there are fewer frames). */
  columns: number;
  /** Pixels around and between the frames (2). */
  pad?: number;
  /** Value of those pixels, and of the empty cells of the last row (255: white). */
  padValue?: number;
}

/** Lays frames (each `width x height x channels`) out in a grid. */
export function tileFrames(frames: Uint8Array[], opts: TileOptions): Image {
  const { width: w, height: h, channels, pad = 2, padValue = 255 } = opts;
  let cols = opts.columns;
  if (frames.length === 0) throw new Error("tileFrames: no frames");
  if (!(cols >= 1)) throw new Error(`tileFrames: columns must be >= 1, got ${cols}`);
  cols = Math.min(cols, frames.length);
  const rows = Math.ceil(frames.length / cols);
  const width = cols * w + (cols + 1) * pad;
  const height = rows * h + (rows + 1) * pad;
  const data = new Uint8Array(width * height * channels).fill(padValue);
  const rowBytes = w * channels;
  frames.forEach((frame, n) => {
    checkSize(frame, w, h, channels);
    const x0 = pad + (n % cols) * (w + pad);
    const y0 = pad + Math.floor(n / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      data.set(
        frame.subarray(y * rowBytes, (y + 1) * rowBytes),
        ((y0 + y) * width + x0) * channels,
      );
    }
  });
  return { data, width, height, channels };
}

/** Scales an image up by an integer `factor`, each pixel becoming a `factor x factor` block. */
export function upscaleNearest(
  data: Uint8Array,
  w: number,
  h: number,
  channels: number,
  factor: number,
): Uint8Array {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`upscaleNearest: factor must be an integer >= 1, got ${factor}`);
  }
  checkSize(data, w, h, channels);
  const outRow = new Uint8Array(w * factor * channels);
  const out = new Uint8Array(outRow.length * h * factor);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const pixel = data.subarray((y * w + x) * channels, (y * w + x + 1) * channels);
      for (let r = 0; r < factor; r++) outRow.set(pixel, (x * factor + r) * channels);
    }
    // Build one scaled row, then copy it `factor` times.
    for (let r = 0; r < factor; r++) out.set(outRow, (y * factor + r) * outRow.length);
  }
  return out;
}

function checkSize(data: Uint8Array, w: number, h: number, channels: number): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new Error(`image size must be positive integers, got ${w}x${h}`);
  }
  if (data.length !== w * h * channels) {
    throw new Error(
      `image data has ${data.length} bytes, expected ${w}x${h}x${channels} = ${w * h * channels}`,
    );
  }
}

/** The Paeth predictor: whichever of left, up, up-left is closest to left + up - upLeft. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** The value filter `type` predicts for byte `i` from already known neighbours. */
function predict(type: PngFilter, row: Uint8Array, prev: Uint8Array, i: number, bpp: number) {
  const left = i >= bpp ? row[i - bpp] : 0;
  const up = prev[i];
  switch (type) {
    case 0:
      return 0;
    case 1:
      return left;
    case 2:
      return up;
    case 3:
      return (left + up) >> 1;
    case 4:
      return paeth(left, up, i >= bpp ? prev[i - bpp] : 0);
  }
}

function filterRow(
  type: PngFilter,
  row: Uint8Array,
  prev: Uint8Array,
  bpp: number,
  out: Uint8Array,
): void {
  for (let i = 0; i < row.length; i++) out[i] = (row[i] - predict(type, row, prev, i, bpp)) & 0xff;
}

/** Inverse of {@linkcode filterRow}; `out` fills left to right, so predictions see decoded bytes. */
function unfilterRow(
  type: PngFilter,
  filtered: Uint8Array,
  prev: Uint8Array,
  bpp: number,
  out: Uint8Array,
): void {
  for (let i = 0; i < out.length; i++) {
    out[i] = (filtered[i] + predict(type, out, prev, i, bpp)) & 0xff;
  }
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

function* readChunks(bytes: Uint8Array): Generator<{ type: string; body: Uint8Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) throw new Error(`decodePng: truncated chunk header at byte ${at}`);
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const end = at + 8 + length;
    if (end + 4 > bytes.length) throw new Error(`decodePng: truncated ${type} chunk at byte ${at}`);
    if (crc32(bytes.subarray(at + 4, end)) !== view.getUint32(end)) {
      throw new Error(`decodePng: CRC mismatch in ${type} chunk at byte ${at}`);
    }
    yield { type, body: bytes.subarray(at + 8, end) };
    at = end + 4;
  }
}

function parseHeader(body: Uint8Array): { width: number; height: number; channels: Channels } {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const [depth, colorType, , , interlace] = body.subarray(8, 13);
  if (depth !== 8) throw new Error(`decodePng: unsupported bit depth ${depth} (only 8)`);
  if (interlace !== 0) throw new Error("decodePng: interlaced PNGs are not supported");
  const channels = CHANNELS_OF[colorType];
  if (!channels) {
    throw new Error(
      `decodePng: unsupported color type ${colorType} (only 0 gray, 2 RGB, 6 RGBA)`,
    );
  }
  return { width: view.getUint32(0), height: view.getUint32(4), channels };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
