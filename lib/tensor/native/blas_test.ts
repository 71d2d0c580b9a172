import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  BLAS_WHEEL,
  BlasUnavailable,
  fetchBlasWheel,
  kernelWarning,
  locateBlas,
  SYSTEM_OPENBLAS,
  wheelDir,
} from "./blas.ts";

/** A stand-in for python3 that "downloads" `content` as the wheel's file name. */
async function fakePython(root: string, content: string): Promise<string> {
  const path = join(root, "python3");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
# pip download ... --dest DIR SPEC: write the pinned file name into DIR
while [ $# -gt 0 ]; do
  if [ "$1" = "--dest" ]; then dest="$2"; fi
  shift
done
printf '%s' '${content}' > "$dest/${BLAS_WHEEL.file}"
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void> | void) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) {
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
}

Deno.test("a wheel whose checksum is not the pinned one is refused, and nothing is left behind", async () => {
  const root = await Deno.makeTempDir();
  const python = await fakePython(root, "not the wheel");
  const cache = join(root, "cache");
  await withEnv({ JEPA_PYTHON: python }, () => {
    assert.throws(
      () => fetchBlasWheel(wheelDir(cache)),
      (err: Error) => {
        assert.ok(err instanceof BlasUnavailable);
        assert.match(
          err.message,
          new RegExp(`has SHA-256 [0-9a-f]{64}, expected ${BLAS_WHEEL.sha256}`),
        );
        return true;
      },
    );
  });
  assert.deepEqual(readdirSync(cache), [], "no folder, temporary or final, remains");
});

Deno.test("without pip the BLAS falls back to the system library and says why", async () => {
  const root = await Deno.makeTempDir();
  await withEnv({ JEPA_PYTHON: join(root, "no-python"), JEPA_OPENBLAS: undefined }, () => {
    const choice = locateBlas({ cacheDir: join(root, "cache") });
    assert.equal(choice.source, "system");
    assert.equal(choice.path, SYSTEM_OPENBLAS);
    assert.match(
      choice.notes.join("; "),
      /fetching scipy-openblas32==0\.3\.34 failed .*no-python: not found.*; try: .* -m pip download/,
    );
  });
  assert.ok(!existsSync(join(root, "cache", `${BLAS_WHEEL.project}-${BLAS_WHEEL.version}`)));
});

Deno.test("JEPA_OPENBLAS wins, and fetching can be switched off", async () => {
  const root = await Deno.makeTempDir();
  await withEnv({ JEPA_OPENBLAS: "/opt/blas/libopenblas.so" }, () => {
    assert.deepEqual(locateBlas({ cacheDir: root }), {
      path: "/opt/blas/libopenblas.so",
      prefix: "",
      source: "env",
      notes: [],
    });
  });
  await withEnv({ JEPA_OPENBLAS: undefined, JEPA_BLAS_FETCH: "0" }, () => {
    const choice = locateBlas({ cacheDir: root });
    assert.equal(choice.source, "system");
    assert.match(choice.notes[0], /fetching is off/);
  });
});

Deno.test("generic kernels on a CPU with AVX2 are called out; fitting ones are not", () => {
  const system = { path: SYSTEM_OPENBLAS, source: "system" as const };
  assert.match(
    kernelWarning("Prescott", system, true)!,
    /^SLOW BLAS: libopenblas\.so\.0 runs generic 'Prescott' kernels on a CPU with AVX2 .*scipy-openblas32 0\.3\.34/,
  );
  assert.equal(kernelWarning("SkylakeX", system, true), undefined);
  assert.equal(kernelWarning("Zen", system, true), undefined);
  assert.equal(kernelWarning("Haswell", system, true), undefined);
  assert.equal(kernelWarning("Prescott", system, false), undefined, "an old CPU is not slowed");
});
