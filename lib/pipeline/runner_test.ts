import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Phase, PhaseError, readPhaseRecord, runPipeline } from "./runner.ts";

/** Three phases a -> b -> c that count their runs and write a file each. */
function chain(inputs: { a: number; b: number; c: number }, calls: string[], failIn?: string) {
  const make = (name: string, needs: string[], value: number): Phase => ({
    name,
    needs,
    inputs: { value },
    async run(ctx) {
      calls.push(ctx.resume ? `${name}(resume)` : name);
      if (name === failIn) throw new Error("disk full");
      const from = needs.map((n) => ctx.upstream[n].outputs!.total as number);
      const total = value + from.reduce((s, v) => s + v, 0);
      await Deno.writeTextFile(join(ctx.dir, "out.txt"), String(total));
      return { total };
    },
  });
  return [make("a", [], inputs.a), make("b", ["a"], inputs.b), make("c", ["b"], inputs.c)];
}

Deno.test("a re-run skips current phases and redoes a changed phase and those after it", async () => {
  const dir = await Deno.makeTempDir();
  const calls: string[] = [];
  const first = await runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, calls));
  assert.deepEqual(first.ran, ["a", "b", "c"]);
  assert.equal(first.records.c.outputs!.total, 6);

  const again = await runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, calls));
  assert.deepEqual(again.skipped, ["a", "b", "c"]);

  const changed = await runPipeline(dir, chain({ a: 1, b: 20, c: 3 }, calls));
  assert.deepEqual(changed.skipped, ["a"]);
  assert.deepEqual(changed.ran, ["b", "c"]);
  assert.equal(readFileSync(join(dir, "c/out.txt"), "utf8"), "24");
  assert.deepEqual(calls, ["a", "b", "c", "b", "c"]);
});

Deno.test("a failing phase keeps earlier outputs, names itself, and resumes on the next run", async () => {
  const dir = await Deno.makeTempDir();
  const calls: string[] = [];
  await assert.rejects(
    () => runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, calls, "b")),
    (e: unknown) =>
      e instanceof PhaseError && e.phase === "b" && /phase "b" failed: disk full/.test(e.message),
  );
  assert.equal(readPhaseRecord(join(dir, "a"))!.status, "done");
  assert.equal(readFileSync(join(dir, "a/out.txt"), "utf8"), "1");
  const failed = readPhaseRecord(join(dir, "b"))!;
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "disk full");
  assert.ok(!existsSync(join(dir, "c")));

  const retry = await runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, calls));
  assert.deepEqual(retry.skipped, ["a"]);
  assert.deepEqual(calls, ["a", "b", "b(resume)", "c"]);
});

Deno.test("a damaged phase record is an error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  await runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, []));
  writeFileSync(join(dir, "b/phase.json"), "{ not json");
  await assert.rejects(
    () => runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, [])),
    /b\/phase\.json: not a phase record/,
  );
});

Deno.test("only= stops after the named phase; an unknown name is an error", async () => {
  const dir = await Deno.makeTempDir();
  const out = await runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, []), {}, { only: "b" });
  assert.deepEqual(out.ran, ["a", "b"]);
  await assert.rejects(
    () => runPipeline(dir, chain({ a: 1, b: 2, c: 3 }, []), {}, { only: "x" }),
    /no phase "x" \(phases: a, b, c\)/,
  );
});
