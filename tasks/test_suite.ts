/**
 * `deno task test`: type-check, lint, format check, unit tests, and every notebook executed
 * headless at smoke size. Ends with a plain `N passed, M failed` line (each check and each
 * notebook counts as one, each `Deno.test` as one) and exits non-zero on any failure.
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { color, parseTaskArgs, runTask } from "./cli.ts";

const spec = {
  name: "test",
  summary: "Runs deno check, deno lint, deno fmt --check, deno test, and executes every notebook " +
    "in notebooks/ headless with the smoke preset (skipped, with a note, where Jupyter is missing).",
  switches: {
    "no-notebooks": "skip the notebooks",
    "only-notebooks": "run only the notebooks",
  },
  options: { filter: "run only unit tests whose name contains this text (deno test --filter)" },
};

interface StepOutcome {
  passed: number;
  failed: number;
}

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const child = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).spawn();
  const decoder = new TextDecoder();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      sink.writeSync(chunk);
    }
  };
  await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  const status = await child.status;
  return { code: status.code, text };
}

async function check(label: string, cmd: string, args: string[]): Promise<StepOutcome> {
  console.log(color("bold", `\n== ${label}`));
  const { code } = await run(cmd, args);
  return code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 };
}

async function unitTests(filter?: string): Promise<StepOutcome> {
  console.log(color("bold", "\n== deno test"));
  const args = ["test", "-A", "--parallel", ...(filter ? ["--filter", filter] : [])];
  const { code, text } = await run(Deno.execPath(), args, { NO_COLOR: "1" });
  // Deno's closing line: "ok | 12 passed (3 steps) | 0 failed" or "FAILED | 10 passed | 2 failed".
  const match = [...text.matchAll(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)].pop();
  if (!match) return { passed: 0, failed: 1 };
  const failed = Number(match[2]);
  return { passed: Number(match[1]), failed: code !== 0 && failed === 0 ? 1 : failed };
}

async function jupyterStatus(): Promise<string | null> {
  // Debian's Jupyter first: another Python on PATH may have a jupyter without nbclient.
  const jupyter = existsSync("/usr/bin/jupyter") ? "/usr/bin/jupyter" : "jupyter";
  try {
    const out = await new Deno.Command(jupyter, {
      args: ["kernelspec", "list"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    if (!out.success) return null;
    if (!new TextDecoder().decode(out.stdout).match(/^\s*deno\s/m)) return "no-kernel";
    return jupyter;
  } catch {
    return null;
  }
}

async function notebooks(): Promise<StepOutcome> {
  const files = existsSync("notebooks")
    ? readdirSync("notebooks").filter((f) => f.endsWith(".ipynb")).sort()
    : [];
  console.log(color("bold", `\n== notebooks (${files.length}, smoke preset)`));
  const jupyter = await jupyterStatus();
  if (jupyter === null || jupyter === "no-kernel") {
    const what = jupyter === null
      ? "Jupyter is not installed"
      : "the Deno Jupyter kernel is not installed";
    console.log(
      `notebooks skipped: ${what}. To run them: apt-get install jupyter-nbconvert jupyter-client ` +
        `python3-nbclient && deno jupyter --install`,
    );
    return { passed: 0, failed: 0 };
  }
  const outDir = await Deno.makeTempDir({ prefix: "notebooks-" });
  const outcome = { passed: 0, failed: 0 };
  for (const file of files) {
    const start = performance.now();
    const { code } = await run(jupyter, [
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=900",
      "--output-dir",
      outDir,
      join("notebooks", file),
    ], { JEPA_PRESET: "smoke" });
    const secs = ((performance.now() - start) / 1000).toFixed(0);
    if (code === 0) outcome.passed++;
    else outcome.failed++;
    console.log(`${code === 0 ? "ok" : "FAILED"} ${file} (${secs}s)`);
  }
  await Deno.remove(outDir, { recursive: true });
  return outcome;
}

if (import.meta.main) {
  runTask(async () => {
    const { switches, options } = parseTaskArgs(spec);
    const outcomes: StepOutcome[] = [];
    if (!switches["only-notebooks"]) {
      const deno = Deno.execPath();
      outcomes.push(await check("deno check", deno, ["check", "lib/", "tasks/"]));
      outcomes.push(await check("deno lint", deno, ["lint"]));
      outcomes.push(await check("deno fmt --check", deno, ["fmt", "--check"]));
      outcomes.push(await unitTests(options.filter));
    }
    if (!switches["no-notebooks"]) outcomes.push(await notebooks());
    const passed = outcomes.reduce((s, o) => s + o.passed, 0);
    const failed = outcomes.reduce((s, o) => s + o.failed, 0);
    console.log(`\n${passed} passed, ${failed} failed`);
    if (failed > 0) Deno.exit(1);
  });
}
