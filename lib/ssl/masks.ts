/**
 * Masks over a patch grid: I-JEPA's multi-block masks, and random masks (V-JEPA style).
 *
 * Multi-block (Assran et al. 2023): M target blocks of scale 0.15-0.2 of the image and aspect
 * 0.75-1.5, and one context block of scale 0.85-1.0 with every target removed. Two bugs of the
 * reference collator are fixed here:
 * - its top/left offsets were drawn from `[0, rows - h)`, so the last row and column could never
 *   be in a block; here they are drawn from `[0, rows - h]`;
 * - it looped forever when no context of `minKeep` tokens fit; here the context falls back to the
 *   whole complement of the targets after a bounded number of tries, and configs for which even
 *   that can fail are rejected up front.
 * As in I-JEPA, block sizes are drawn once per batch (so every sample has the same number of
 * target tokens) and positions per sample.
 *
 * @module
 */

import type { Rng } from "../tensor/rng.ts";

/** Multi-block mask parameters (I-JEPA's, with `minContext` scaled to small grids). */
export interface MultiBlockConfig {
  /** Number of target blocks. */
  targets: number;
  targetScale: [number, number];
  targetAspect: [number, number];
  contextScale: [number, number];
  /** Fewest context tokens a sample may keep. */
  minContext: number;
  /**
   * Share of each sample's target blocks placed over moving content (default 0: all uniform).
   * Such a block covers one token drawn with probability proportional to its motion (see
   * {@linkcode patchMotion}); on Atari frames, where most tokens are static background, uniform
   * targets rarely ask the predictor about the ball or the paddle.
   */
  motionTargets?: number;
}

/** I-JEPA's published settings. */
export const IJEPA_MASKS: MultiBlockConfig = {
  targets: 4,
  targetScale: [0.15, 0.2],
  targetAspect: [0.75, 1.5],
  contextScale: [0.85, 1.0],
  minContext: 4,
};

/** One sample's mask: token indices (row-major over the grid), sorted. */
export interface SampleMask {
  context: number[];
  targets: number[][];
}

/** A batch of masks with equal counts per sample, flattened for {@linkcode gatherTokens}. */
export interface BatchMasks {
  /** `[B * contextCount]` context token indices. */
  context: Int32Array;
  contextCount: number;
  /** One `[B * targetCount]` array per target block. */
  targets: Int32Array[];
  targetCount: number;
}

const MAX_TRIES = 20;

/** Height and width of a block of `scale` of the grid with aspect `h / w`, fitting the grid. */
export function blockSize(
  rows: number,
  cols: number,
  scale: number,
  aspect: number,
): [number, number] {
  const cells = scale * rows * cols;
  const h = Math.max(1, Math.min(rows, Math.round(Math.sqrt(cells * aspect))));
  const w = Math.max(1, Math.min(cols, Math.round(Math.sqrt(cells / aspect))));
  return [h, w];
}

/** Cells of an `h x w` block at a uniformly drawn position (every row and column reachable). */
function placeBlock(rng: Rng, rows: number, cols: number, h: number, w: number): number[] {
  const top = rng.int(rows - h + 1);
  const left = rng.int(cols - w + 1);
  const cells: number[] = [];
  for (let r = top; r < top + h; r++) {
    for (let c = left; c < left + w; c++) cells.push(r * cols + c);
  }
  return cells;
}

/** Cells of an `h x w` block at a uniformly drawn position among those that cover `cell`. */
function placeBlockOver(
  rng: Rng,
  rows: number,
  cols: number,
  h: number,
  w: number,
  cell: number,
): number[] {
  const [r, c] = [Math.floor(cell / cols), cell % cols];
  const top0 = Math.max(0, r - h + 1);
  const left0 = Math.max(0, c - w + 1);
  const top = top0 + rng.int(Math.min(r, rows - h) - top0 + 1);
  const left = left0 + rng.int(Math.min(c, cols - w) - left0 + 1);
  const cells: number[] = [];
  for (let y = top; y < top + h; y++) {
    for (let x = left; x < left + w; x++) cells.push(y * cols + x);
  }
  return cells;
}

/** A token drawn with probability proportional to `weights` (uniform when they are all 0). */
function drawWeighted(rng: Rng, weights: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  if (!(total > 0)) return rng.int(weights.length);
  let u = rng.float() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}

/**
 * Each token's motion in a batch of patches `[b, tokens, patch * patch * channels]` (channels
 * innermost, the frame stack's frames as channels): the summed absolute change of its pixels
 * from the oldest frame to the newest, `[b * tokens]`.
 */
export function patchMotion(
  patches: Float32Array,
  opts: { batch: number; tokens: number; patchDim: number; channels: number },
): Float32Array {
  const { batch, tokens, patchDim, channels } = opts;
  const out = new Float32Array(batch * tokens);
  for (let t = 0; t < batch * tokens; t++) {
    let sum = 0;
    for (let p = t * patchDim; p < (t + 1) * patchDim; p += channels) {
      sum += Math.abs(patches[p + channels - 1] - patches[p]);
    }
    out[t] = sum;
  }
  return out;
}

/**
 * Rejects configs for which no valid mask exists: even with every target block on the same
 * spot (blocks may overlap), the grid must keep `minContext` tokens outside it.
 */
export function checkMultiBlock(rows: number, cols: number, cfg: MultiBlockConfig): void {
  // Rounding makes block area non-monotonic in the aspect: scan both ranges.
  let largest = 0;
  for (let i = 0; i <= 40; i++) {
    for (let j = 0; j <= 40; j++) {
      const scale = cfg.targetScale[0] + ((cfg.targetScale[1] - cfg.targetScale[0]) * i) / 40;
      const aspect = Math.exp(
        Math.log(cfg.targetAspect[0]) +
          (Math.log(cfg.targetAspect[1] / cfg.targetAspect[0]) * j) / 40,
      );
      const [h, w] = blockSize(rows, cols, scale, aspect);
      largest = Math.max(largest, h * w);
    }
  }
  if (rows * cols - largest < cfg.minContext) {
    throw new Error(
      `masks: a target block of scale ${
        cfg.targetScale[1]
      } covers ${largest} of the ${rows}x${cols} ` +
        `grid's ${
          rows * cols
        } tokens, leaving fewer than minContext=${cfg.minContext}: use smaller ` +
        `targets or a lower minContext`,
    );
  }
}

/** Draws block sizes for one batch: the target `[h, w]` and the context `[h, w]`. */
export function drawBlockSizes(rng: Rng, rows: number, cols: number, cfg: MultiBlockConfig) {
  const target = blockSize(
    rows,
    cols,
    rng.uniform(cfg.targetScale[0], cfg.targetScale[1]),
    Math.exp(rng.uniform(Math.log(cfg.targetAspect[0]), Math.log(cfg.targetAspect[1]))),
  );
  const context = blockSize(rows, cols, rng.uniform(cfg.contextScale[0], cfg.contextScale[1]), 1);
  return { target, context };
}

/** One sample's multi-block mask with the given block sizes. Always terminates. */
export function multiBlockMask(
  rng: Rng,
  rows: number,
  cols: number,
  cfg: MultiBlockConfig,
  sizes = drawBlockSizes(rng, rows, cols, cfg),
  motion?: ArrayLike<number>,
): SampleMask {
  const [th, tw] = sizes.target;
  const [ch, cw] = sizes.context;
  const n = rows * cols;
  const moving = motion ? Math.round((cfg.motionTargets ?? 0) * cfg.targets) : 0;
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const targets = Array.from(
      { length: cfg.targets },
      (_, j) =>
        j < moving
          ? placeBlockOver(rng, rows, cols, th, tw, drawWeighted(rng, motion!))
          : placeBlock(rng, rows, cols, th, tw),
    );
    const covered = new Uint8Array(n);
    for (const t of targets) for (const i of t) covered[i] = 1;
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const context = placeBlock(rng, rows, cols, ch, cw).filter((i) => !covered[i]);
      if (context.length >= cfg.minContext) {
        return { context: context.sort((a, b) => a - b), targets };
      }
    }
    // No context block kept enough tokens: use everything the targets leave, if enough.
    const complement = [];
    for (let i = 0; i < n; i++) if (!covered[i]) complement.push(i);
    if (complement.length >= cfg.minContext) return { context: complement, targets };
  }
  // Targets kept covering too much: stack them on one spot, which checkMultiBlock guarantees
  // leaves minContext tokens free.
  const block = placeBlock(rng, rows, cols, th, tw);
  const inBlock = new Set(block);
  const context = Array.from({ length: n }, (_, i) => i).filter((i) => !inBlock.has(i));
  if (context.length < cfg.minContext) {
    throw new Error(
      `masks: no context of ${cfg.minContext} tokens fits (check the config with checkMultiBlock)`,
    );
  }
  return { context, targets: Array.from({ length: cfg.targets }, () => block) };
}

/** The batch and token grid a {@linkcode multiBlockBatch} is drawn for. */
export interface MultiBlockBatchOptions {
  /** Samples in the batch (one mask each). */
  batch: number;
  /** Rows of the patch grid. */
  rows: number;
  /** Columns of the patch grid. */
  cols: number;
  /** Context tokens kept per sample, at most (default: the smallest context in the batch). */
  contextKeep?: number;
  /** Per-token motion `[batch * rows * cols]` for `motionTargets` ({@linkcode patchMotion}). */
  motion?: Float32Array;
}

/**
 * A batch of multi-block masks with equal counts: targets share their block size; contexts are
 * cut to the smallest context in the batch (or to `contextKeep`) by random subsets, so no part
 * of the image is favoured.
 */
export function multiBlockBatch(
  rng: Rng,
  cfg: MultiBlockConfig,
  opts: MultiBlockBatchOptions,
): BatchMasks {
  const { batch, rows, cols, contextKeep } = opts;
  const sizes = drawBlockSizes(rng, rows, cols, cfg);
  const n = rows * cols;
  if (opts.motion && opts.motion.length !== batch * n) {
    throw new Error(`masks: motion has ${opts.motion.length} values, expected ${batch} x ${n}`);
  }
  const masks = Array.from(
    { length: batch },
    (_, i) =>
      multiBlockMask(rng, rows, cols, cfg, sizes, opts.motion?.subarray(i * n, (i + 1) * n)),
  );
  const smallest = Math.min(...masks.map((m) => m.context.length));
  const keep = contextKeep === undefined ? smallest : Math.min(contextKeep, smallest);
  const context = new Int32Array(batch * keep);
  const targetCount = sizes.target[0] * sizes.target[1];
  const targets = Array.from({ length: cfg.targets }, () => new Int32Array(batch * targetCount));
  masks.forEach((m, i) => {
    const kept = rng.shuffle([...m.context]).slice(0, keep).sort((a, b) => a - b);
    context.set(kept, i * keep);
    m.targets.forEach((t, j) => targets[j].set(t, i * targetCount));
  });
  return { context, contextCount: keep, targets, targetCount };
}

/** A random mask: `round(ratio * n)` masked tokens, the rest visible; both sorted. */
export function randomMask(
  rng: Rng,
  n: number,
  ratio: number,
): { visible: number[]; masked: number[] } {
  const perm = rng.permutation(n);
  const m = Math.round(ratio * n);
  return {
    masked: perm.slice(0, m).sort((a, b) => a - b),
    visible: perm.slice(m).sort((a, b) => a - b),
  };
}
