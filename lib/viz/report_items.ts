/**
 * The pieces a report is made of, shared by every study's report section and the run report
 * that assembles them: markdown text, and figures (SVG) with their file name and caption. A
 * notebook shows the same items inline; a task writes them as `REPORT.md` plus figure files.
 *
 * @module
 */

/** A piece of a report: markdown text, or a figure (SVG) with its file name and caption. */
export type ReportItem =
  | { kind: "markdown"; text: string }
  | { kind: "figure"; name: string; svg: string; caption: string };
