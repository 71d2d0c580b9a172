/**
 * `deno task export`: an episode of a dataset as a GIF, or one frame as a PNG.
 *
 * @module
 */

import { openDataset } from "../lib/data/reader.ts";
import { writeFileAtomic } from "../lib/run/atomic.ts";
import { episodeGif, framePng } from "../lib/studies/demo/mod.ts";
import { integerFlag, parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "export",
  summary: "Writes one episode of a dataset as an animated GIF (--episode), or one frame as a " +
    "PNG (--frame, a row index of the dataset).",
  options: {
    dataset: "dataset directory (required)",
    episode: "episode id to export as GIF",
    frame: "frame (row) index to export as PNG",
    out: "output file (default <dataset>/episode-<id>.gif or frame-<i>.png)",
    scale: "nearest-neighbour upscaling factor (default 2 for GIFs, 1 for PNGs)",
  },
  examples: [
    "deno task export --dataset data/demo-breakout-s0 --episode 0",
    "deno task export --dataset data/demo-breakout-s0 --frame 120 --scale 4 --out frame.png",
  ],
};

function integer(name: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : integerFlag(name, text, 0);
}

if (import.meta.main) {
  runTask(async () => {
    const { options } = parseTaskArgs(spec);
    if (!options.dataset) throw new UsageError("--dataset is required (see --help)");
    const episode = integer("episode", options.episode);
    const frame = integer("frame", options.frame);
    if ((episode === undefined) === (frame === undefined)) {
      throw new UsageError("give exactly one of --episode or --frame");
    }
    const scale = integer("scale", options.scale);
    const ds = await openDataset(options.dataset, { verify: false });
    const [bytes, out] = episode !== undefined
      ? [
        episodeGif(ds, episode, { scale }),
        options.out ?? `${options.dataset}/episode-${episode}.gif`,
      ]
      : [framePng(ds, frame!, { scale }), options.out ?? `${options.dataset}/frame-${frame}.png`];
    await writeFileAtomic(out, bytes);
    console.log(`wrote ${out} (${bytes.length} bytes)`);
  });
}
