/**
 * `deno task doctor`: what this machine offers the project. The tfjs backend chosen and why the
 * others were skipped, versions, wasm SIMD/threads, the WebGPU adapter, Jupyter and its Deno
 * kernel, ale-py, g++ and OpenBLAS. The facts come from lib/tensor/doctor.ts; this file prints.
 *
 * Exits 1 when the requested backend cannot be loaded, 2 on a usage error.
 *
 * @module
 */

import { parseArgs, styleText } from "node:util";
import { BACKEND_NAMES, parseBackendChoice } from "../lib/tensor/backend.ts";
import { type DoctorFacts, gatherDoctorFacts } from "../lib/tensor/doctor.ts";
import { cpuHasAvx2 } from "../lib/tensor/native/blas.ts";

const USAGE = `Usage: deno task doctor [options]

Prints the tfjs backend this machine gets (and why each better one was skipped), the versions
of Deno, tfjs and the pinned npm packages, wasm SIMD/threads, the WebGPU adapter, Jupyter and
its Deno kernel, ale-py, and the native backend with what it needs (a C compiler, OpenBLAS).

Options:
  --backend NAME   backend to initialise: auto | ${BACKEND_NAMES.join(" | ")}
                   (default: JEPA_BACKEND, else auto)
  --json           print one JSON object instead of text
  -h, --help       show this help`;

type Style = Parameters<typeof styleText>[0];

const useColor = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const paint = (style: Style, text: string) => useColor ? styleText(style, text) : text;
const good = (text: string) => paint("green", text);
const warn = (text: string) => paint("yellow", text);
const bad = (text: string) => paint("red", text);
const dim = (text: string) => paint("dim", text);
const label = (text: string) => paint("bold", text.padEnd(10));

function render(f: DoctorFacts): string {
  const out: string[] = [];
  const line = (name: string, text: string) => out.push(`${label(name)} ${text}`);
  const sub = (text: string) => out.push(`  ${text}`);

  // Backend.
  if (f.backend.ok) {
    const r = f.backend.report;
    const extra = r.backend === "wasm"
      ? ` (SIMD ${r.simd ? "on" : "off"}, threads ${r.threads ? "on" : "off"})`
      : r.native
      ? ` (${r.native.threads} threads)`
      : r.adapter
      ? ` (${r.adapter.description || r.adapter.vendor})`
      : "";
    line("backend", `${good(r.backend)}${extra}  ${dim(`requested: ${r.requested}`)}`);
    for (const t of r.tried) {
      const status = t.ok ? good("chosen ") : warn("skipped");
      sub(`${t.name.padEnd(11)} ${status} ${t.reason ?? ""} ${dim(`${t.ms} ms`)}`.trimEnd());
    }
  } else {
    line("backend", `${bad("FAILED")} ${f.backend.error}`);
  }

  // Versions.
  const rt = f.runtime;
  line(
    "runtime",
    `Deno ${rt.deno}, V8 ${rt.v8}, TypeScript ${rt.typescript} ` +
      dim(`(${rt.os} ${rt.arch}, ${rt.cpus} CPUs)`),
  );
  const { tfjs, ...parts } = f.tfjs;
  const mismatched = Object.entries(parts).filter(([, v]) => v !== tfjs);
  line(
    "tfjs",
    `${tfjs}` +
      (mismatched.length
        ? ` ${warn(`but ${mismatched.map(([k, v]) => `${k} ${v}`).join(", ")}`)}`
        : dim(` (${Object.keys(parts).join(", ")} the same)`)),
  );
  line("packages", dim("deno.json imports -> node_modules"));
  const width = Math.max(...f.packages.map((p) => p.name.length));
  for (const p of f.packages) {
    const version = p.installed ?? p.pinned ?? p.specifier;
    sub(`${p.name.padEnd(width)}  ${p.ok ? version : `${version} ${bad(p.problem ?? "")}`}`);
  }

  // Compute.
  const wasmText = f.wasm.simd === null ? warn("unknown") : f.wasm.simd ? good("yes") : bad("no");
  line(
    "wasm",
    `SIMD ${wasmText}, threads ${f.wasm.threads ? "yes" : "no"} ${dim(`(${f.wasm.note})`)}`,
  );
  const a = f.webgpu.adapter;
  const adapterText = a
    ? `${a.description || "?"} ${
      dim(
        `(vendor ${a.vendor || "?"}, device ${a.device || "?"}` +
          `${a.architecture ? `, ${a.architecture}` : ""})`,
      )
    }`
    : "";
  if (f.webgpu.status === "gpu") line("webgpu", `${good("GPU")} ${adapterText}`);
  else if (f.webgpu.status === "fallback") {
    line("webgpu", `${warn("fallback only:")} ${adapterText}`);
  } else line("webgpu", `${warn("none")} ${dim(`(${f.webgpu.reason})`)}`);

  // Tools.
  const j = f.jupyter;
  if (j.installed) {
    const v = ["jupyter_core", "nbconvert", "nbclient"].filter((k) => j.versions[k])
      .map((k) => `${k} ${j.versions[k]}`).join(", ");
    line("jupyter", `${good("yes")} ${j.path} ${dim(`(${v})`)}`);
  } else line("jupyter", `${warn("no")} ${dim(j.error ?? "")}`);
  line(
    "kernel",
    j.denoKernel
      ? `${good("deno")} ${dim(`(kernels: ${j.kernels.join(", ")})`)}`
      : `${warn("no Deno kernel")} ${dim("(install: deno jupyter --install)")}`,
  );
  const ale = f.alepy;
  line(
    "ale-py",
    ale.importable
      ? `${good(ale.version ?? "?")} ${dim(`(${ale.python})`)}`
      : `${warn("not importable")} ${dim(`(${ale.python ?? "python3"}: ${ale.error})`)}`,
  );
  const gxx = f.native.gxx;
  line("g++", gxx.present ? gxx.version ?? "yes" : `${warn("no")} ${dim(gxx.error ?? "")}`);
  const blas = f.native.openblas;
  // The system's OpenBLAS is the fallback when the pinned wheel cannot be fetched.
  line(
    "openblas",
    blas.present
      ? `${blas.library ?? "loaded"} ${dim(`(system) ${blas.config ?? ""}`)}`.trimEnd()
      : dim("no system library (the native backend uses the fetched wheel)"),
  );
  const cc = f.native.cc;
  line(
    "cc",
    cc.present ? `${cc.command}: ${cc.version}` : `${warn("no")} ${dim("(apt-get install g++)")}`,
  );
  const nb = f.native.backend;
  if (nb.available) {
    line(
      "native",
      `${good("available")}: ${nb.kernels} native kernels, ${nb.threads} threads ` +
        dim(`(${nb.library})`),
    );
    const origin = { env: "JEPA_OPENBLAS", wheel: "fetched wheel", system: "system library" };
    sub(
      `BLAS: ${nb.openblas} ${dim(`(${origin[nb.blasSource!]}: ${nb.blasLibrary})`)}`,
    );
    sub(
      `kernels: ${nb.blasWarning ? warn(nb.blasCore ?? "?") : good(nb.blasCore ?? "?")} ${
        dim(`(OpenBLAS' choice for this CPU${cpuHasAvx2() ? ", which has AVX2" : ""})`)
      }`,
    );
    for (const note of nb.blasNotes ?? []) sub(dim(`not the fetched wheel: ${note}`));
    if (nb.blasWarning) sub(warn(nb.blasWarning));
  } else line("native", `${warn("unavailable")}: ${nb.reason}`);
  return out.join("\n");
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        help: { type: "boolean", short: "h" },
        json: { type: "boolean" },
        backend: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${bad("error:")} ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.backend !== undefined) {
    try {
      parseBackendChoice(values.backend, "--backend");
    } catch (err) {
      console.error(`${bad("error:")} ${(err as Error).message}`);
      return 2;
    }
  }
  const facts = await gatherDoctorFacts({ backend: values.backend });
  console.log(values.json ? JSON.stringify(facts, null, 2) : render(facts));
  return facts.backend.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
