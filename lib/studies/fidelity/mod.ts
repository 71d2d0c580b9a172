/**
 * The fidelity study (`deno task fidelity`): the native games against real ALE through the same
 * wrapper stack, compared on return and length distributions, ball and paddle speeds, the reset
 * frame and frame-exact replay; `results/fidelity/REPORT.md`.
 *
 * @module
 */

export { type FidelityConfig, measureFidelity, writeFidelityReport } from "./fidelity.ts";
