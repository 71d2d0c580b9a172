/**
 * Soak runs: many steps of a benchmark's step function, sampling tfjs' live tensors and the
 * process's resident memory as they go, to show that a training step leaks neither. `deno task
 * bench --soak N` runs one for every selected benchmark that has a step.
 *
 * Growth is measured from the first sample (after a tenth of the steps: the arena of the native
 * backend and V8's heap have grown to their working size by then) to the last.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** One sample of a soak run, taken after `step` steps. */
export interface SoakSample {
  step: number;
  /** `tf.memory().numTensors`. */
  numTensors: number;
  /** Resident set size of the process, MiB. */
  rssMiB: number;
}

/** What {@linkcode soak} reports. */
export interface SoakResult {
  steps: number;
  samples: SoakSample[];
  /** Last sample minus the first. */
  growth: { numTensors: number; rssMiB: number };
  /** Mean milliseconds per step over the whole run. */
  msPerStep: number;
}

/** The process's resident set size in MiB. */
export function rssMiB(): number {
  return Math.round(Deno.memoryUsage().rss / 2 ** 20);
}

/**
 * Runs `steps` steps of `prepare()`'s step and samples memory every `every` steps (default a
 * tenth of them, at least 1), calling `onSample` with each sample as it is taken. Disposes the
 * run at the end.
 */
export function soak(
  prepare: () => { step(): unknown; dispose(): void },
  steps: number,
  { every, onSample }: { every?: number; onSample?: (s: SoakSample) => void } = {},
): SoakResult {
  if (!(Number.isInteger(steps) && steps >= 1)) {
    throw new Error(`soak: steps must be an integer >= 1, got ${steps}`);
  }
  const interval = every ?? Math.max(1, Math.floor(steps / 10));
  const run = prepare();
  const samples: SoakSample[] = [];
  const start = performance.now();
  try {
    for (let i = 1; i <= steps; i++) {
      run.step();
      if (i % interval === 0 || i === steps) {
        const sample = { step: i, numTensors: tf.memory().numTensors, rssMiB: rssMiB() };
        samples.push(sample);
        onSample?.(sample);
      }
    }
  } finally {
    run.dispose();
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    steps,
    samples,
    growth: { numTensors: last.numTensors - first.numTensors, rssMiB: last.rssMiB - first.rssMiB },
    msPerStep: (performance.now() - start) / steps,
  };
}
