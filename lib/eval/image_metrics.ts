/**
 * Image quality of predicted frames against real ones, pixels in [0, 1] (gray):
 *
 *   PSNR = 10 log10(1 / MSE)                       per frame, predictions clipped to [0, 1]
 *   SSIM = mean over 7x7 windows of (2 mu_x mu_y + C1)(2 s_xy + C2) /
 *          ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),  C1 = 0.01^2, C2 = 0.03^2
 *
 * (Wang et al. 2004 with a uniform window, as scikit-image's default.) Frame-level values are
 * averaged over a batch, so one bad frame counts as much as any other.
 *
 * An exact copy scores 100 dB, a cap that dominates a mean: where 3% of the next frames equal the
 * last one (a paused Breakout), copying the last frame gains about 2 dB on average from those
 * frames alone. `changedFrames` picks the frames where something moved, to score predictions
 * on what there is to predict.
 *
 * @module
 */

const clip = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** PSNR in dB of one frame `pred` against `target` (same length); 100 for identical frames. */
export function framePsnr(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  let se = 0;
  for (let i = 0; i < pred.length; i++) se += (clip(pred[i]) - target[i]) ** 2;
  const mse = se / pred.length;
  return mse <= 1e-10 ? 100 : 10 * Math.log10(1 / mse);
}

/** SSIM of one `h x w` gray frame against another (7x7 uniform windows, valid positions). */
export function frameSsim(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  h: number,
  w: number,
  win = 7,
): number {
  const c1 = 0.01 ** 2, c2 = 0.03 ** 2;
  const n = win * win;
  // Covariances with the unbiased normalisation, as scikit-image.
  const norm = n / (n - 1);
  let total = 0, count = 0;
  for (let y = 0; y + win <= h; y++) {
    for (let x = 0; x + win <= w; x++) {
      let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      for (let dy = 0; dy < win; dy++) {
        for (let dx = 0; dx < win; dx++) {
          const i = (y + dy) * w + x + dx;
          const a = clip(pred[i]), b = target[i];
          sx += a;
          sy += b;
          sxx += a * a;
          syy += b * b;
          sxy += a * b;
        }
      }
      const mx = sx / n, my = sy / n;
      const vx = (sxx / n - mx * mx) * norm;
      const vy = (syy / n - my * my) * norm;
      const cxy = (sxy / n - mx * my) * norm;
      total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      count++;
    }
  }
  return count ? total / count : NaN;
}

/** Mean per-frame PSNR and SSIM of `b` frames of `h x w` stored one after another. */
export function batchImageMetrics(
  pred: Float32Array,
  target: Float32Array,
  b: number,
  h: number,
  w: number,
): { psnr: number; ssim: number; perFramePsnr: number[] } {
  const size = h * w;
  const perFramePsnr: number[] = [];
  let ssim = 0;
  for (let i = 0; i < b; i++) {
    const p = pred.subarray(i * size, (i + 1) * size);
    const t = target.subarray(i * size, (i + 1) * size);
    perFramePsnr.push(framePsnr(p, t));
    ssim += frameSsim(p, t, h, w);
  }
  return { psnr: perFramePsnr.reduce((a, v) => a + v, 0) / b, ssim: ssim / b, perFramePsnr };
}

/** Which of `b` frames (`size` values each) differ from their counterpart in `before`. */
export function changedFrames(
  before: ArrayLike<number>,
  after: ArrayLike<number>,
  b: number,
  size: number,
): boolean[] {
  return Array.from({ length: b }, (_, i) => {
    for (let j = i * size; j < (i + 1) * size; j++) if (before[j] !== after[j]) return true;
    return false;
  });
}

/** The mean of `values` where `mask` is set (NaN where none is). */
export function maskedMean(values: readonly number[], mask: readonly boolean[]): number {
  let sum = 0, n = 0;
  values.forEach((v, i) => {
    if (mask[i]) (sum += v, n++);
  });
  return n ? sum / n : NaN;
}
