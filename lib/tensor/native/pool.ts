/**
 * Recycling of the native kernels' output arrays: an arena of large blocks ("chunks") from which
 * outputs are carved, and to which disposed tensors' ranges return.
 *
 * Why: a fresh `new Float32Array(n)` of a few MB is a fresh mmap whose pages fault in (and are
 * zeroed by the kernel) when the C kernel first writes them, which costs about as much as the
 * element-wise op itself; and the dead arrays of a training step (GBs) wait for V8's garbage
 * collector, which makes the process's peak RSS several times its live set.
 *
 * Why an arena rather than free lists by size: a training step goes through phases that need
 * different sizes (an EMA target encoder on every token, then the context encoder on a few,
 * then a wider predictor). Arrays kept by size serve only their own size, so the pool ends up
 * holding the sum of each size's peak, up to twice the step's peak live set. Ranges of a chunk
 * instead merge with their free neighbours and serve any size: the arena stays within a few
 * percent of the peak live set. Requests take the smallest free range that fits (best fit).
 *
 * Safety: only ranges this pool handed out are recycled, and only while nothing outside the
 * backend can hold them. Reading values out (`dataSync`, `data`, moving to another backend)
 * returns a copy of a pooled array, and an array handed to a stock cpu kernel (which may return
 * views of its input, as the cpu Slice does) is "exposed": its range is never reused. A chunk
 * whose exposed ranges pass a quarter of it is retired from the arena (the garbage collector
 * takes it once the last view of it is gone). The backend calls {@linkcode expose} and
 * {@linkcode release} at those points.
 *
 * @module
 */

/**
 * Default cap of the arena's bytes: a quarter of the machine's memory, at most 8 GiB. A training
 * step's peak live set (tfjs keeps every activation the backward pass needs) is what the arena
 * ends up holding between steps; past the cap, outputs are plain arrays for the garbage
 * collector. JEPA_NATIVE_POOL_MB overrides it (0 disables the arena).
 */
export function defaultPoolMiB(): number {
  let total = 16 * 2 ** 30;
  try {
    total = Deno.systemMemoryInfo().total;
  } catch { /* no sys permission */ }
  return Math.min(8192, Math.floor(total / 4 / 2 ** 20));
}

/** Arrays smaller than this are not worth pooling (V8 allocates them cheaply). */
const MIN_POOLED = 4096;

/** Floats per chunk (32 MiB); a larger request gets a chunk of its own size. */
const CHUNK_FLOATS = 8 << 20;

/** Ranges start on 64-byte boundaries (cache lines, aligned vector loads). */
const ALIGN_FLOATS = 16;

function capBytes(): number {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("JEPA_NATIVE_POOL_MB") || undefined;
  } catch { /* no env permission */ }
  const mb = fromEnv === undefined ? defaultPoolMiB() : Number(fromEnv);
  return (Number.isFinite(mb) && mb >= 0 ? mb : defaultPoolMiB()) * 2 ** 20;
}

/** One block of the arena: its floats and its free ranges, sorted by offset, never adjacent. */
interface Chunk {
  buffer: ArrayBuffer;
  floats: number;
  /** Free ranges as `[offset, length]` in floats. */
  free: [number, number][];
  /** Floats of ranges exposed to code outside the backend: never reused. */
  lost: number;
  retired: boolean;
}

/** Where a handed-out array lives. */
interface Range {
  chunk: Chunk;
  offset: number;
  length: number;
}

const ranges = new WeakMap<Float32Array, Range>();
let chunks: Chunk[] = [];
let arenaFloats = 0;
let freeFloats = 0;
let maxBytes = capBytes();
let stats = { allocs: 0, reused: 0, released: 0, dropped: 0, freshMiB: 0, reusedMiB: 0 };

/** The smallest free range of at least `length` floats: [chunk, index], or undefined. */
function bestFit(length: number): [Chunk, number] | undefined {
  let best: [Chunk, number] | undefined;
  let bestLength = Infinity;
  for (const chunk of chunks) {
    const free = chunk.free;
    for (let i = 0; i < free.length; i++) {
      const l = free[i][1];
      if (l >= length && l < bestLength) {
        best = [chunk, i];
        bestLength = l;
        if (l === length) return best;
      }
    }
  }
  return best;
}

/**
 * An array of `n` floats for a kernel output, carved from the arena (a view of a chunk). Its
 * contents are stale, so the kernel must write every element (use {@linkcode allocZeroed}
 * otherwise).
 */
export function alloc(n: number): Float32Array {
  stats.allocs++;
  if (n < MIN_POOLED || maxBytes === 0) return new Float32Array(n);
  const length = Math.ceil(n / ALIGN_FLOATS) * ALIGN_FLOATS;
  let fit = bestFit(length);
  if (fit) {
    stats.reused++;
    stats.reusedMiB += (length * 4) / 2 ** 20;
  } else {
    const floats = Math.max(CHUNK_FLOATS, Math.ceil(length / (1 << 18)) * (1 << 18));
    if ((arenaFloats + floats) * 4 > maxBytes) {
      stats.dropped++;
      return new Float32Array(n);
    }
    const chunk: Chunk = {
      buffer: new ArrayBuffer(floats * 4),
      floats,
      free: [[0, floats]],
      lost: 0,
      retired: false,
    };
    chunks.push(chunk);
    arenaFloats += floats;
    freeFloats += floats;
    stats.freshMiB += (floats * 4) / 2 ** 20;
    fit = [chunk, 0];
  }
  const [chunk, i] = fit;
  const [offset, free] = chunk.free[i];
  if (free === length) chunk.free.splice(i, 1);
  else chunk.free[i] = [offset + length, free - length];
  freeFloats -= length;
  const view = new Float32Array(chunk.buffer, offset * 4, n);
  ranges.set(view, { chunk, offset, length });
  return view;
}

/** {@linkcode alloc}, zero-filled. */
export function allocZeroed(n: number): Float32Array {
  const out = alloc(n);
  out.fill(0);
  return out;
}

/** Whether `values` is a private array of the pool (safe to recycle once its tensor is gone). */
export function isPooled(values: unknown): boolean {
  return values instanceof Float32Array && ranges.has(values);
}

/**
 * Marks an array as reachable from outside the backend: its range is never reused, and a chunk
 * that loses a quarter of itself this way leaves the arena.
 */
export function expose(values: unknown): void {
  if (!(values instanceof Float32Array)) return;
  const range = ranges.get(values);
  if (!range) return;
  ranges.delete(values);
  const chunk = range.chunk;
  if (chunk.retired) return;
  chunk.lost += range.length;
  if (chunk.lost * 4 > chunk.floats) retire(chunk);
}

function retire(chunk: Chunk): void {
  chunk.retired = true;
  chunks = chunks.filter((c) => c !== chunk);
  arenaFloats -= chunk.floats;
  for (const [, length] of chunk.free) freeFloats -= length;
  chunk.free = [];
}

/** Takes back the range of a disposed tensor, if it is one of ours and still private. */
export function release(values: unknown): void {
  if (!(values instanceof Float32Array)) return;
  const range = ranges.get(values);
  if (!range) return;
  ranges.delete(values);
  const { chunk, offset, length } = range;
  if (chunk.retired) return;
  stats.released++;
  freeFloats += length;
  // Insert by offset, merging with the free neighbours.
  const free = chunk.free;
  let lo = 0;
  let hi = free.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (free[mid][0] < offset) lo = mid + 1;
    else hi = mid;
  }
  const before = lo > 0 && free[lo - 1][0] + free[lo - 1][1] === offset ? lo - 1 : -1;
  const after = lo < free.length && offset + length === free[lo][0] ? lo : -1;
  if (before >= 0 && after >= 0) {
    free[before][1] += length + free[after][1];
    free.splice(after, 1);
  } else if (before >= 0) free[before][1] += length;
  else if (after >= 0) free[after] = [offset, length + free[after][1]];
  else free.splice(lo, 0, [offset, length]);
}

/** What the pool holds and has done (for tests and profiles). */
export function poolStats(): {
  /** The arena's size and what of it is free now. */
  arenaMiB: number;
  pooledMiB: number;
  chunks: number;
  allocs: number;
  reused: number;
  released: number;
  /** Outputs allocated outside the arena: its cap was reached. */
  dropped: number;
  freshMiB: number;
  reusedMiB: number;
} {
  return {
    arenaMiB: (arenaFloats * 4) / 2 ** 20,
    pooledMiB: (freeFloats * 4) / 2 ** 20,
    chunks: chunks.length,
    ...stats,
  };
}

/**
 * Empties the arena (chunks go to the garbage collector once no tensor views them; those that
 * still do are never reused) and resets the counters.
 */
export function clearPool(): void {
  for (const chunk of chunks) {
    chunk.retired = true;
    chunk.free = [];
  }
  chunks = [];
  arenaFloats = 0;
  freeFloats = 0;
  maxBytes = capBytes();
  stats = { allocs: 0, reused: 0, released: 0, dropped: 0, freshMiB: 0, reusedMiB: 0 };
}
