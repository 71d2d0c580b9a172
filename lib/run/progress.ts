/**
 * The one event every long loop reports: a {@linkcode StepEvent} says that step `step` of
 * `total` in loop `loop` is done, with the step's numbers. Trainers, PPO, collectors and studies
 * all take an {@linkcode OnStep}; what happens to the events is the caller's choice, made with
 * the two receivers here:
 *
 * - {@linkcode stepRecorder} appends each event to a run's metrics (`metrics.jsonl`) with the
 *   record fields the caller names (`kind: "train"`, `model: "blind"`), and passes it on;
 * - {@linkcode progressBars} draws one {@linkcode ProgressBar} per loop on stderr.
 *
 * A study records its loops' events and relabels them ("stage 1 (V-JEPA)"); a task or notebook
 * passes `progressBars()` (or its own function, to plot losses live) as the study's `onStep`.
 *
 * @module
 */

import type { MetricRecord } from "./run_dir.ts";

/** One finished step of a long loop. */
export interface StepEvent {
  /** Which loop: "pretrain", "stage 2 (blind)", "collect", a swap run's name, ... */
  loop: string;
  /** Steps done so far in the loop (1-based; a resumed loop continues its count). */
  step: number;
  /** The loop's length in the same unit (a bar's 100%). */
  total: number;
  /** The step's numbers: loss, lr, samplesPerSec, return, ... */
  values: Record<string, number>;
}

/** Receives step events. */
export type OnStep = (event: StepEvent) => void;

/** Options of {@linkcode stepRecorder}. */
export interface StepRecorderOptions {
  /** Appends one metrics record (e.g. `(r) => run.metric(r)`). */
  metric?: (record: MetricRecord) => void;
  /** Fields every record starts with (`{ kind: "train", model: "blind" }`). */
  fields?: MetricRecord;
  /** Names the loop in the events passed on (replaces the trainer's own label). */
  loop?: string;
  /** Receives each event after it is recorded (a study's caller: bars, live plots). */
  then?: OnStep;
}

/**
 * An {@linkcode OnStep} that writes `{ ...fields, step, ...values }` through `metric` and passes
 * the event (relabelled with `loop`) on to `then`.
 */
export function stepRecorder(opts: StepRecorderOptions): OnStep {
  return (event) => {
    opts.metric?.({ ...opts.fields, step: event.step, ...event.values });
    opts.then?.(opts.loop === undefined ? event : { ...event, loop: opts.loop });
  };
}

/** Options of {@linkcode progressBars}. */
export interface ProgressBarsOptions {
  /** Put before each loop's label (e.g. indentation under a pipeline phase). */
  prefix?: string;
  /** The values shown on a bar, by name (default: all of them). */
  show?: string[];
}

/**
 * An {@linkcode OnStep} that draws one progress bar per loop. A bar starts at the first event it
 * sees, so a resumed loop's rate and ETA are this session's.
 */
export function progressBars(opts: ProgressBarsOptions = {}): OnStep {
  const bars = new Map<string, ProgressBar>();
  return (event) => {
    let bar = bars.get(event.loop);
    if (!bar) {
      bar = new ProgressBar(`${opts.prefix ?? ""}${event.loop}`, event.total, event.step - 1);
      bars.set(event.loop, bar);
    }
    const shown = opts.show
      ? Object.fromEntries(
        opts.show.filter((k) => k in event.values).map((k) => [
          k,
          event.values[k],
        ]),
      )
      : event.values;
    bar.update(event.step, shown);
  };
}

/**
 * A progress bar on stderr: redrawn in place on a terminal, a plain line every few seconds
 * otherwise (CI logs, notebooks, where it goes through `console.error`).
 */
export class ProgressBar {
  #start = performance.now();
  #lastDraw = 0;
  readonly #tty = Deno.stderr.isTerminal();
  readonly #encoder = new TextEncoder();

  /**
   * A bar for `total` steps; `from` steps were done before it started (a resumed run), so the
   * rate and the ETA count only the steps after them.
   */
  constructor(readonly label: string, readonly total: number, readonly from = 0) {}

  /** Updates the bar to `done` of `total`, with extra fields (loss, lr, ...). */
  update(done: number, fields: Record<string, string | number> = {}): void {
    const now = performance.now();
    const finished = done >= this.total;
    if (!finished && now - this.#lastDraw < (this.#tty ? 100 : 5000)) return;
    this.#lastDraw = now;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const elapsed = (now - this.#start) / 1000;
    const ran = done - this.from;
    const eta = ran > 0 ? elapsed * (this.total - done) / ran : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === "number" ? formatNumber(v) : v}`)
      .join(" ");
    const line = `${this.label} [${bar}] ${done}/${this.total} ${elapsed.toFixed(0)}s` +
      (finished ? "" : ` eta ${eta.toFixed(0)}s`) + (extra ? ` ${extra}` : "");
    // Off a terminal, console.error: a notebook kernel shows it in the cell's output.
    if (this.#tty) {
      Deno.stderr.writeSync(this.#encoder.encode(`\r\x1b[2K${line}${finished ? "\n" : ""}`));
    } else console.error(line);
  }
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toPrecision(4);
}
