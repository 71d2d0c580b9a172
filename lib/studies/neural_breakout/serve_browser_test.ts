/**
 * The play page in real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * frames arrive, held keys reach the model as their actions, and Q quits. Skipped, with a note,
 * where `/usr/bin/chromium` is not installed (`.ci/run` installs it).
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { initLatentAction } from "../../models/latent_action.ts";
import { initBackend } from "../../tensor/backend.ts";
import { Rng } from "../../tensor/rng.ts";
import { disposeLatentAction } from "../../train/latent_action.ts";
import { NeuralGame } from "./play.ts";
import { servePlay } from "./serve.ts";

const CHROMIUM = "/usr/bin/chromium";
const ready = existsSync(CHROMIUM);
if (!ready) {
  console.error(`skipping the browser test: ${CHROMIUM} is missing (apt-get install chromium)`);
}

/** A game that remembers the actions it was stepped with. */
class RecordingGame extends NeuralGame {
  actions: number[] = [];
  override step(action: number): Uint8Array {
    this.actions.push(action);
    return super.step(action);
  }
}

Deno.test({
  name: "in headless Chromium the page draws frames, sends held keys as actions, and quits on Q",
  ignore: !ready,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend({ backend: "cpu" });
    const { chromium } = await import("playwright-core");
    const vit = { patch: 12, width: 16, depth: 1, heads: 2, mlpRatio: 2, cls: false };
    const model = initLatentAction(new Rng(0), {
      encoder: { ...vit, imageSize: [24, 36], channels: 2 },
      actionEncoder: { ...vit, imageSize: [24, 36], channels: 2 },
      decoder: { width: 16, depth: 1, heads: 2, mlpRatio: 2 },
      codes: 4,
      codeDim: 4,
      commitment: 0.25,
    });
    const start = Float32Array.from({ length: 24 * 36 * 2 }, (_, i) => (i % 5) / 5);
    const game = new RecordingGame(model, [0, 1, 2, 3], start);
    let port = 0;
    const server = servePlay(game, {
      port: 0,
      actionMeanings: ["NOOP", "FIRE", "RIGHT", "LEFT"],
      onListen: (p) => port = p,
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      const steps = async () => Number(await page.textContent("#steps"));
      await page.waitForFunction(() => Number(document.querySelector("#steps")!.textContent) >= 3);
      // The canvas holds the drawn frame (4x the model's 36x24).
      const drawn = await page.evaluate(() => {
        const c = document.querySelector("canvas") as HTMLCanvasElement;
        const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 0) lit++;
        return { width: c.width, height: c.height, lit };
      });
      assert.deepEqual([drawn.width, drawn.height], [144, 96]);
      assert.ok(drawn.lit > 0, "the frame is drawn");
      for (const [key, action] of [["ArrowLeft", 3], ["ArrowRight", 2]] as const) {
        await page.keyboard.down(key);
        const from = game.actions.length;
        await page.waitForFunction(
          (n) => Number(document.querySelector("#steps")!.textContent) >= n,
          (await steps()) + 3,
        );
        await page.keyboard.up(key);
        assert.ok(
          game.actions.slice(from + 1).includes(action),
          `${key} reaches the model as ${action}`,
        );
      }
      await page.keyboard.press("q");
      await page.waitForFunction(() => document.querySelector("h1")!.textContent!.includes("quit"));
      const after = await steps();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok((await steps()) <= after + 1, "no more steps after Q");
    } finally {
      await browser.close();
      await server.shutdown();
      disposeLatentAction(model);
    }
  },
});
