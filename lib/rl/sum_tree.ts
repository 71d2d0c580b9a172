/**
 * The sum tree of proportional prioritized replay (Schaul et al. 2016): a binary tree over
 * `capacity` leaf priorities whose inner nodes hold the sums of their children, so the total,
 * an update, and finding the leaf where a prefix sum falls each take O(log n); beside it a min
 * tree, for the largest importance weight (that of the smallest priority).
 *
 * @module
 */

/** Sum and min trees over `capacity` priorities (all 0 at the start). */
export class SumTree {
  readonly #size: number;
  readonly #sum: Float64Array;
  readonly #min: Float64Array;
  #count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`SumTree: capacity must be an integer >= 1, got ${capacity}`);
    }
    let size = 1;
    while (size < capacity) size *= 2;
    this.#size = size;
    this.#sum = new Float64Array(2 * size);
    this.#min = new Float64Array(2 * size).fill(Infinity);
  }

  /** The sum of every priority. */
  get total(): number {
    return this.#sum[1];
  }

  /** The smallest positive priority (Infinity when there is none). */
  get min(): number {
    return this.#min[1];
  }

  /** Leaves with a positive priority. */
  get count(): number {
    return this.#count;
  }

  /** Leaf `i`'s priority. */
  get(i: number): number {
    return this.#sum[this.#size + i];
  }

  /** Sets leaf `i`'s priority (`p >= 0`, finite). */
  set(i: number, p: number): void {
    if (!(i >= 0 && i < this.capacity && Number.isInteger(i))) {
      throw new Error(`SumTree: index ${i} outside [0, ${this.capacity})`);
    }
    if (!(p >= 0 && Number.isFinite(p))) throw new Error(`SumTree: priority ${p} is not >= 0`);
    let n = this.#size + i;
    this.#count += (p > 0 ? 1 : 0) - (this.#sum[n] > 0 ? 1 : 0);
    this.#sum[n] = p;
    // A leaf at 0 holds nothing to sample: it does not count toward the minimum.
    this.#min[n] = p > 0 ? p : Infinity;
    for (n >>= 1; n >= 1; n >>= 1) {
      this.#sum[n] = this.#sum[2 * n] + this.#sum[2 * n + 1];
      this.#min[n] = Math.min(this.#min[2 * n], this.#min[2 * n + 1]);
    }
  }

  /**
   * The leaf where prefix sum `s` falls: the smallest i with `sum(p_0..p_i) > s`, for `s` in
   * `[0, total)`; values at or past the total give the last leaf with a priority.
   */
  find(s: number): number {
    let n = 1;
    while (n < this.#size) {
      const left = this.#sum[2 * n];
      if (s < left || this.#sum[2 * n + 1] === 0) n = 2 * n;
      else {
        s -= left;
        n = 2 * n + 1;
      }
    }
    return n - this.#size;
  }

  /** Every leaf's priority (for checkpoints). */
  priorities(): Float64Array {
    return this.#sum.slice(this.#size, this.#size + this.capacity);
  }

  /** Replaces every leaf's priority (a checkpoint's `priorities()`), rebuilding the tree in O(n). */
  load(priorities: ArrayLike<number>): void {
    if (priorities.length !== this.capacity) {
      throw new Error(`SumTree: ${priorities.length} priorities for a tree of ${this.capacity}`);
    }
    const size = this.#size;
    this.#sum.fill(0);
    this.#min.fill(Infinity);
    this.#count = 0;
    for (let i = 0; i < this.capacity; i++) {
      const p = priorities[i];
      if (!(p >= 0 && Number.isFinite(p))) throw new Error(`SumTree: priority ${p} is not >= 0`);
      this.#sum[size + i] = p;
      if (p > 0) {
        this.#min[size + i] = p;
        this.#count++;
      }
    }
    for (let n = size - 1; n >= 1; n--) {
      this.#sum[n] = this.#sum[2 * n] + this.#sum[2 * n + 1];
      this.#min[n] = Math.min(this.#min[2 * n], this.#min[2 * n + 1]);
    }
  }
}
