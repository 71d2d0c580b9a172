/**
 * Peers: the same benchmark written in PyTorch (`peers/*.py`), run in a Python subprocess when
 * `torch` is importable, never a dependency. Each peer is run with 1 and 2 intra-op threads and
 * the best is kept; the report says which.
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

/** The best of a peer's runs, every run, or why none ran. */
export type PeerOutcome =
  | { ok: true; best: PeerResult; runs: PeerResult[] }
  | { ok: false; reason: string };

/** Benchmarks with a peer, and the script of each. */
export const PEER_SCRIPTS: Record<string, string> = {
  "ijepa-step": "peers/ijepa_step.py",
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
  const runs: PeerResult[] = [];
  const failures: string[] = [];
  for (const threads of opts.threads ?? [1, 2]) {
    const args = [path, "--threads", String(threads), ...(opts.quick ? ["--quick"] : [])];
    const r = await runPython(args, 600_000);
    try {
      if (!r.ok) throw new Error(lastLine(r.stderr) || "failed");
      runs.push(JSON.parse(lastLine(r.stdout)) as PeerResult);
    } catch (err) {
      failures.push(`${threads} threads: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (runs.length === 0) return { ok: false, reason: `the peer failed (${failures.join("; ")})` };
  const best = runs.reduce((a, b) => (b.value > a.value ? b : a));
  return { ok: true, best, runs };
}
