/**
 * The play page in real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * frames arrive, held keys reach the model as their actions, and Q quits. Skipped, with a note,
 * where `/usr/bin/chromium` is not installed (`.ci/run` installs it).
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { initBackend } from "../../tensor/backend.ts";
import { disposeLatentAction } from "../../train/latent_action.ts";
import { join } from "node:path";
import { readTrial, trialFiles } from "../../data/atari_head/mod.ts";
import { HumanSession } from "./human_play.ts";
import { NeuralGame } from "./play.ts";
import { servePlay } from "./serve.ts";
import { ONE_CODE_PER_ACTION, tinyPlayModel } from "./testing.ts";

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
  name:
    "in headless Chromium the page draws both games, sends held keys as actions, records a valid Atari-HEAD trial, and quits on Q",
  ignore: !ready,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend({ backend: "cpu" });
    const { chromium } = await import("playwright-core");
    const { model, start } = tinyPlayModel();
    const game = new RecordingGame(model, ONE_CODE_PER_ACTION, start);
    const root = await Deno.makeTempDir();
    const human = new HumanSession("native:breakout", join(root, "trials"));
    let port = 0;
    const server = servePlay(game, {
      port: 0,
      actionMeanings: ["NOOP", "FIRE", "RIGHT", "LEFT"],
      onListen: (p) => port = p,
      human,
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
      // The native game beside the model, recorded while RIGHT is held, then downloaded.
      const nativeLit = await page.evaluate(() => {
        const c = document.querySelector("#native") as HTMLCanvasElement;
        const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 0) lit++;
        return { width: c.width, lit };
      });
      assert.equal(nativeLit.width, 320);
      assert.ok(nativeLit.lit > 0, "the native screen is drawn");
      await page.click("#record");
      await page.waitForFunction(() =>
        document.querySelector("#trial")!.textContent!.startsWith("recording")
      );
      await page.keyboard.down("ArrowRight");
      await page.waitForFunction(
        (n) => Number(document.querySelector("#steps")!.textContent) >= n,
        (await steps()) + 4,
      );
      await page.keyboard.up("ArrowRight");
      const downloads: Promise<import("playwright-core").Download>[] = [];
      page.on("download", (d) => downloads.push(Promise.resolve(d)));
      await page.click("#stop");
      await page.waitForFunction(() =>
        document.querySelector("#trial")!.textContent!.startsWith("saved")
      );
      while (downloads.length < 2) await new Promise((r) => setTimeout(r, 50));
      const got = join(root, "downloaded");
      await Deno.mkdir(got);
      for (const d of await Promise.all(downloads)) {
        await d.saveAs(join(got, d.suggestedFilename()));
      }
      const names = [...Deno.readDirSync(got)].map((e) => e.name).sort();
      assert.equal(names.length, 2);
      assert.match(names[0], /^1_HUM_100001_[\w-]+\.tar\.bz2$/);
      const trial = await readTrial(trialFiles(join(got, names[1])));
      assert.ok(trial.rows.length >= 4, `${trial.rows.length} frames recorded`);
      assert.equal(trial.pngs.length, trial.rows.length);
      // ALE's id of RIGHT is 3: the held key is in the trial's actions.
      assert.ok(trial.rows.some((r) => r.action === 3), "RIGHT recorded");
      await page.keyboard.press("q");
      await page.waitForFunction(() => document.querySelector("h1")!.textContent!.includes("quit"));
      const after = await steps();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok((await steps()) <= after + 1, "no more steps after Q");
    } finally {
      await browser.close();
      await server.shutdown();
      human.close();
      disposeLatentAction(model);
      await Deno.remove(root, { recursive: true });
    }
  },
});
