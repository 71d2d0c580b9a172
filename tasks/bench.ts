/**
 * `deno task bench`: runs the named benchmarks of the hot paths; `--peers` adds the PyTorch
 * peer of each benchmark that has one (and the ratio), `--profile` a per-kernel profile,
 * `--soak N` a leak check over N steps.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { BENCHMARKS, type BenchResult } from "../lib/bench/bench.ts";
import { formatKernelProfile, startKernelProfile } from "../lib/bench/kernel_profile.ts";
import { comparePeer, PEER_SCRIPTS, type PeerComparison } from "../lib/bench/peers.ts";
import { soak, type SoakSample } from "../lib/bench/soak.ts";
import { BACKEND_NAMES, initBackend } from "../lib/tensor/backend.ts";
import { parseTaskArgs, runTask, UsageError } from "./cli.ts";

const spec = {
  name: "bench",
  summary: "Runs the benchmarks of the hot paths and prints one line each (or JSON lines with " +
    `--json). Benchmarks: ${BENCHMARKS.map((b) => b.name).join(", ")}.`,
  options: {
    only: "run only these benchmarks (comma-separated names)",
    backend: `tfjs backend: auto | ${BACKEND_NAMES.join(" | ")} (default JEPA_BACKEND or auto)`,
    rounds: "with --peers: alternate ours and the peer this many times and report the median " +
      "of the rounds' ratios (default 3)",
    soak: "instead of timing, run N steps of each benchmark that has a step and print " +
      "numTensors and RSS every N/10 steps, and their growth from step N/10 to N",
  },
  switches: {
    json: 'print one JSON object per line: {"bench", "backend", "value", "unit", "config"}',
    list: "list the benchmarks and exit",
    quick: "short timing windows (a smoke check, not numbers to report)",
    peers: `also run the PyTorch peer of ${
      Object.keys(PEER_SCRIPTS).join(", ")
    } (1 and 2 threads, the best kept, and its variants) and print the ratios; needs torch`,
    profile: "after each benchmark with a step, time every tfjs kernel over a few steps",
  },
  examples: [
    "deno task bench --only env-breakout --json",
    "deno task bench --only ijepa-step --peers",
    "deno task bench --only ijepa-step --peers --rounds 5",
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

function peerLines(unit: string, c: PeerComparison): string[] {
  const first = c.rounds[0].peer;
  const others = c.threadRuns.filter((r) => r.threads !== first.threads)
    .map((r) => `${r.threads} thread${r.threads === 1 ? "" : "s"}: ${r.value}`);
  const values = (f: (r: PeerComparison["rounds"][number]) => number) =>
    c.rounds.map((r) => f(r).toFixed(2)).join(", ");
  const ratios = (f: (r: PeerComparison["rounds"][number]) => number) =>
    c.rounds.map((r) => (r.ours / f(r)).toFixed(2)).join(", ");
  const peak = first.peakRssMiB ? `, peak RSS ${first.peakRssMiB} MiB` : "";
  const n = c.rounds.length;
  return [
    `${"  rounds".padEnd(20)} ${n} (ours, then the peer, in turn); medians below`,
    `${"  ours".padEnd(20)} ${c.ours.toFixed(2)} ${unit} (rounds: ${values((r) => r.ours)})`,
    `${"  pytorch".padEnd(20)} ${c.peer.toFixed(2)} ${unit} (rounds: ${
      values((r) => r.peer.value)
    }) [torch ${first.torch}, ${first.threads} thread${first.threads === 1 ? "" : "s"}${
      others.length ? `; ${others.join(", ")}` : ""
    }${peak}]`,
    `${"  ours / pytorch".padEnd(20)} ${c.ratio.toFixed(2)}x (rounds: ${
      ratios((r) => r.peer.value)
    })`,
    ...Object.entries(c.variants).flatMap(([name, v]) => [
      `${`  pytorch ${name}`.padEnd(20)} ${v.value.toFixed(2)} ${unit} (rounds: ${
        values((r) => r.variants[name].value)
      })`,
      `${`  ours / ${name}`.padEnd(20)} ${v.ratio.toFixed(2)}x (rounds: ${
        ratios((r) => r.variants[name].value)
      })`,
    ]),
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
    const rounds = options.rounds === undefined ? 3 : Number(options.rounds);
    if (!(Number.isInteger(rounds) && rounds >= 1)) {
      throw new UsageError(`--rounds: expected an integer >= 1, got '${options.rounds}'`);
    }
    if (options.soak !== undefined) {
      const steps = Number(options.soak);
      if (!(Number.isInteger(steps) && steps >= 1)) {
        throw new UsageError(`--soak: expected an integer >= 1, got '${options.soak}'`);
      }
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
        const c = await comparePeer(
          bench.name,
          async () => (await bench.run({ quick: switches.quick })).value,
          { rounds, quick: switches.quick, firstOurs: result.value },
        );
        if (switches.json) {
          console.log(JSON.stringify(
            "reason" in c
              ? { bench: bench.name, impl: "pytorch", skipped: c.reason }
              : { bench: bench.name, impl: "pytorch", ...c },
          ));
        } else if ("reason" in c) console.log(`${"  pytorch".padEnd(20)} skipped: ${c.reason}`);
        else for (const l of peerLines(result.unit, c)) console.log(l);
      }
      if (switches.profile && bench.prepare) console.log(profile(bench.prepare));
    }
  });
}
