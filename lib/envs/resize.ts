/**
 * Area resampling (OpenCV's INTER_AREA for shrinking, which CleanRL's `WarpFrame` uses): each
 * output pixel is the mean of the input area it covers, with fractional pixels weighted by
 * their overlap. Separable, with the taps precomputed once per (input, output) size.
 *
 * Game frames change in a few rows per step (ball, paddle, score), so the resizer is incremental:
 * it keeps the previous input, compares each new row with it (as 32-bit words) and resamples only
 * the rows that changed and the output rows they feed. The result is identical to a full
 * resize; the tests check that on random frame sequences.
 *
 * @module
 */

/**
 * Taps of one axis, padded to the same count per output (zero weights past the real ones), so
 * the hot loops have a fixed shape: output o reads `index[o*width + t]` with `weight[...]`.
 */
interface Taps {
  width: number;
  index: Int32Array;
  weight: Float32Array;
}

function areaTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const perOutput: [number, number][][] = [];
  for (let o = 0; o < outSize; o++) {
    const lo = o * scale;
    const hi = lo + scale;
    const taps: [number, number][] = [];
    for (let i = Math.floor(lo); i < Math.min(inSize, Math.ceil(hi)); i++) {
      const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
      if (overlap > 1e-9) taps.push([i, overlap / scale]);
    }
    perOutput.push(taps);
  }
  const width = Math.max(...perOutput.map((t) => t.length));
  const index = new Int32Array(outSize * width);
  const weight = new Float32Array(outSize * width);
  perOutput.forEach((taps, o) => {
    for (let t = 0; t < width; t++) {
      // Padding repeats the last tap with weight 0: always a valid index.
      const [i, w] = taps[Math.min(t, taps.length - 1)];
      index[o * width + t] = i;
      weight[o * width + t] = t < taps.length ? w : 0;
    }
  });
  return { width, index, weight };
}

/**
 * A reusable area resizer for one input and output size. It holds the previous frame (see the
 * module doc), so each env owns its own instance.
 */
export class AreaResizer {
  readonly #rows: Taps;
  readonly #cols: Taps;
  /** Horizontally resampled rows of the previous input: inHeight x outWidth x channels. */
  readonly #tmp: Float32Array;
  readonly #acc: Float32Array;
  /** The previous (max-pooled) input, and its rows as 32-bit words when rows allow it. */
  readonly #prev: Uint8Array;
  #havePrev = false;
  /** Output rows fed by each input row: [first, last]. */
  readonly #feeds: Int32Array;
  readonly #dirty: Uint8Array;
  readonly #result: Uint8Array;

  constructor(
    readonly inHeight: number,
    readonly inWidth: number,
    readonly outHeight: number,
    readonly outWidth: number,
    readonly channels = 1,
  ) {
    for (const [name, v] of Object.entries({ inHeight, inWidth, outHeight, outWidth, channels })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`AreaResizer: ${name} must be >= 1, got ${v}`);
      }
    }
    this.#rows = areaTaps(inHeight, outHeight);
    // Columns are addressed per channel: tap index j of channel ch reads src[j * c + ch].
    this.#cols = areaTaps(inWidth, outWidth);
    this.#tmp = new Float32Array(inHeight * outWidth * channels);
    this.#acc = new Float32Array(outWidth * channels);
    this.#prev = new Uint8Array(inHeight * inWidth * channels);
    this.#dirty = new Uint8Array(outHeight);
    this.#result = new Uint8Array(outHeight * outWidth * channels);
    this.#feeds = new Int32Array(inHeight * 2).fill(-1);
    const { width: T, index, weight } = this.#rows;
    for (let o = 0; o < outHeight; o++) {
      for (let t = o * T; t < (o + 1) * T; t++) {
        if (weight[t] === 0) continue;
        const y = index[t];
        if (this.#feeds[2 * y] < 0) this.#feeds[2 * y] = o;
        this.#feeds[2 * y + 1] = o;
      }
    }
  }

  /**
   * Resizes `src` (inHeight x inWidth x channels uint8) into `out` (outHeight x outWidth x
   * channels). When `other` is given, the per-pixel maximum of `src` and `other` is resized
   * instead: the max-pool over the last two emulator frames.
   */
  resize(src: Uint8Array, out: Uint8Array, other?: Uint8Array): Uint8Array {
    const { inHeight, inWidth, outHeight, outWidth, channels: c } = this;
    if (src.length !== inHeight * inWidth * c || (other && other.length !== src.length)) {
      throw new Error(
        `AreaResizer: input has ${src.length} bytes, expected ${inHeight * inWidth * c}`,
      );
    }
    if (out.length !== outHeight * outWidth * c) {
      throw new Error(
        `AreaResizer: output has ${out.length} bytes, expected ${outHeight * outWidth * c}`,
      );
    }
    const rowBytes = inWidth * c;
    const prev = this.#prev;
    const words = rowBytes % 4 === 0 ? wordView(src) : null;
    const otherWords = other && words ? wordView(other) : null;
    const prevWords = words ? wordView(prev) : null;
    const rowWords = rowBytes / 4;
    let anyChange = false;
    for (let y = 0; y < inHeight; y++) {
      const off = y * rowBytes;
      let changed: boolean;
      const pooled = other !== undefined &&
        !(words && otherWords
          ? sameWords(words, otherWords, y * rowWords, rowWords)
          : sameBytes(src, other, off, rowBytes));
      if (pooled) {
        changed = maxRowInto(src, other!, prev, off, rowBytes) || !this.#havePrev;
      } else {
        changed = !this.#havePrev ||
          !(words && prevWords
            ? sameWords(words, prevWords, y * rowWords, rowWords)
            : sameBytes(src, prev, off, rowBytes));
        if (changed) prev.set(src.subarray(off, off + rowBytes), off);
      }
      if (!changed) continue;
      this.#horizontalRow(y);
      const first = this.#feeds[2 * y];
      if (first >= 0) this.#dirty.fill(1, first, this.#feeds[2 * y + 1] + 1);
      anyChange = true;
    }
    this.#havePrev = true;
    if (anyChange) this.#vertical();
    out.set(this.#result);
    return out;
  }

  /** Row y of the previous input -> row y of `#tmp`. */
  #horizontalRow(y: number): void {
    const { inWidth, outWidth, channels: c } = this;
    const { width: T, index, weight } = this.#cols;
    const src = this.#prev;
    const tmp = this.#tmp;
    const rowIn = y * inWidth * c;
    let o = y * outWidth * c;
    for (let x = 0; x < outWidth; x++) {
      const t0 = x * T;
      for (let ch = 0; ch < c; ch++, o++) {
        let acc = 0;
        for (let t = t0; t < t0 + T; t++) acc += weight[t] * src[rowIn + index[t] * c + ch];
        tmp[o] = acc;
      }
    }
  }

  /** Recomputes the dirty output rows, rounded like OpenCV's saturate_cast. */
  #vertical(): void {
    const { outHeight, outWidth, channels: c } = this;
    const { width: T, index, weight } = this.#rows;
    const tmp = this.#tmp;
    const acc = this.#acc;
    const dirty = this.#dirty;
    const rowLen = outWidth * c;
    for (let y = 0; y < outHeight; y++) {
      if (!dirty[y]) continue;
      dirty[y] = 0;
      acc.fill(0.5); // +0.5 then truncation = rounding, values staying within [0, 255]
      for (let t = y * T; t < (y + 1) * T; t++) {
        const w = weight[t];
        if (w === 0) continue;
        const base = index[t] * rowLen;
        for (let k = 0; k < rowLen; k++) acc[k] += w * tmp[base + k];
      }
      this.#result.set(acc, y * rowLen);
    }
  }
}

const views = new WeakMap<ArrayBufferLike, Uint32Array>();
/** A 32-bit view of a whole buffer, cached (envs pass the same canvases every step). */
function wordView(bytes: Uint8Array): Uint32Array | null {
  if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) return null;
  let view = views.get(bytes.buffer);
  if (!view) {
    view = new Uint32Array(bytes.buffer, 0, bytes.byteLength >>> 2);
    views.set(bytes.buffer, view);
  }
  return view;
}

function sameWords(a: Uint32Array, b: Uint32Array, start: number, n: number): boolean {
  for (let i = start; i < start + n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array, start: number, n: number): boolean {
  for (let i = start; i < start + n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** prev[row] = max(a[row], b[row]); true when that changed prev. */
function maxRowInto(
  a: Uint8Array,
  b: Uint8Array,
  prev: Uint8Array,
  start: number,
  n: number,
): boolean {
  let changed = false;
  for (let i = start; i < start + n; i++) {
    const v = a[i] > b[i] ? a[i] : b[i];
    if (prev[i] !== v) {
      prev[i] = v;
      changed = true;
    }
  }
  return changed;
}
