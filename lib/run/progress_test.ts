import assert from "node:assert/strict";
import { progressBars, type StepEvent, stepRecorder } from "./progress.ts";
import type { MetricRecord } from "./run_dir.ts";

const event = (step: number, loop = "pretrain"): StepEvent => ({
  loop,
  step,
  total: 4,
  values: { loss: 1 / step, lr: 0.1 },
});

/** Runs `fn` with stderr captured; returns what was written. */
function captureStderr(fn: () => void): string {
  const write = Deno.stderr.writeSync;
  const error = console.error;
  let text = "";
  Deno.stderr.writeSync = (bytes: Uint8Array) => {
    text += new TextDecoder().decode(bytes);
    return bytes.length;
  };
  console.error = (line: string) => (text += `${line}\n`);
  try {
    fn();
  } finally {
    Deno.stderr.writeSync = write;
    console.error = error;
  }
  return text;
}

Deno.test("stepRecorder writes fields, step and values, and passes the event on relabelled", () => {
  const records: MetricRecord[] = [];
  const passed: StepEvent[] = [];
  const onStep = stepRecorder({
    metric: (r) => records.push(r),
    fields: { kind: "train", model: "blind" },
    loop: "stage 2 (blind)",
    then: (e) => passed.push(e),
  });
  onStep(event(1));
  onStep(event(2));
  assert.deepEqual(records, [
    { kind: "train", model: "blind", step: 1, loss: 1, lr: 0.1 },
    { kind: "train", model: "blind", step: 2, loss: 0.5, lr: 0.1 },
  ]);
  assert.deepEqual(passed.map((e) => [e.loop, e.step, e.total]), [
    ["stage 2 (blind)", 1, 4],
    ["stage 2 (blind)", 2, 4],
  ]);
  // Without a new name the trainer's own label goes through.
  const kept: string[] = [];
  stepRecorder({ then: (e) => kept.push(e.loop) })(event(1));
  assert.deepEqual(kept, ["pretrain"]);
});

Deno.test("progressBars draws one bar per loop with the chosen values, and ends each at its total", () => {
  const text = captureStderr(() => {
    const onStep = progressBars({ prefix: "  ", show: ["loss"] });
    for (let step = 3; step <= 4; step++) onStep(event(step, "ijepa")); // resumed at step 2
    for (let step = 1; step <= 4; step++) onStep(event(step, "ae"));
  });
  const finals = text.split(/[\r\n]/).filter((l) => l.includes("4/4"));
  assert.equal(finals.length, 2, text);
  assert.match(finals[0], /^ {2}ijepa \[#{24}\] 4\/4 \d+s loss=0\.2500$/);
  assert.match(finals[1], /^ {2}ae \[#{24}\] 4\/4 \d+s loss=0\.2500$/);
  assert.ok(!text.includes("lr="), "values not asked for are not shown");
});
