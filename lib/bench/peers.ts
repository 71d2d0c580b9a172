/**
 * Peers: the same benchmark written in PyTorch (`peers/*.py`), run in a Python subprocess when
 * `torch` is importable, never a dependency. Each peer is run with 1 and 2 intra-op threads and
 * the best is kept; the report says which. A peer's variants (extra flags, {@linkcode
 * PEER_VARIANTS}) then run once each at the best thread count.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** A peer's measurement, as its script prints it. */
export interface PeerResult {
  bench: string;
  impl: string;
  value: number;
  unit: string;
  threads: number;
  range?: [number, number];
  peakRssMiB?: number;
  torch?: string;
}

/** The best of a peer's runs, every run, each variant's run, or why none ran. */
export type PeerOutcome =
  | { ok: true; best: PeerResult; runs: PeerResult[]; variants: Record<string, PeerResult> }
  | { ok: false; reason: string };

/** Benchmarks with a peer, and the script of each. */
export const PEER_SCRIPTS: Record<string, string> = {
  "ijepa-step": "peers/ijepa_step.py",
};

/**
 * Variants of a peer: a name and the script's extra flags. `pruned` (ijepa-step): the step
 * computes only the outputs its loss reads, as ours does (the last blocks of the predictor and
 * of the target encoder for the tokens the loss reads); the peer proper runs the formulation
 * as published, every token through every block.
 */
export const PEER_VARIANTS: Record<string, Record<string, string[]>> = {
  "ijepa-step": { pruned: ["--pruned"] },
};

/** The Python to use: JEPA_PYTHON, else python3. */
function python(): string {
  try {
    return Deno.env.get("JEPA_PYTHON") || "python3";
  } catch {
    return "python3";
  }
}

async function runPython(
  args: string[],
  timeoutMs: number,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(python(), {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (err) {
    return { ok: false, stdout: "", stderr: err instanceof Error ? err.message : String(err) };
  }
}

function lastLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).at(-1) ?? "";
}

/** Why no peer can run here (torch not importable), or undefined when one can. */
export async function peerUnavailable(): Promise<string | undefined> {
  const r = await runPython(["-c", "import torch"], 120_000);
  if (r.ok) return undefined;
  return `torch is not importable by ${python()} (${lastLine(r.stderr) || "no output"}); ` +
    `to measure: python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu`;
}

/** Runs the peer of `bench` with each thread count; the best median wins. */
export async function runPeer(
  bench: string,
  opts: { quick?: boolean; threads?: number[] } = {},
): Promise<PeerOutcome> {
  const script = PEER_SCRIPTS[bench];
  if (!script) return { ok: false, reason: `no peer for ${bench}` };
  const missing = await peerUnavailable();
  if (missing) return { ok: false, reason: missing };
  const path = fileURLToPath(new URL(script, import.meta.url));
  const run = async (threads: number, flags: string[] = []): Promise<PeerResult> => {
    const args = [path, "--threads", String(threads), ...flags, ...(opts.quick ? ["--quick"] : [])];
    const r = await runPython(args, 600_000);
    if (!r.ok) throw new Error(lastLine(r.stderr) || "failed");
    return JSON.parse(lastLine(r.stdout)) as PeerResult;
  };
  const message = (err: unknown) => err instanceof Error ? err.message : String(err);
  const runs: PeerResult[] = [];
  const failures: string[] = [];
  for (const threads of opts.threads ?? [1, 2]) {
    try {
      runs.push(await run(threads));
    } catch (err) {
      failures.push(`${threads} threads: ${message(err)}`);
    }
  }
  if (runs.length === 0) return { ok: false, reason: `the peer failed (${failures.join("; ")})` };
  const best = runs.reduce((a, b) => (b.value > a.value ? b : a));
  const variants: Record<string, PeerResult> = {};
  for (const [name, flags] of Object.entries(PEER_VARIANTS[bench] ?? {})) {
    try {
      variants[name] = await run(best.threads, flags);
    } catch (err) {
      throw new Error(`the peer's ${name} variant failed: ${message(err)}`);
    }
  }
  return { ok: true, best, runs, variants };
}

/** One round of a paired comparison: our run, then the peer's (and its variants'). */
export interface PeerRound {
  ours: number;
  peer: PeerResult;
  variants: Record<string, PeerResult>;
}

/** A paired comparison over rounds: medians, and the median of each round's ratio. */
export interface PeerComparison {
  rounds: PeerRound[];
  /** The first round's peer runs, every thread count (the best one is used from then on). */
  threadRuns: PeerResult[];
  ours: number;
  peer: number;
  /** Median over rounds of ours / peer in that round. */
  ratio: number;
  variants: Record<string, { value: number; ratio: number }>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Ours against the peer of `bench` in `rounds` alternating rounds (ours, then the peer), so
 * that a machine whose speed drifts (a shared one) moves both sides of each round's ratio
 * together; the ratio reported is the median of the rounds' ratios. The first round tries each
 * thread count of the peer; later rounds run the best one. `ours` runs our benchmark once and
 * returns its value.
 */
export async function comparePeer(
  bench: string,
  ours: () => Promise<number>,
  opts: {
    rounds?: number;
    quick?: boolean;
    /** Our value of the first round, when already measured. */
    firstOurs?: number;
    /** Runs the peer ({@linkcode runPeer}; tests pass their own). */
    peer?: typeof runPeer;
  } = {},
): Promise<PeerComparison | { reason: string }> {
  const run = opts.peer ?? runPeer;
  const rounds: PeerRound[] = [];
  let threadRuns: PeerResult[] = [];
  for (let r = 0; r < Math.max(1, opts.rounds ?? 3); r++) {
    const value = r === 0 && opts.firstOurs !== undefined ? opts.firstOurs : await ours();
    const threads = r === 0 ? undefined : [rounds[0].peer.threads];
    const peer = await run(bench, { quick: opts.quick, threads });
    if (!peer.ok) return { reason: peer.reason };
    if (r === 0) threadRuns = peer.runs;
    rounds.push({ ours: value, peer: peer.best, variants: peer.variants });
  }
  const names = Object.keys(rounds[0].variants);
  return {
    rounds,
    threadRuns,
    ours: median(rounds.map((r) => r.ours)),
    peer: median(rounds.map((r) => r.peer.value)),
    ratio: median(rounds.map((r) => r.ours / r.peer.value)),
    variants: Object.fromEntries(names.map((name) => [name, {
      value: median(rounds.map((r) => r.variants[name].value)),
      ratio: median(rounds.map((r) => r.ours / r.variants[name].value)),
    }])),
  };
}
