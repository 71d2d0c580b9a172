import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../tensor/backend.ts";
import { Rng } from "../../tensor/rng.ts";
import { disposeLatentAction } from "../../train/latent_action.ts";
import { NeuralGame, randomPlayGif } from "./play.ts";
import { servePlay } from "./serve.ts";
import { ONE_CODE_PER_ACTION, tinyPlayModel } from "./testing.ts";

await initBackend({ backend: "cpu" });

const { model, start } = tinyPlayModel();

Deno.test("a neural game steps the model from its start stack and refuses unknown actions", () => {
  const game = new NeuralGame(model, ONE_CODE_PER_ACTION, start);
  const before = tf.memory().numTensors;
  const first = game.reset();
  assert.equal(first.length, 24 * 36);
  const a = game.step(2);
  assert.equal(a.length, 24 * 36);
  assert.notDeepEqual(a, first, "the model draws a new frame");
  assert.deepEqual(game.reset(), first, "reset goes back to the start stack");
  assert.deepEqual(game.step(2), a, "the same action from the same stack: the same frame");
  assert.throws(() => game.step(7), /action 7 outside \[0, 4\) \(NOOP,FIRE,RIGHT,LEFT\)/);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind by a step");
  assert.ok(randomPlayGif(game, 3, new Rng(1)).length > 100);
  assert.throws(
    () => new NeuralGame(model, ONE_CODE_PER_ACTION, start.subarray(1)),
    /start stack of/,
  );
});

Deno.test("the play server answers the page, the game's size and actions, and frames per step", async () => {
  const game = new NeuralGame(model, ONE_CODE_PER_ACTION, start);
  let port = 0;
  const server = servePlay(game, {
    port: 0,
    actionMeanings: ["NOOP", "FIRE", "RIGHT", "LEFT"],
    onListen: (p) => port = p,
  });
  try {
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;
    const page = await (await fetch(url("/"))).text();
    assert.match(page, /SPACE fire, LEFT \/ RIGHT arrows, PERIOD no-op, ESC or Q quit/);
    const info = await (await fetch(url("/info"))).json();
    assert.deepEqual(info.keys, { " ": 1, ArrowLeft: 3, ArrowRight: 2, ".": 0 });
    assert.equal(info.width * info.height, 24 * 36);
    const frame = new Uint8Array(
      await (await fetch(url("/step?action=3"), { method: "POST" })).arrayBuffer(),
    );
    assert.equal(frame.length, 24 * 36);
    const bad = await fetch(url("/step?action=9"), { method: "POST" });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /action must be an integer in \[0, 4\)/);
  } finally {
    await server.shutdown();
  }
});

globalThis.addEventListener("unload", () => disposeLatentAction(model));
