/**
 * The speed study: named benchmarks of the hot paths (`ijepa-step`, `worldmodel-step`,
 * `ppo-update`, the envs), each with its PyTorch peer where one exists, paired in alternating
 * windows; soak runs for leaks; a per-kernel profiler. `deno task bench` runs it.
 *
 * Files: `bench.ts` (the registry and timing), `measure.ts`, one `*_bench.ts` per benchmark,
 * `peers.ts` with `peers/*.py`, `soak.ts`, `kernel_profile.ts`.
 *
 * @module
 */

export { BENCHMARKS, type BenchResult } from "./bench.ts";
export { formatKernelProfile, startKernelProfile } from "./kernel_profile.ts";
export {
  type PairedComparison,
  pairWithPeer,
  PEER_SCRIPTS,
  type PeerResult,
  runPeer,
} from "./peers.ts";
export { soak, type SoakSample } from "./soak.ts";
