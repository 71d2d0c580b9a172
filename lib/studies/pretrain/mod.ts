/**
 * The pretraining study (`deno task pretrain`, `deno task probe`, notebook 02): I-JEPA and the
 * pixel-autoencoder control pretrained on game frames (`lib/train/pretrain.ts`, presets in
 * `lib/train/pretrain_presets.ts`), then probed for the game state with linear, binned-F1 and
 * 1-NN probes against a random-init encoder and raw pixels.
 *
 * Files: `probe_report.ts` (the probe study and its report), `probe_figures.ts`.
 *
 * @module
 */

export {
  pcaScatterSvg,
  probeBarsSvg,
  type ProbeRow,
  probeTableMarkdown,
  retrievalSvg,
} from "./probe_figures.ts";
export { writeProbeStudy } from "./probe_report.ts";
