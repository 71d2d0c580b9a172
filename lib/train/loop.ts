/**
 * The training loop every trainer in the project shares: I-JEPA / autoencoder / V-JEPA stage-1
 * pretraining, the stage-2 world model, the pixel decoder. A trainer supplies a
 * {@linkcode TrainMethod} (its variables, its batches, its loss, what happens after a step); the
 * loop owns everything that must be right once:
 *
 * - exact resume: the batches of an epoch are a function of the epoch, everything random in a
 *   loss is a function of (seed, step), schedules are functions of the step, and a checkpoint
 *   holds every variable and the optimiser moments, so a run killed at any moment and resumed
 *   ends with the same weights as an uninterrupted one (on a deterministic backend);
 * - the NaN guard: a non-finite loss stops the run before any update, naming the step and the
 *   last good checkpoint, which is kept;
 * - AdamW with warmup + cosine learning rate, a cosine weight-decay ramp and clipping by global
 *   norm (`lib/train/optim.ts`), with every step's temporaries freed (tf.memory().numTensors stays
 *   flat);
 * - early stopping: a validation loss every `every` steps; after `patience` evaluations without
 *   improvement the run stops, and the best weights so far sit in `<checkpointDir>/best`.
 *
 * Checkpoint tensor names are the method's names plus `opt/m/<name>` and `opt/v/<name>`.
 *
 * @module
 */

import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { AdamW, cosineRamp, globalNormClip, warmupCosine } from "./optim.ts";
import type { OnStep } from "../run/progress.ts";
import {
  assignTensors,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../tensor/checkpoint.ts";

/** The optimisation hyper-parameters the loop reads (a trainer's `train` config block). */
export interface LoopSchedule {
  steps: number;
  batchSize: number;
  /** Peak learning rate, reached after `warmupSteps` from `startLr`, then cosine to `finalLr`. */
  lr: number;
  startLr: number;
  finalLr: number;
  warmupSteps: number;
  /** AdamW decoupled weight decay, on a cosine from the first value to the second. */
  weightDecay: [number, number];
  /** Global-norm clipping threshold (0: off). */
  clipGrad: number;
  checkpointEvery: number;
}

/** Early stopping on a validation loss. */
export interface EarlyStopping {
  /** Evaluate every this many steps (0: never, no early stopping). */
  every: number;
  /** Stop after this many evaluations in a row without a new best. */
  patience: number;
}

/** What a trainer gives the loop. `B` is its batch type. */
export interface TrainMethod<B> {
  /** Variables the optimiser updates, by checkpoint name. */
  trainable: [string, tf.Variable][];
  /** Every model variable to checkpoint (trainable ones, EMA targets, ...), by name. */
  all: [string, tf.Variable][];
  /** Batches per epoch (at least 1). */
  perEpoch: number;
  /** The batches of one epoch, in an order fixed by the epoch number. */
  epoch(epoch: number): Iterator<B>;
  /** The loss of a batch at a step (everything random in it derived from the step). */
  loss(batch: B, step: number): tf.Scalar;
  /** After the update of `step` (0-based): EMA updates and the like. */
  afterStep?(step: number): void;
  /** Runs after steps `every`, `2 * every`, ... and after the last one (collapse monitors). */
  monitor?: { every: number; run(done: number): void };
  /** The validation loss of the current weights, for early stopping (deterministic). */
  validate?: EarlyStopping & { loss(): number };
  /**
   * After each checkpoint is committed to `dir` (the latest, or the best under early
   * stopping): files that belong beside it, such as the encoder artifact.
   */
  onSave?(dir: string, step: number): Promise<void>;
}

/** Where and how one call runs. */
export interface LoopOptions {
  /** Checkpoint directory; the best weights under early stopping go to its `best/`. */
  checkpointDir: string;
  /** Continue from the checkpoint in `checkpointDir`, if there is one. */
  resume?: boolean;
  /** Stop (throwing) after this many steps in this call: simulates a kill in tests. */
  stopAfter?: number;
  /** The run's whole config: stored in checkpoints; resuming requires the same one. */
  config: unknown;
  /** Extra sidecar fields stored with every checkpoint (e.g. the encoder's shape). */
  extra?: Record<string, unknown>;
  /** Names the trainer in errors ("pretrain", "world model"). */
  label?: string;
}

/** One validation's report. */
export interface ValidationReport {
  step: number;
  valLoss: number;
  bestLoss: number;
  bestStep: number;
  /** Evaluations in a row without improvement. */
  stale: number;
}

/** What the loop reports as it goes. */
export interface LoopHooks {
  /** Each step, as loop `label` with values `loss`, `lr`, `gradNorm`, `samplesPerSec`. */
  onStep?: OnStep;
  onValidate?(info: ValidationReport): void;
  log?(line: string): void;
}

/** A finished (or early-stopped) run. */
export interface LoopResult {
  /** Steps done in total (fewer than `steps` after an early stop). */
  steps: number;
  /** Loss of the last step run in this call (NaN when none ran). */
  lastLoss: number;
  stoppedEarly: boolean;
  /** The best validation loss and its step (under early stopping), and its checkpoint. */
  best?: { step: number; valLoss: number; dir: string };
}

/**
 * A loss that became NaN or infinite: the run stops before the update and keeps its last good
 * checkpoint. Every trainer throws this one class (the shared loop here, PPO, DQN).
 */
export class NonFiniteLossError extends Error {}

/** Early-stopping state, kept in every checkpoint's sidecar so a resumed run continues it. */
interface StopState {
  bestLoss: number | null;
  bestStep: number;
  stale: number;
  stopped: boolean;
}

/** The directory of the best checkpoint under early stopping. */
export function bestCheckpointDir(checkpointDir: string): string {
  return join(checkpointDir, "best");
}

/**
 * The checkpoint a finished run should be evaluated from: under early stopping the best one
 * (`<dir>/best`), otherwise the latest.
 */
export function evaluatedCheckpoint(checkpointDir: string): string {
  const best = bestCheckpointDir(checkpointDir);
  return hasCheckpoint(best) ? best : checkpointDir;
}

/** Trains (or resumes) `method` under `schedule`. */
export async function trainLoop<B>(
  method: TrainMethod<B>,
  schedule: LoopSchedule,
  opts: LoopOptions,
  hooks: LoopHooks = {},
): Promise<LoopResult> {
  const t = schedule;
  const label = opts.label ?? "train";
  if (!(method.perEpoch >= 1)) throw new Error(`${label}: no full batch in an epoch`);
  const optimizer = new AdamW(method.trainable);
  const saved = () => [
    ...method.all,
    ...optimizer.stateTensors().map(([k, v]) => [`opt/${k}`, v] as [string, tf.Variable]),
  ];
  const validate = method.validate && method.validate.every > 0 ? method.validate : undefined;
  const state: StopState = { bestLoss: null, bestStep: 0, stale: 0, stopped: false };
  const bestDir = bestCheckpointDir(opts.checkpointDir);
  const best = (): LoopResult["best"] =>
    validate && state.bestLoss !== null
      ? { step: state.bestStep, valLoss: state.bestLoss, dir: bestDir }
      : undefined;
  const save = async (dir: string, step: number) => {
    await saveCheckpoint(dir, step, saved(), opts.config, {
      ...opts.extra,
      earlyStop: { ...state },
    });
    await method.onSave?.(dir, step);
  };

  try {
    let start = 0;
    if (opts.resume && hasCheckpoint(opts.checkpointDir)) {
      const { meta, tensors } = loadCheckpoint(opts.checkpointDir);
      if (JSON.stringify(meta.config) !== JSON.stringify(opts.config)) {
        throw new Error(
          `${opts.checkpointDir}: the checkpoint was made with a different config; start a new run`,
        );
      }
      assignTensors(saved(), tensors, opts.checkpointDir);
      optimizer.step = meta.step;
      start = meta.step;
      Object.assign(state, meta.extra.earlyStop ?? {});
      hooks.log?.(`resumed from step ${start} (${opts.checkpointDir})`);
      if (state.stopped) {
        hooks.log?.(`the run had stopped early at step ${start}: nothing left to do`);
        return { steps: start, lastLoss: NaN, stoppedEarly: true, best: best() };
      }
    }

    let batches: Iterator<B> | null = null;
    let lastLoss = NaN;
    let lastCheckpoint = start;
    let timer = performance.now();
    let timedSteps = 0;
    for (let step = start; step < t.steps; step++) {
      if (opts.stopAfter !== undefined && step - start >= opts.stopAfter) {
        throw new Error(`stopped after ${opts.stopAfter} steps`);
      }
      const epoch = Math.floor(step / method.perEpoch);
      if (!batches || step % method.perEpoch === 0) {
        batches = method.epoch(epoch);
        // On resume mid-epoch, skip the batches already trained on.
        for (let k = 0; k < step % method.perEpoch; k++) batches.next();
      }
      const next = batches.next();
      if (next.done) throw new Error(`${label}: epoch ${epoch} ran out of batches`);
      const lr = warmupCosine(step, {
        total: t.steps,
        warmup: t.warmupSteps,
        peak: t.lr,
        final: t.finalLr,
        start: t.startLr,
      });
      const wd = cosineRamp(step, t.steps, ...t.weightDecay);

      const { value, grads } = tf.variableGrads(
        () => method.loss(next.value, step),
        method.trainable.map(([, v]) => v),
      );
      const loss = (await value.data())[0];
      if (!Number.isFinite(loss)) {
        tf.dispose([value, ...Object.values(grads)]);
        throw new NonFiniteLossError(
          `loss became ${loss} at step ${step} (epoch ${epoch}); no update was applied. The last ` +
            `good checkpoint (step ${lastCheckpoint}) is in ${opts.checkpointDir}`,
        );
      }
      const named: Record<string, tf.Tensor> = {};
      method.trainable.forEach(([name, v]) => (named[name] = grads[v.name]));
      const clip = globalNormClip(named, t.clipGrad);
      optimizer.apply(named, lr, wd, clip.scale);
      const gradNorm = clip.norm;
      tf.dispose([value, ...Object.values(grads)]);
      method.afterStep?.(step);
      lastLoss = loss;
      timedSteps++;
      const elapsed = (performance.now() - timer) / 1000;
      hooks.onStep?.({
        loop: label,
        step: step + 1,
        total: t.steps,
        values: { loss, lr, gradNorm, samplesPerSec: (timedSteps * t.batchSize) / elapsed },
      });

      const done = step + 1;
      if (method.monitor && (done % method.monitor.every === 0 || done === t.steps)) {
        method.monitor.run(done);
      }
      if (validate && (done % validate.every === 0 || done === t.steps)) {
        const valLoss = validate.loss();
        if (state.bestLoss === null || valLoss < state.bestLoss) {
          Object.assign(state, { bestLoss: valLoss, bestStep: done, stale: 0 });
          await save(bestDir, done);
        } else {
          state.stale++;
        }
        state.stopped = state.stale >= validate.patience && done < t.steps;
        hooks.onValidate?.({
          step: done,
          valLoss,
          bestLoss: state.bestLoss!,
          bestStep: state.bestStep,
          stale: state.stale,
        });
        if (state.stopped) {
          hooks.log?.(
            `early stop at step ${done}: no better validation loss in ${state.stale} ` +
              `evaluations (best ${state.bestLoss!.toPrecision(4)} at step ${state.bestStep})`,
          );
          await save(opts.checkpointDir, done);
          return { steps: done, lastLoss, stoppedEarly: true, best: best() };
        }
      }
      if (done % t.checkpointEvery === 0 || done === t.steps) {
        await save(opts.checkpointDir, done);
        lastCheckpoint = done;
        timer = performance.now();
        timedSteps = 0;
      }
    }
    return { steps: t.steps, lastLoss, stoppedEarly: false, best: best() };
  } finally {
    optimizer.dispose();
  }
}
