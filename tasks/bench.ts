/**
 * `deno task bench`: runs the named benchmarks of the hot paths; `--peers` adds the PyTorch
 * peer of each benchmark that has one (and the ratio), `--profile` a per-kernel profile,
 * `--soak N` a leak check over N steps.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { BENCHMARKS, type BenchResult } from "../lib/studies/bench/mod.ts";
import { formatKernelProfile, startKernelProfile } from "../lib/studies/bench/mod.ts";
import {
  type PairedComparison,
  pairWithPeer,
  PEER_SCRIPTS,
  type PeerResult,
  runPeer,
} from "../lib/studies/bench/mod.ts";
import { soak, type SoakSample } from "../lib/studies/bench/mod.ts";
import { BACKEND_NAMES, initBackend } from "../lib/tensor/backend.ts";
import { integerFlag, parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "bench",
  summary: "Runs the benchmarks of the hot paths and prints one line each (or JSON lines with " +
    `--json). Benchmarks: ${BENCHMARKS.map((b) => b.name).join(", ")}.`,
  options: {
    only: "run only these benchmarks (comma-separated names)",
    backend: `tfjs backend: auto | ${BACKEND_NAMES.join(" | ")} (default JEPA_BACKEND or auto)`,
    windows: "with --peers: paired windows of 3 steps (worldmodel-step 10, ppo-update 1: about a " +
      "second or more a side), ours then each form of the peer in turn, whose ratios' median is " +
      "reported (default 10)",
    soak: "instead of timing, run N steps of each benchmark that has a step and print " +
      "numTensors and RSS every N/10 steps, and their growth from step N/10 to N",
  },
  switches: {
    json: 'print one JSON object per line: {"bench", "backend", "value", "unit", "config"}',
    list: "list the benchmarks and exit",
    quick: "short timing windows (a smoke check, not numbers to report)",
    peers:
      `also run the Python peer of ${
        Object.keys(PEER_SCRIPTS).join(", ")
      } (1 and 2 threads, the best kept, and its variants) and print the ratios; needs torch ` +
      "(probe-fit: numpy and scipy)",
    profile: "after each benchmark with a step, time every tfjs kernel over a few steps",
  },
  examples: [
    "deno task bench --only env-breakout --json",
    "deno task bench --only ijepa-step --peers",
    "deno task bench --only ijepa-step --peers --windows 20",
    "deno task bench --only ppo-update,worldmodel-step --peers",
    "deno task bench --only ijepa-step --backend cpu --profile",
    "deno task bench --only ijepa-step --soak 1000",
  ],
};

function line(result: BenchResult): string {
  if (result.config.skipped) return `${result.bench.padEnd(20)} skipped: ${result.config.skipped}`;
  const range = result.range ? ` (min ${result.range[0]}, max ${result.range[1]})` : "";
  const peak = result.config.peakRssMiB ? `, peak RSS ${result.config.peakRssMiB} MiB` : "";
  return `${
    result.bench.padEnd(20)
  } ${result.value} ${result.unit}${range} [${result.backend}${peak}]`;
}

function peerLines(
  best: PeerResult,
  runs: PeerResult[],
  variants: Record<string, PeerResult>,
): string[] {
  const others = runs.filter((r) => r !== best).map((r) => `${r.threads} threads: ${r.value}`);
  const range = (r: PeerResult) => r.range ? ` (min ${r.range[0]}, max ${r.range[1]})` : "";
  const threads = (r: PeerResult) => `${r.threads} thread${r.threads === 1 ? "" : "s"}`;
  const peak = (r: PeerResult) => r.peakRssMiB ? `, peak RSS ${r.peakRssMiB} MiB` : "";
  const version = best.torch ? `torch ${best.torch}` : `numpy ${best.numpy}`;
  return [
    `${`  ${best.impl}`.padEnd(20)} ${best.value} ${best.unit}${range(best)} [${version}, ` +
    `${threads(best)}${others.length ? `; ${others.join(", ")}` : ""}${peak(best)}]`,
    ...Object.entries(variants).map(([name, r]) =>
      `${`  ${best.impl} ${name}`.padEnd(20)} ${r.value} ${r.unit}${range(r)} [${threads(r)}${
        peak(r)
      }]`
    ),
  ];
}

function pairedLines(c: PairedComparison, impl: string): string[] {
  return [
    `${"  paired".padEnd(20)} ${c.windows.length} windows of ${c.steps} steps: ours, then each ` +
    `form of the peer (${c.threads} thread${c.threads === 1 ? "" : "s"}), in turn`,
    ...Object.entries(c.ratios).map(([form, r]) =>
      `${`  ours / ${form === "reference" ? impl : form}`.padEnd(20)} ` +
      `${r.median.toFixed(2)}x (median of the windows; min ${r.min.toFixed(2)}, max ${
        r.max.toFixed(2)
      })`
    ),
  ];
}

function soakLine(bench: string, s: SoakSample): string {
  return `${bench.padEnd(20)} step ${String(s.step).padStart(6)}: numTensors ${s.numTensors}, ` +
    `RSS ${s.rssMiB} MiB`;
}

/** Times every kernel over `steps` steps of a benchmark's step function. */
function profile(prepare: () => { step(): unknown; dispose(): void }, steps = 2): string {
  const run = prepare();
  try {
    run.step(); // warm-up: first-call costs are not the kernels'
    const profiler = startKernelProfile(tf.getBackend());
    const start = performance.now();
    for (let i = 0; i < steps; i++) run.step();
    const wall = (performance.now() - start) / steps;
    const rows = profiler.stop().map((r) => ({
      ...r,
      calls: r.calls / steps,
      ms: r.ms / steps,
      elements: r.elements / steps,
    }));
    return `${formatKernelProfile(rows)}\nper step: ${wall.toFixed(0)} ms wall`;
  } finally {
    run.dispose();
  }
}

if (import.meta.main) {
  runTask(async () => {
    const { switches, options } = parseTaskArgs(spec);
    if (switches.list) {
      for (const b of BENCHMARKS) console.log(`${b.name.padEnd(20)} ${b.description}`);
      return;
    }
    await initBackend({ backend: options.backend as "auto" | undefined });
    const names = options.only?.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = names?.filter((n) => !BENCHMARKS.some((b) => b.name === n)) ?? [];
    if (unknown.length) {
      throw new UsageError(
        `unknown benchmark ${unknown.join(", ")} (valid: ${
          BENCHMARKS.map((b) => b.name).join(", ")
        })`,
      );
    }
    const selected = BENCHMARKS.filter((b) => !names || names.includes(b.name));
    const windows = options.windows === undefined ? 10 : integerFlag("windows", options.windows);
    if (options.soak !== undefined) {
      const steps = integerFlag("soak", options.soak);
      const withStep = selected.filter((b) => b.prepare);
      if (!withStep.length) throw new UsageError("--soak: none of these benchmarks has a step");
      for (const bench of withStep) {
        const r = soak(bench.prepare!, steps, {
          onSample: (s) => !switches.json && console.log(soakLine(bench.name, s)),
        });
        const first = r.samples[0];
        if (switches.json) {
          console.log(JSON.stringify({ bench: bench.name, backend: tf.getBackend(), soak: r }));
        } else {
          console.log(
            `${bench.name.padEnd(20)} growth from step ${first.step} to ${steps}: ` +
              `numTensors ${r.growth.numTensors >= 0 ? "+" : ""}${r.growth.numTensors}, ` +
              `RSS ${r.growth.rssMiB >= 0 ? "+" : ""}${r.growth.rssMiB} MiB ` +
              `(${r.msPerStep.toFixed(0)} ms/step, ${tf.getBackend()})`,
          );
        }
      }
      return;
    }
    for (const bench of selected) {
      const result = await bench.run({ quick: switches.quick });
      console.log(switches.json ? JSON.stringify(result) : line(result));
      if (switches.peers && PEER_SCRIPTS[bench.name] && !result.config.skipped) {
        // Each side on its own first (the peer's thread counts tried, peak memory), then paired.
        const peer = await runPeer(bench.name, { quick: switches.quick });
        let paired: PairedComparison | { reason: string } | undefined;
        if (peer.ok && bench.prepare && bench.stepUnits) {
          const run = bench.prepare();
          try {
            run.step(); // warm-up
            paired = await pairWithPeer(bench.name, () => run.step(), bench.stepUnits, {
              threads: peer.best.threads,
              windows: switches.quick ? 1 : windows,
              steps: switches.quick ? 1 : bench.pairedSteps ?? 3,
            });
          } finally {
            run.dispose();
          }
        }
        if (switches.json) {
          console.log(JSON.stringify(
            peer.ok
              ? { ...peer.best, runs: peer.runs, variants: peer.variants, paired }
              : { bench: bench.name, impl: "peer", skipped: peer.reason },
          ));
        } else if (peer.ok) {
          for (const l of peerLines(peer.best, peer.runs, peer.variants)) console.log(l);
          if (paired && "reason" in paired) {
            console.log(`${"  paired".padEnd(20)} failed: ${paired.reason}`);
          } else if (paired) {
            for (const l of pairedLines(paired, peer.best.impl)) console.log(l);
          }
        } else console.log(`${"  peer".padEnd(20)} skipped: ${peer.reason}`);
      }
      if (switches.profile && bench.prepare) console.log(profile(bench.prepare));
    }
  });
}
