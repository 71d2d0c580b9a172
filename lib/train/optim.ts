/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter), applied to a parameter tree, with the
 * I-JEPA conventions: no decay on biases and norm gains (any rank-1 parameter), learning rate
 * warmup then cosine, weight decay on a cosine from 0.04 to 0.4, gradient clipping by global norm.
 * The optimiser's whole state is tensors plus a step count, so checkpoints restore it exactly.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { ADAMW, adamwFused, hasFusedKernel } from "../tensor/native/fused_ops.ts";
import { variableOf } from "../nn/params.ts";

/** AdamW hyper-parameters that do not follow a schedule. */
export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
}

/** PyTorch's defaults. */
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** Whether a parameter is decayed: weights (rank >= 2) yes, biases and norm gains (rank 1) no. */
export function decays(v: tf.Variable): boolean {
  return v.rank >= 2;
}

/** AdamW over named variables. */
export class AdamW {
  step = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(
    readonly params: [string, tf.Variable][],
    readonly cfg: AdamWConfig = ADAMW_DEFAULTS,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, variableOf(tf.zerosLike(p), false));
      this.v.set(name, variableOf(tf.zerosLike(p), false));
    }
  }

  /**
   * One update with gradients keyed by parameter name (missing ones are skipped), each
   * multiplied by `gradScale` first (the clipping factor of {@linkcode globalNormClip}).
   */
  apply(
    grads: Record<string, tf.Tensor>,
    lr: number,
    weightDecay: number,
    gradScale = 1,
  ): void {
    this.step++;
    const { beta1, beta2, eps } = this.cfg;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    // One kernel per parameter where the backend has it (native), instead of about fifteen.
    const fused = hasFusedKernel(ADAMW);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const raw = grads[name];
        if (!raw) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        if (fused && p.dtype === "float32" && raw.dtype === "float32") {
          const decay = decays(p) && weightDecay > 0 ? 1 - lr * weightDecay : 1;
          const step = { lr, beta1, beta2, eps, c1, c2, decay, gradScale };
          const [p2, m2, v2] = adamwFused(p, raw, m, v, step);
          m.assign(m2);
          v.assign(v2);
          p.assign(p2);
          continue;
        }
        const g = gradScale === 1 ? raw : tf.mul(raw, gradScale);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        const decayed = decays(p) && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
  }

  /** State tensors by name (`m/<param>`, `v/<param>`), for checkpoints. */
  stateTensors(): [string, tf.Variable][] {
    return [
      ...[...this.m].map(([k, t]) => [`m/${k}`, t] as [string, tf.Variable]),
      ...[...this.v].map(([k, t]) => [`v/${k}`, t] as [string, tf.Variable]),
    ];
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Clipping by global norm (PyTorch's `clip_grad_norm_`): the norm of all gradients together
 * and the factor that brings it down to `maxNorm`, `min(1, maxNorm / (norm + 1e-6))` in float32 as tfjs would compute it (1
 * when `maxNorm <= 0`: no clipping). {@linkcode AdamW.apply} takes the factor, so the clipped
 * gradients are never materialised.
 */
export function globalNormClip(
  grads: Record<string, tf.Tensor>,
  maxNorm: number,
): { norm: number; scale: number } {
  const norm = tf.tidy(() =>
    tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))).dataSync()[0]
  );
  if (!(maxNorm > 0)) return { norm, scale: 1 };
  const f = Math.fround;
  return { norm, scale: Math.min(1, f(f(maxNorm) / f(norm + f(1e-6)))) };
}

/** The shape of a {@linkcode warmupCosine} schedule. */
export interface WarmupCosineOptions {
  /** Step at which the cosine reaches `final` (it stays there after). */
  total: number;
  /** Steps of linear warmup from `start` to `peak`. */
  warmup: number;
  /** Value at the end of the warmup (the cosine's start). */
  peak: number;
  /** Value at `total`. */
  final: number;
  /** Value at step 0 (default 0). */
  start?: number;
}

/** Linear warmup from `start` to `peak` over `warmup` steps, then cosine to `final` at `total`. */
export function warmupCosine(step: number, opts: WarmupCosineOptions): number {
  const { total, warmup, peak, final, start = 0 } = opts;
  if (step < warmup) return start + (peak - start) * (step / Math.max(1, warmup));
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return final + (peak - final) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Cosine from `from` to `to` over `total` steps (I-JEPA's weight-decay schedule). */
export function cosineRamp(step: number, total: number, from: number, to: number): number {
  const progress = Math.min(1, step / Math.max(1, total));
  return to + (from - to) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Linear from `from` to `to` over `total` steps (I-JEPA's EMA momentum 0.996 -> 1.0). */
export function linearRamp(step: number, total: number, from: number, to: number): number {
  return from + (to - from) * Math.min(1, step / Math.max(1, total));
}
