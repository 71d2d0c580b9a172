/**
 * Presets of `deno task vicreg`: the VICReg JEPA, its EMA-only ablation and the pixel
 * encoder-decoder on the same transitions. `full` uses the reference encoder (DESIGN.md 5) and
 * VICReg's published weights, meant for a GPU; `small` gives a meaningful comparison on a 2-core
 * CPU; `smoke` runs in about a minute (tests, CI).
 *
 * @module
 */

import type { ExploreConfig } from "../../data/collect.ts";
import { type EncoderFeatures, GRID_COMPONENTS } from "../../eval/encoder_probe.ts";
import type { Presets } from "../../run/config.ts";
import type { TransitionConfig, TransitionMethod } from "../../train/transition.ts";
import { TRANSITION_PRESETS } from "../../train/transition_presets.ts";

/** Everything `deno task vicreg` runs. */
export interface VicregTaskConfig {
  /** Scripted play with held random actions, so that actions matter in the transitions. */
  data: { episodes: number; explore: ExploreConfig };
  model: TransitionConfig;
  methods: TransitionMethod[];
  /** Probe rows per split, feature sets, principal directions per token of `grid` features. */
  probe: { rows: number; features: EncoderFeatures[]; gridComponents: number };
}

const full: VicregTaskConfig = {
  data: { episodes: 120, explore: { prob: 0.15, hold: [2, 8] } },
  model: TRANSITION_PRESETS.full,
  methods: ["vicreg", "ema-only", "pixel"],
  probe: { rows: 3000, features: ["pooled", "grid"], gridComponents: GRID_COMPONENTS },
};

/** The presets. */
export const VICREG_PRESETS: Presets<VicregTaskConfig> = {
  smoke: {
    ...full,
    data: { ...full.data, episodes: 3 },
    model: TRANSITION_PRESETS.smoke,
    probe: { rows: 400, features: ["pooled", "grid"], gridComponents: 16 },
  },
  small: {
    ...full,
    data: { ...full.data, episodes: 20 },
    model: TRANSITION_PRESETS.small,
    probe: { rows: 2000, features: ["pooled", "grid"], gridComponents: GRID_COMPONENTS },
  },
  full,
};
