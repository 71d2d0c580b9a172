import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pl from "nodejs-polars";
import { recordPath, resolveRecordPath, RunDir } from "./run_dir.ts";
import { writeDirAtomic, writeFileAtomic } from "./atomic.ts";
import { InputError } from "./errors.ts";

Deno.test("a run directory holds config, log, metrics JSONL and Parquet", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "run1");
  const run = await RunDir.open({ task: "t", config: { a: 1 }, dir });
  run.log("hello");
  run.metric({ step: 1, loss: 0.5 });
  run.metric({ step: 2, loss: 0.25, kind: "eval" });
  await run.finish();
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), { a: 1 });
  assert.match(readFileSync(join(dir, "run.log"), "utf8"), /hello/);
  const df = pl.readParquet(join(dir, "metrics.parquet"));
  assert.deepEqual(df.getColumn("loss").toArray(), [0.5, 0.25]);
  assert.deepEqual(df.getColumn("kind").toArray(), [null, "eval"]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("reopening a run needs --resume and the same config", async () => {
  const dir = join(await Deno.makeTempDir(), "run");
  await RunDir.open({ task: "t", config: { a: 1, b: { c: 2 } }, dir });
  await assert.rejects(RunDir.open({ task: "t", config: { a: 1, b: { c: 2 } }, dir }), /--resume/);
  await assert.rejects(
    RunDir.open({ task: "t", config: { a: 1, b: { c: 3 } }, dir, resume: true }),
    /different config \(changed: b\.c\)/,
  );
  const run = await RunDir.open({ task: "t", config: { a: 1, b: { c: 2 } }, dir, resume: true });
  assert.equal(run.dir, dir);
  // A user's mistake: a task prints it without a stack trace.
  await assert.rejects(
    RunDir.open({ task: "t", config: { a: 2, b: { c: 2 } }, dir, resume: true }),
    (e) => e instanceof InputError && /another --out/.test(e.message),
  );
  // The same values written another way (a hand-edited config.json) are the same config.
  await Deno.writeTextFile(join(dir, "config.json"), '{"b": {"c": 2.0}, "a": 1e0}');
  await RunDir.open({ task: "t", config: { a: 1, b: { c: 2 } }, dir, resume: true });
});

Deno.test("atomic directory writes leave the old directory on failure", async () => {
  const root = await Deno.makeTempDir();
  const target = join(root, "ds");
  await writeDirAtomic(target, (tmp) => writeFileAtomic(join(tmp, "a"), "v1"));
  await assert.rejects(
    writeDirAtomic(target, async (tmp) => {
      await writeFileAtomic(join(tmp, "a"), "v2");
      throw new Error("crash");
    }),
    /crash/,
  );
  assert.equal(readFileSync(join(target, "a"), "utf8"), "v1");
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["ds"], "no temp left");
  await writeDirAtomic(target, (tmp) => writeFileAtomic(join(tmp, "a"), "v3"));
  assert.equal(readFileSync(join(target, "a"), "utf8"), "v3");
  assert.ok(existsSync(target));
});

Deno.test("record paths are relative to the run directory and resolve back against it", () => {
  const run = "/data/results/pipeline-smoke";
  assert.equal(
    recordPath(run, "/data/results/pipeline-smoke/ijepa/checkpoints"),
    "ijepa/checkpoints",
  );
  assert.equal(recordPath(run, "/data/results/pipeline-smoke"), ".");
  assert.equal(recordPath(`${run}/worldmodel/stage2`, `${run}/worldmodel/stage1`), "../stage1");
  assert.equal(
    resolveRecordPath(`${run}/worldmodel/stage2`, "../stage1"),
    `${run}/worldmodel/stage1`,
  );
  // Records written before paths were relative hold absolute ones: they still resolve.
  assert.equal(resolveRecordPath(run, "/elsewhere/encoder"), "/elsewhere/encoder");
});
