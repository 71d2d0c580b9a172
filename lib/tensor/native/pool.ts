/**
 * Recycling of the native kernels' output arrays.
 *
 * Why: a fresh `new Float32Array(n)` of a few MB is a fresh mmap whose pages fault in (and are
 * zeroed by the kernel) when the C kernel first writes them, which costs about as much as the
 * element-wise op itself; and the dead arrays of a training step (GBs) wait for V8's garbage
 * collector, which makes the process's peak RSS several times its live set. Arrays of disposed
 * tensors are instead kept here by length and handed to the next kernel that needs that many.
 *
 * Safety: only arrays this pool allocated are recycled, and only while nothing outside the
 * backend can hold them. Reading values out (`dataSync`, `data`, moving to another backend)
 * returns a copy of a pooled array, and an array handed to a stock cpu kernel (which may return
 * views of its input, as the cpu Slice does) is "exposed": never recycled. The backend calls
 * {@linkcode expose} and {@linkcode release} at those points.
 *
 * @module
 */

/**
 * Default cap of the bytes kept for reuse: a quarter of the machine's memory, at most 8 GiB. A
 * training step's peak live set (tfjs keeps every activation the backward pass needs) is what
 * the pool ends up holding between steps; a smaller cap sends the rest to the garbage
 * collector and back to fresh pages every step. JEPA_NATIVE_POOL_MB overrides it (0 disables).
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

function capBytes(): number {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("JEPA_NATIVE_POOL_MB") || undefined;
  } catch { /* no env permission */ }
  const mb = fromEnv === undefined ? defaultPoolMiB() : Number(fromEnv);
  return (Number.isFinite(mb) && mb >= 0 ? mb : defaultPoolMiB()) * 2 ** 20;
}

/**
 * The capacity an array of `n` floats is allocated with: the next step of a ladder of ratio
 * 2^(1/8) (at most 9% spare), so that shapes that vary a little from step to step (the number
 * of context tokens does) still find a recycled array.
 */
export function capacityFor(n: number): number {
  if (n < MIN_POOLED) return n;
  let cap = Math.ceil(2 ** (Math.ceil(Math.log2(n) * 8) / 8) / 16) * 16;
  while (cap < n) cap += 16;
  return cap;
}

/** Our private arrays (the view a tensor holds -> the full array behind it). */
const bases = new WeakMap<Float32Array, Float32Array>();
const free = new Map<number, Float32Array[]>();
let pooledBytes = 0;
let maxBytes = capBytes();
let stats = { allocs: 0, reused: 0, released: 0, dropped: 0, freshMiB: 0, reusedMiB: 0 };

/**
 * An array of `n` floats for a kernel output: a recycled one (a view of its first `n` floats)
 * when the pool has one of this capacity. Its contents are stale, so the kernel must write
 * every element (use {@linkcode allocZeroed} otherwise).
 */
export function alloc(n: number): Float32Array {
  stats.allocs++;
  if (n < MIN_POOLED || maxBytes === 0) return new Float32Array(n);
  const cap = capacityFor(n);
  let base = free.get(cap)?.pop();
  // A slightly larger free array beats a fresh one: shapes vary a little from step to step.
  for (let up = cap, i = 0; !base && i < 3; i++) {
    up = capacityFor(up + 1);
    base = free.get(up)?.pop();
  }
  if (base) {
    pooledBytes -= base.byteLength;
    stats.reused++;
    stats.reusedMiB += base.byteLength / 2 ** 20;
  } else {
    base = new Float32Array(cap);
    stats.freshMiB += base.byteLength / 2 ** 20;
  }
  const view = base.length === n ? base : base.subarray(0, n);
  bases.set(view, base);
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
  return values instanceof Float32Array && bases.has(values);
}

/** Marks an array as reachable from outside the backend: it will never be recycled. */
export function expose(values: unknown): void {
  if (values instanceof Float32Array) bases.delete(values);
}

/** Takes back the array of a disposed tensor, if it is one of ours and still private. */
export function release(values: unknown): void {
  if (!(values instanceof Float32Array)) return;
  const base = bases.get(values);
  if (!base) return;
  bases.delete(values);
  if (pooledBytes + base.byteLength > maxBytes) {
    stats.dropped++;
    return;
  }
  let list = free.get(base.length);
  if (!list) free.set(base.length, list = []);
  list.push(base);
  pooledBytes += base.byteLength;
  stats.released++;
}

/** What the pool holds and has done (for tests and profiles). */
export function poolStats(): {
  pooledMiB: number;
  allocs: number;
  reused: number;
  released: number;
  dropped: number;
  freshMiB: number;
  reusedMiB: number;
} {
  return { pooledMiB: pooledBytes / 2 ** 20, ...stats };
}

/** Empties the pool (arrays go to the garbage collector) and resets the counters. */
export function clearPool(): void {
  free.clear();
  pooledBytes = 0;
  maxBytes = capBytes();
  stats = { allocs: 0, reused: 0, released: 0, dropped: 0, freshMiB: 0, reusedMiB: 0 };
}
