/**
 * Area resampling (OpenCV's INTER_AREA for shrinking, which CleanRL's `WarpFrame` uses): each
 * output pixel is the mean of the input area it covers, with fractional pixels weighted by
 * their overlap. Separable, with the taps precomputed once per (input, output) size.
 *
 * @module
 */

interface Taps {
  /** For output index o: taps start at `start[o]` in `index`/`weight` and end at `start[o+1]`. */
  start: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

function areaTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const start = new Int32Array(outSize + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let o = 0; o < outSize; o++) {
    start[o] = index.length;
    const lo = o * scale;
    const hi = lo + scale;
    for (let i = Math.floor(lo); i < Math.min(inSize, Math.ceil(hi)); i++) {
      const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
      if (overlap > 1e-9) {
        index.push(i);
        weight.push(overlap / scale);
      }
    }
  }
  start[outSize] = index.length;
  return { start, index: Int32Array.from(index), weight: Float32Array.from(weight) };
}

/**
 * A reusable area resizer for one input and output size. Holds its scratch buffer, so one
 * instance must not be shared between concurrent users (each env owns its own).
 */
export class AreaResizer {
  readonly #rows: Taps;
  readonly #cols: Taps;
  readonly #tmp: Float32Array;

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
    this.#cols = areaTaps(inWidth, outWidth);
    this.#tmp = new Float32Array(inHeight * outWidth * channels);
  }

  /**
   * Resizes `src` (inHeight x inWidth x channels uint8) into `out` (outHeight x outWidth x
   * channels). When `other` is given, the per-pixel maximum of `src` and `other` is resized
   * instead: the max-pool over the last two emulator frames, fused into the first pass.
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
    const tmp = this.#tmp;
    const { start: cs, index: ci, weight: cw } = this.#cols;
    // Horizontal pass: inHeight x outWidth.
    for (let y = 0; y < inHeight; y++) {
      const rowIn = y * inWidth * c;
      const rowOut = y * outWidth * c;
      for (let x = 0; x < outWidth; x++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let t = cs[x]; t < cs[x + 1]; t++) {
            const j = rowIn + ci[t] * c + ch;
            const v = other ? (src[j] > other[j] ? src[j] : other[j]) : src[j];
            acc += cw[t] * v;
          }
          tmp[rowOut + x * c + ch] = acc;
        }
      }
    }
    // Vertical pass: outHeight x outWidth, rounded like OpenCV's saturate_cast.
    const { start: rs, index: ri, weight: rw } = this.#rows;
    const rowLen = outWidth * c;
    for (let y = 0; y < outHeight; y++) {
      const o = y * rowLen;
      const t0 = rs[y];
      const t1 = rs[y + 1];
      for (let k = 0; k < rowLen; k++) {
        let acc = 0;
        for (let t = t0; t < t1; t++) acc += rw[t] * tmp[ri[t] * rowLen + k];
        out[o + k] = acc + 0.5; // values stay within [0, 255], so truncation rounds
      }
    }
    return out;
  }
}
