/**
 * The data study (`deno task demo`, `deno task export`, notebook 01): what the agent sees, per-episode and
 * per-action statistics of a collected dataset with their figures, and the perturbation levels
 * side by side.
 *
 * @module
 */

export { datasetFigures, datasetStats, perturbationGallery } from "./dataset_report.ts";
export { episodeGif, type ExportOptions, framePng } from "./export.ts";
