/**
 * The neural-Breakout report: `NEURAL.md` (the seed's targets beside our numbers and their
 * baselines), the rollout figure (PSNR against the horizon with inferred codes, random codes and
 * copy-last), and a GIF of held-out play: the real frames beside the model's rollouts.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../../data/reader.ts";
import { inferCodes, type LatentActionModel } from "../../models/latent_action.ts";
import { unpatchify, vitGrid } from "../../nn/vit.ts";
import { writeFileAtomic } from "../../run/atomic.ts";
import type { RunDir } from "../../run/run_dir.ts";
import { deriveSeed, Rng } from "../../tensor/rng.ts";
import { heldOutSequences, pairPatches, rollout } from "../../train/latent_action.ts";
import { encodeGif } from "../../viz/gif.ts";
import { tileFrames, upscaleNearest } from "../../viz/png.ts";
import { LINE_COLORS, Plot, plotToSvg } from "../../viz/plot.ts";
import type { MappingResult } from "./mapping.ts";
import type { NeuralBreakoutConfig } from "./presets.ts";
import type { NeuralBreakoutResult } from "./study.ts";

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "-");
/** Small values keep their size in view (a delta of 1e-5 dB is not 0.00). */
const small = (v: number) =>
  !Number.isFinite(v) ? "-" : Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(2) : v.toExponential(1);
/**
 * The smallest delta-t PSNR that counts as the codes controlling the model: a tenth of a dB, an
 * order of magnitude below Genie's 1.3-2.1 but far above the 1e-5 of a model that ignores them.
 */
const MIN_DELTA_PSNR = 0.1;
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : "-");

/**
 * The mapping's section of a report: how it was fitted and scored, and each action's most
 * common code on the held-out transitions (lines, ending with a blank one).
 */
export function mappingMarkdown(
  mapping: Omit<MappingResult, "classifier" | "embedding">,
): string[] {
  return [
    `Action -> latent mapping: a classifier linear per action on the world model's tokens of ` +
    `the stack averaged per row and per column of the patch grid (each feature standardised), ` +
    `fitted on ${mapping.trainRows} training transitions and scored on ${mapping.heldOutRows} ` +
    `held-out ones: ${pct(mapping.accuracy)} right, against ${
      pct(mapping.actionOnlyAccuracy)
    } for each action's most common code and ${
      pct(mapping.majorityAccuracy)
    } for the most common code. The codes the actions map to are ` +
    `${mapping.distinct ? "all different" : "not all different"}:`,
    "",
    "| action | held-out transitions | most common code | its share |",
    "|---|---:|---:|---:|",
    ...mapping.perAction.map((p) =>
      `| ${p.action} | ${p.rows} | ${p.rows ? p.code : "-"} | ${p.rows ? pct(p.share) : "-"} |`
    ),
    "",
  ];
}

/** The markdown report. */
export function neuralMarkdown(
  cfg: NeuralBreakoutConfig,
  r: NeuralBreakoutResult,
  data: { path: string; frames: number; episodes: number },
  preset?: string,
): string {
  const m = r.metrics;
  const mark = (ok: boolean) => (ok ? "yes" : "no");
  const e = r.evaluation;
  return [
    `# Neural Breakout: a latent-action world model learned from videos`,
    "",
    `${preset ? `Preset \`${preset}\`. ` : ""}Videos: ${data.path} (${data.frames} frames, ` +
    `${data.episodes} episodes; held out by episode: ${cfg.model.valFraction}). A VQ-VAE over ` +
    `frame pairs infers one of ${cfg.model.codes} codes per transition; its decoder, the world ` +
    `model, predicts the next frame from a stack of ${cfg.model.stack} frames and the code. ` +
    `${r.steps} steps` +
    (Number.isFinite(r.seconds)
      ? `, ${(r.seconds / 60).toFixed(1)} min of training in the call that finished them.`
      : "."),
    "",
    "| metric (held out) | ours | baseline | seed / Genie target | reached |",
    "|---|---:|---:|---:|---|",
    `| next-frame PSNR (dB) | ${f2(m.psnr)} | copy last ${
      f2(m.copyLastPsnr)
    } | > 28, above copy-last | ${mark(m.psnr > 28 && m.psnr > m.copyLastPsnr)} |`,
    `| next-frame PSNR where the frame changes (dB; ${pct(m.changedShare)} of them) | ${
      f2(m.psnrChanged)
    } | copy last ${f2(m.copyLastPsnrChanged)} | above copy-last | ${
      mark(m.psnrChanged > m.copyLastPsnrChanged)
    } |`,
    `| next-frame SSIM | ${m.ssim.toFixed(3)} | copy last ${m.copyLastSsim.toFixed(3)} | - | - |`,
    `| codebook use | ${(100 * m.codebookUse).toFixed(0)}% (perplexity ${
      f2(m.perplexity)
    }) | - | > 50% | ${mark(m.codebookUse > 0.5)} |`,
    `| code spread (median distance / mean norm) | ${small(m.codeSpread)} | random codes: 1.4 | ` +
    `> 0.1 (not collapsed) | ${mark(m.codeSpread > 0.1)} |`,
    `| delta-t PSNR at t = ${m.deltaPsnrAt} (dB) | ${small(m.deltaPsnr)} [${
      small(m.deltaPsnrCi95[0])
    }, ${small(m.deltaPsnrCi95[1])}] | random codes: 0 | >= ${MIN_DELTA_PSNR}, interval above 0 ` +
    `(Genie: 1.3-2.1) | ${mark(m.deltaPsnr >= MIN_DELTA_PSNR && m.deltaPsnrCi95[0] > 0)} |`,
    `| action -> latent mapping accuracy | ${pct(m.mappingAccuracy)} | per-action code ${
      pct(r.mapping.actionOnlyAccuracy)
    }, majority code ${pct(r.mapping.majorityAccuracy)} | > 80%, above the majority code | ${
      mark(m.mappingAccuracy > 0.8 && m.mappingAccuracy > r.mapping.majorityAccuracy)
    } |`,
    "",
    `PSNR and SSIM are per frame on ${e.rows} held-out transitions (gray, pixels in [0, 1]). ` +
    `Rollouts: ${e.sequences} held-out sequences of ${cfg.model.eval.horizon} steps from a real ` +
    `stack, each step's code inferred from the real pair (inferred) or drawn uniformly (random); ` +
    `delta-t PSNR = PSNR(inferred) - PSNR(random) at step ${m.deltaPsnrAt}, with a 95% bootstrap ` +
    `interval over the sequences. An exact copy scores 100 dB, so a mean over frames favours ` +
    `copying wherever nothing moved; the "changed" columns score only the frames that differ ` +
    `from the one copied (the sequences whose real frame at that step differs from the first).`,
    "",
    "| rollout step | inferred codes | random codes | copy first frame | changed: share | inferred | random | copy first frame |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...e.rollout.map((x) =>
      `| ${x.step} | ${f2(x.inferred)} | ${f2(x.random)} | ${f2(x.copyLast)} | ${
        pct(x.changed.share)
      } | ${f2(x.changed.inferred)} | ${f2(x.changed.random)} | ${f2(x.changed.copyLast)} |`
    ),
    "",
    ...mappingMarkdown(r.mapping),
    ...(r.controls
      ? [
        `Controls inside the model: one step from ${r.controls.stacks} held-out stacks with each ` +
        `action's code moves the paddle (px, positive to the right) ${
          Object.entries(r.controls.shifts).map(([a, d]) => `${a} ${f2(d)}`).join(", ")
        }; LEFT and RIGHT ${
          r.controls.opposite
            ? "move it in opposite directions"
            : "do not move it in opposite directions"
        }.`,
        "",
      ]
      : []),
    "![PSNR against the rollout horizon](figures/rollout_psnr.svg)",
    "",
    "![held-out play: real, inferred codes, random codes](figures/rollout.gif)",
    "",
  ].join("\n");
}

/** PSNR against the horizon: inferred codes, random codes, copy-last. */
export function rolloutFigure(r: NeuralBreakoutResult): string {
  const series = ["inferred codes", "random codes", "copy first frame"];
  const points = r.evaluation.rollout.flatMap((x) => [
    { step: x.step, psnr: x.inferred, series: series[0] },
    { step: x.step, psnr: x.random, series: series[1] },
    { step: x.step, psnr: x.copyLast, series: series[2] },
  ]);
  return plotToSvg({
    title: "Rollout PSNR on held-out play against the horizon",
    subtitle: "blue: inferred codes, yellow: random codes, red: copy the first frame",
    width: 640,
    height: 300,
    x: { label: "rollout step", grid: true },
    y: { label: "PSNR (dB)", grid: true },
    color: { domain: series, range: LINE_COLORS },
    marks: [
      Plot.line(points, { x: "step", y: "psnr", stroke: "series" }),
      Plot.dot(points, { x: "step", y: "psnr", fill: "series", r: 2.5 }),
    ],
  });
}

/**
 * A GIF of one held-out sequence, three panels per frame (2x): the real frames, the rollout
 * with the codes inferred from them, and the rollout with random codes.
 */
export function rolloutGif(
  cfg: NeuralBreakoutConfig,
  ds: Dataset,
  model: LatentActionModel,
): Uint8Array {
  const steps = cfg.report.gifSteps;
  const { stacks, frames } = heldOutSequences(cfg.model, ds, steps + 1);
  const { tokens } = vitGrid(model.cfg.encoder);
  const pp = model.cfg.encoder.patch ** 2;
  const [h, w] = ds.frameShape;
  const p = model.cfg.encoder.patch;
  const k = model.cfg.encoder.channels;
  // The first sequence of the batch: frames are [N, p*p] per row, stacks [N, p*p*k].
  const first = (patches: Float32Array) => patches.subarray(0, tokens * pp);
  const firstStack = stacks[0].subarray(0, tokens * pp * k);
  const rng = new Rng(deriveSeed(cfg.model.seed, "gif-codes"));
  const inferred = rollout(model, firstStack, 1, steps, (s) =>
    tf.tidy(() =>
      inferCodes(
        model,
        tf.tensor3d(pairPatches(first(frames[s]), first(frames[s + 1])), [1, tokens, 2 * pp]),
      )
    ));
  const random = rollout(
    model,
    firstStack,
    1,
    steps,
    () => Int32Array.of(rng.int(cfg.model.codes)),
  );
  const image = (patches: Float32Array) => unpatchify(patches, 1, h, w, 1, p);
  const panels = Array.from(
    { length: steps },
    (_, s) =>
      tileFrames([image(first(frames[s + 1])), image(inferred[s]), image(random[s])], {
        width: w,
        height: h,
        channels: 1,
        columns: 3,
      }),
  );
  const { width, height } = panels[0];
  return encodeGif(
    panels.map((t) => upscaleNearest(t.data, width, height, 1, 2)),
    2 * width,
    2 * height,
    1,
    { delayMs: 200 },
  );
}

/** Writes `NEURAL.md`, the figure and the GIF; returns the markdown. */
export async function writeNeuralReport(
  run: RunDir,
  cfg: NeuralBreakoutConfig,
  r: NeuralBreakoutResult,
  ds: Dataset,
  model: LatentActionModel,
  preset?: string,
): Promise<string> {
  const md = neuralMarkdown(cfg, r, {
    path: ds.path,
    frames: ds.numFrames,
    episodes: ds.episodes().length,
  }, preset);
  await writeFileAtomic(run.path("figures", "rollout_psnr.svg"), rolloutFigure(r));
  await writeFileAtomic(run.path("figures", "rollout.gif"), rolloutGif(cfg, ds, model));
  await writeFileAtomic(run.path("NEURAL.md"), md);
  return md;
}
