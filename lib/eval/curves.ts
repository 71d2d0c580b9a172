/**
 * Learning curves over seeds: each seed's (step, value) records averaged in equal bins of steps,
 * then per group and bin the mean over seeds and the seeds' range (the band a figure draws).
 *
 * @module
 */

/** One bin of a group's curve. */
export interface CurvePoint {
  group: string;
  /** The bin's centre. */
  step: number;
  /** Mean over the seeds that have records in the bin, and their range. */
  mean: number;
  lo: number;
  hi: number;
}

/** A point of one seed's run: a training game's return at the env step it ended, say. */
export interface CurveRecord {
  step: number;
  value: number;
}

/**
 * The curves of `groups` (each: its seeds' records) over `[0, total)` steps in `bins` bins;
 * bins no seed has a record in are left out.
 */
export function seedBandCurves(
  groups: { group: string; seeds: CurveRecord[][] }[],
  total: number,
  bins = 30,
): CurvePoint[] {
  const width = total / bins;
  const points: CurvePoint[] = [];
  for (const { group, seeds } of groups) {
    const perSeed = seeds.map((records) => {
      const sums = new Float64Array(bins);
      const counts = new Float64Array(bins);
      for (const r of records) {
        const b = Math.min(bins - 1, Math.max(0, Math.floor(r.step / width)));
        sums[b] += r.value;
        counts[b]++;
      }
      return Array.from(sums, (s, b) => counts[b] ? s / counts[b] : NaN);
    });
    for (let b = 0; b < bins; b++) {
      const vals = perSeed.map((s) => s[b]).filter(Number.isFinite);
      if (vals.length === 0) continue;
      points.push({
        group,
        step: (b + 0.5) * width,
        mean: vals.reduce((a, v) => a + v, 0) / vals.length,
        lo: Math.min(...vals),
        hi: Math.max(...vals),
      });
    }
  }
  return points;
}
