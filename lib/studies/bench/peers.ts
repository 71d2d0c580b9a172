/**
 * Peers: the same benchmark written in Python (`peers/*.py`), run in a subprocess when its
 * modules are importable ({@linkcode PEER_MODULES}: PyTorch, or NumPy and SciPy), never a
 * dependency. `ijepa-step` (`ijepa_step.py`: the same model, batch, masks and update),
 * `worldmodel-step` (`worldmodel_step.py`: the same predictor, batch, teacher-forced and rollout
 * losses and AdamW) and `ppo-update` (`ppo_update.py`: CleanRL's `ppo_atari` agent and update,
 * as `optimizeRollout` runs it) have a PyTorch one; `probe-fit` (`probe_fit.py`: the same ridge
 * probe, step for step) a NumPy/SciPy one. Each peer is run with 1
 * and 2 intra-op threads and the best is kept; the report says which. A peer's variants (extra
 * flags, {@linkcode PEER_VARIANTS}) then run once each at the best thread count.
 *
 * A peer script takes `--threads N` and `--quick` and prints one JSON line ({@linkcode
 * PeerResult}); with `--serve` it builds its forms, prints `ready`, then for each line
 * `<form> <steps>` on stdin runs that many steps of that form and prints `{"seconds": ...}`
 * ({@linkcode pairWithPeer}).
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
  /** The peer library's version: torch, or numpy for the NumPy peers. */
  torch?: string;
  numpy?: string;
}

/** The best of a peer's runs, every run, each variant's run, or why none ran. */
export type PeerOutcome =
  | { ok: true; best: PeerResult; runs: PeerResult[]; variants: Record<string, PeerResult> }
  | { ok: false; reason: string };

/** Benchmarks with a peer, and the script of each. */
export const PEER_SCRIPTS: Record<string, string> = {
  "ijepa-step": "peers/ijepa_step.py",
  "worldmodel-step": "peers/worldmodel_step.py",
  "ppo-update": "peers/ppo_update.py",
  "dqn-update": "peers/dqn_update.py",
  "probe-fit": "peers/probe_fit.py",
};

/** The Python modules a peer imports (default: torch). */
export const PEER_MODULES: Record<string, string[]> = {
  "probe-fit": ["numpy", "scipy"],
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

const message = (err: unknown) => err instanceof Error ? err.message : String(err);

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

/**
 * Why the peer of `bench` cannot run here (its modules are not importable), or undefined when
 * it can.
 */
export async function peerUnavailable(bench = "ijepa-step"): Promise<string | undefined> {
  const modules = PEER_MODULES[bench] ?? ["torch"];
  const r = await runPython(["-c", `import ${modules.join(", ")}`], 120_000);
  if (r.ok) return undefined;
  const install = modules.includes("torch")
    ? "python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
    : `python3 -m pip install ${modules.join(" ")}`;
  return `${modules.join(" and ")} ${
    modules.length > 1 ? "are" : "is"
  } not importable by ${python()} (${lastLine(r.stderr) || "no output"}); to measure: ${install}`;
}

/** Runs the peer of `bench` with each thread count; the best median wins. */
export async function runPeer(
  bench: string,
  opts: { quick?: boolean; threads?: number[] } = {},
): Promise<PeerOutcome> {
  const script = PEER_SCRIPTS[bench];
  if (!script) return { ok: false, reason: `no peer for ${bench}` };
  const missing = await peerUnavailable(bench);
  if (missing) return { ok: false, reason: missing };
  const path = fileURLToPath(new URL(script, import.meta.url));
  const run = async (threads: number, flags: string[] = []): Promise<PeerResult> => {
    const args = [path, "--threads", String(threads), ...flags, ...(opts.quick ? ["--quick"] : [])];
    const r = await runPython(args, 600_000);
    if (!r.ok) throw new Error(lastLine(r.stderr) || "failed");
    return JSON.parse(lastLine(r.stdout)) as PeerResult;
  };
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
      return { ok: false, reason: `the peer's ${name} variant failed: ${message(err)}` };
    }
  }
  return { ok: true, best, runs, variants };
}

/** Ours against each form of a peer, window by window (samples/s or the bench's unit). */
export interface PairedWindow {
  ours: number;
  /** `reference` (the peer proper) and each variant. */
  peers: Record<string, number>;
}

/** Paired windows summed up: per form, the median, min and max of the windows' ratios. */
export interface PairedComparison {
  threads: number;
  steps: number;
  windows: PairedWindow[];
  ratios: Record<string, { median: number; min: number; max: number }>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The ratio of ours to each form of the peer, window by window, summed up. */
export function summarizeWindows(windows: PairedWindow[]): PairedComparison["ratios"] {
  const forms = Object.keys(windows[0]?.peers ?? {});
  return Object.fromEntries(forms.map((form) => {
    const r = windows.map((w) => w.ours / w.peers[form]);
    return [form, { median: median(r), min: Math.min(...r), max: Math.max(...r) }];
  }));
}

/** Reads a stream line by line. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
    }
  }
  if (buffered) yield buffered;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ours against the peer of `bench` in paired windows: the peer runs as a server (`--serve`,
 * both its forms loaded), and each window times `steps` of our steps, then `steps` of each
 * form of the peer, in turn. A shared machine's speed drifts over seconds; within a window pair
 * both sides see about the same machine, so the median of the windows' ratios is steadier than
 * a ratio of separate runs. `step` runs one of our steps of `units` samples (or env steps).
 * A pause between turns lets the other side's idle threads stop spinning.
 */
export async function pairWithPeer(
  bench: string,
  step: () => void,
  units: number,
  opts: { threads: number; windows?: number; steps?: number; pauseMs?: number },
): Promise<PairedComparison | { reason: string }> {
  const script = PEER_SCRIPTS[bench];
  if (!script) return { reason: `no peer for ${bench}` };
  const { threads, windows = 10, steps = 3, pauseMs = 100 } = opts;
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = new Deno.Command(python(), {
    args: [path, "--threads", String(threads), "--serve"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const replies = lines(child.stdout);
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const reply = async () => {
    const next = await replies.next();
    if (next.done) throw new Error(`the peer stopped: ${(await stderr).trim().split("\n").at(-1)}`);
    return next.value;
  };
  try {
    if ((await reply()) !== "ready") throw new Error("the peer did not start serving");
    const forms = ["reference", ...Object.keys(PEER_VARIANTS[bench] ?? {})];
    const out: PairedWindow[] = [];
    for (let w = 0; w < windows; w++) {
      await sleep(pauseMs);
      const start = performance.now();
      for (let i = 0; i < steps; i++) step();
      const ours = (steps * units) / ((performance.now() - start) / 1000);
      const peers: Record<string, number> = {};
      for (const form of forms) {
        await sleep(pauseMs);
        await writer.write(encoder.encode(`${form} ${steps}\n`));
        const { seconds } = JSON.parse(await reply()) as { seconds: number };
        peers[form] = (steps * units) / seconds;
      }
      out.push({ ours, peers });
    }
    return { threads, steps, windows: out, ratios: summarizeWindows(out) };
  } catch (err) {
    return { reason: message(err) };
  } finally {
    await writer.close().catch(() => {});
    try {
      child.kill();
    } catch { /* already gone */ }
    await child.status;
    await stderr;
  }
}
