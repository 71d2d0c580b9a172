/**
 * The library's floors (see `lib/README.md`): a file imports only from its own floor or lower
 * ones, a study reaches another study only through that study's `mod.ts`, and no chain of
 * imports (type-only ones included) comes back to where it started.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** Floor of each top-level folder of `lib/` (and of `tasks/`), lowest first. */
export const FLOORS: Record<string, number> = {
  viz: 0,
  run: 0,
  tensor: 1,
  envs: 2,
  data: 2,
  nn: 2,
  ssl: 2,
  models: 3,
  train: 4,
  eval: 4,
  rl: 5,
  plan: 5,
  studies: 6,
  pipeline: 7,
  // Sweeps run the studies' tasks as CLI calls and read their run directories: beside the
  // pipeline, below the tasks (which hand their grids to it).
  sweep: 7,
  tasks: 8,
};

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));

/** Every `.ts` file under `dir`, relative to the repository root. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;

/** The project files `file` imports (static, dynamic, type-only and re-exports alike). */
export function importsOf(file: string, text: string): string[] {
  // Doc comments show imports in their examples; those are not imports.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...code.matchAll(SPECIFIER)]
    .map((m) => normalize(join(dirname(file), m[1])))
    .filter((p) => p.endsWith(".ts"));
}

/** `lib/<top>/...` or `tasks/...` -> the folder that names the floor. */
export function floorName(file: string): string {
  const parts = file.split("/");
  return parts[0] === "lib" ? parts[1] : parts[0];
}

/** The study folder a file lives in (`lib/studies/<name>`), if any. */
function studyOf(file: string): string | null {
  const parts = file.split("/");
  return parts[0] === "lib" && parts[1] === "studies" && parts.length > 3
    ? parts.slice(0, 3).join("/")
    : null;
}

/** Every rule a set of files breaks, one line each. */
export function layeringViolations(files: Map<string, string[]>): string[] {
  const problems: string[] = [];
  for (const [file, imports] of files) {
    const from = floorName(file);
    if (!(from in FLOORS)) {
      problems.push(`${file}: the folder '${from}' has no floor in lib/layers_test.ts`);
      continue;
    }
    for (const target of imports) {
      const to = floorName(target);
      if (!(to in FLOORS)) {
        problems.push(`${file} imports ${target}, outside the floors`);
        continue;
      }
      if (FLOORS[to] > FLOORS[from]) {
        problems.push(`${file} (floor ${from}) imports ${target} (floor ${to}, higher)`);
      }
      const study = studyOf(target);
      if (study && studyOf(file) !== study && !target.endsWith("/mod.ts")) {
        problems.push(`${file} imports ${target}: outside ${study}, import its mod.ts`);
      }
    }
  }
  return problems;
}

/** The import cycles among `files`, each as the chain of files that closes it. */
export function importCycles(files: Map<string, string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of files.get(file) ?? []) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...files.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

function projectImports(): Map<string, string[]> {
  const files = new Map<string, string[]>();
  // Files directly in lib/ (this test) belong to no floor.
  const inFloors = tsFiles("lib").filter((f) => f.split("/").length > 2);
  for (const file of [...inFloors, ...tsFiles("tasks")]) {
    files.set(file, importsOf(file, readFileSync(join(ROOT, file), "utf8")));
  }
  return files;
}

Deno.test("every file imports only its own floor or lower ones, and studies through mod.ts", () => {
  assert.deepEqual(layeringViolations(projectImports()), []);
});

Deno.test("no import cycles, type-only imports included", () => {
  const cycles = importCycles(projectImports()).map((c) => c.map((f) => relative("lib", f)));
  assert.deepEqual(cycles, []);
});

Deno.test("the layering rules catch an upward import, a study's internals and a cycle", () => {
  const files = new Map<string, string[]>([
    ["lib/envs/game.ts", ["lib/studies/swap/grid.ts", "lib/tensor/rng.ts"]],
    ["lib/eval/probe.ts", ["lib/pipeline/report.ts"]],
    ["lib/viz/png.ts", ["tasks/cli.ts"]],
    ["lib/studies/a/run.ts", ["lib/studies/b/grid.ts", "lib/studies/b/mod.ts"]],
    ["lib/studies/b/grid.ts", ["lib/studies/b/presets.ts"]],
    ["lib/models/x.ts", ["lib/models/y.ts"]],
    ["lib/models/y.ts", ["lib/models/x.ts"]],
  ]);
  const problems = layeringViolations(files);
  assert.equal(problems.length, 5, problems.join("\n"));
  assert.match(problems[0], /lib\/envs\/game\.ts \(floor envs\) imports lib\/studies\/swap\/grid/);
  assert.match(problems[1], /import its mod\.ts/);
  assert.match(problems[2], /floor eval\) imports lib\/pipeline\/report\.ts/);
  assert.match(problems[3], /floor viz\) imports tasks\/cli\.ts/);
  assert.match(problems[4], /lib\/studies\/a\/run\.ts imports lib\/studies\/b\/grid\.ts/);
  assert.deepEqual(importCycles(files), [[
    "lib/models/x.ts",
    "lib/models/y.ts",
    "lib/models/x.ts",
  ]]);
});

Deno.test("importsOf reads static, type-only, dynamic and re-export specifiers", () => {
  const text = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../b/b.ts";`,
    `export { c } from "./c.ts";`,
    `const d = await import("./d.ts");`,
    `import "./e.ts";`,
    `import x from "npm:thing";`,
  ].join("\n");
  assert.deepEqual(importsOf("lib/x/y.ts", text), [
    "lib/x/a.ts",
    "lib/b/b.ts",
    "lib/x/c.ts",
    "lib/x/d.ts",
    "lib/x/e.ts",
  ]);
});
