/**
 * Neural Breakout in a browser: a page on localhost where a person plays inside the world model
 * with the seed's keys (SPACE fire, LEFT/RIGHT arrows, PERIOD no-op, ESC or Q quit). The page
 * asks for a step about 15 times a second with the key held; the server steps the
 * {@linkcode NeuralGame} and answers with the frame's gray bytes, which the page draws scaled.
 *
 * With a {@linkcode HumanSession} the page also plays the native game beside the model, with the
 * same keys, and can record that play as an Atari-HEAD trial and download its two files.
 *
 * Routes: `GET /` the page, `GET /info` (frame size, actions), `POST /reset`, `POST /step?action=N`
 * (the frame, `height x width` bytes); with a native game `POST /native/reset`,
 * `POST /native/step?action=N` (210x160 RGB bytes; N names the same action as the model's),
 * `POST /native/record`, `POST /native/stop` (the trial's file names) and
 * `GET /native/trials/<file>`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { HumanSession } from "./human_play.ts";
import type { NeuralGame } from "./play.ts";

/** The page's keys and the actions they press (by the game's action names). */
export const PLAY_KEYS: Record<string, string> = {
  " ": "FIRE",
  ArrowLeft: "LEFT",
  ArrowRight: "RIGHT",
  ".": "NOOP",
};

/** Serves `game` on `port` (0: any free port); the caller shuts the server down. */
export function servePlay(
  game: NeuralGame,
  opts: {
    port: number;
    actionMeanings: readonly string[];
    onListen?: (port: number) => void;
    /** The native game beside the model (and its recordings). */
    human?: HumanSession;
  },
): Deno.HttpServer<Deno.NetAddr> {
  const human = opts.human;
  const keys = Object.fromEntries(
    Object.entries(PLAY_KEYS).map(([key, name]) => [key, opts.actionMeanings.indexOf(name)]),
  );
  const noop = Math.max(0, opts.actionMeanings.indexOf("NOOP"));
  const bytes = (frame: Uint8Array) =>
    new Response(frame.slice(), { headers: { "content-type": "application/octet-stream" } });
  return Deno.serve({
    port: opts.port,
    hostname: "127.0.0.1",
    onListen: ({ port }) => opts.onListen?.(port),
  }, async (req) => {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/") {
      return new Response(playPage(), { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (req.method === "GET" && url.pathname === "/info") {
      return Response.json({
        width: game.width,
        height: game.height,
        actions: opts.actionMeanings,
        keys,
        noop,
        native: human ? { width: 160, height: 210 } : null,
      });
    }
    if (req.method === "POST" && url.pathname === "/reset") return bytes(game.reset());
    if (req.method === "POST" && url.pathname === "/step") {
      const action = Number(url.searchParams.get("action") ?? noop);
      if (!(Number.isInteger(action) && action >= 0 && action < opts.actionMeanings.length)) {
        return new Response(`action must be an integer in [0, ${opts.actionMeanings.length})`, {
          status: 400,
        });
      }
      return bytes(game.step(action));
    }
    if (human && url.pathname.startsWith("/native/")) return await nativeRoute(human, req, url);
    return new Response("not found", { status: 404 });
  });
}

/** The native game's routes (the model's action ids, mapped to the game's by name). */
async function nativeRoute(human: HumanSession, req: Request, url: URL): Promise<Response> {
  const rgb = (screen: Uint8Array) =>
    new Response(screen.slice(), { headers: { "content-type": "application/octet-stream" } });
  const route = url.pathname.slice("/native/".length);
  if (req.method === "POST" && route === "reset") return rgb(human.reset());
  if (req.method === "POST" && route === "step") {
    const name = url.searchParams.get("action") ?? "NOOP";
    const action = human.actionMeanings.indexOf(name);
    if (action < 0) {
      return new Response(`action must be one of ${human.actionMeanings.join(", ")}`, {
        status: 400,
      });
    }
    return rgb(human.step(action));
  }
  if (req.method === "POST" && route === "record") return Response.json({ name: human.start() });
  if (req.method === "POST" && route === "stop") {
    const files = await human.stop();
    return Response.json({
      files: files ? [files.labels, files.archive].map((f) => f.split("/").pop()) : [],
    });
  }
  const file = /^trials\/([\w.-]+)$/.exec(route)?.[1];
  if (req.method === "GET" && file && !file.startsWith(".")) {
    try {
      return new Response(new Uint8Array(await readFile(join(human.dir, file))), {
        headers: {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename="${file}"`,
        },
      });
    } catch {
      return new Response(`no trial file ${file}`, { status: 404 });
    }
  }
  return new Response("not found", { status: 404 });
}

/** The page: a canvas, the keys, a frames-per-second counter. */
function playPage(): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Neural Breakout</title>
<style>body{font-family:sans-serif;background:#111;color:#ddd;text-align:center}
canvas{image-rendering:pixelated;border:1px solid #444;margin:12px}</style></head>
<body>
<h1>Neural Breakout</h1>
<p>Inside the world model: SPACE fire, LEFT / RIGHT arrows, PERIOD no-op, ESC or Q quit.</p>
<canvas id="screen"></canvas><canvas id="native" hidden></canvas>
<p id="recorder" hidden><button id="record">record the native game</button>
<button id="stop" disabled>stop and download the trial</button> <span id="trial"></span></p>
<p>action <span id="action">NOOP</span> · <span id="fps">0</span> frames/s · step <span id="steps">0</span></p>
<script>
const scale = 4;
let info, held = null, running = true, steps = 0, times = [];
const canvas = document.getElementById("screen");
const ctx = canvas.getContext("2d");
function draw(buffer) {
  const gray = new Uint8Array(buffer);
  const img = ctx.createImageData(info.width, info.height);
  for (let i = 0; i < gray.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = gray[i];
    img.data[4 * i + 3] = 255;
  }
  const off = new OffscreenCanvas(info.width, info.height);
  off.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
}
const native = document.getElementById("native");
function drawNative(buffer) {
  const rgb = new Uint8Array(buffer);
  const img = new ImageData(info.native.width, info.native.height);
  for (let i = 0; i < rgb.length / 3; i++) {
    img.data[4 * i] = rgb[3 * i];
    img.data[4 * i + 1] = rgb[3 * i + 1];
    img.data[4 * i + 2] = rgb[3 * i + 2];
    img.data[4 * i + 3] = 255;
  }
  const off = new OffscreenCanvas(info.native.width, info.native.height);
  off.getContext("2d").putImageData(img, 0, 0);
  const nctx = native.getContext("2d");
  nctx.imageSmoothingEnabled = false;
  nctx.drawImage(off, 0, 0, native.width, native.height);
}
async function loop() {
  if (!running) return;
  const t0 = performance.now();
  const action = held === null ? info.noop : held;
  document.getElementById("action").textContent = info.actions[action];
  const r = await fetch("/step?action=" + action, { method: "POST" });
  draw(await r.arrayBuffer());
  if (info.native) {
    const n = await fetch("/native/step?action=" + info.actions[action], { method: "POST" });
    drawNative(await n.arrayBuffer());
  }
  steps++;
  times.push(performance.now());
  times = times.filter((t) => t > performance.now() - 1000);
  document.getElementById("fps").textContent = String(times.length);
  document.getElementById("steps").textContent = String(steps);
  setTimeout(loop, Math.max(0, 66 - (performance.now() - t0)));
}
addEventListener("keydown", (e) => {
  if (e.key === "Escape" || e.key === "q" || e.key === "Q") {
    running = false;
    document.querySelector("h1").textContent = "Neural Breakout (quit)";
    return;
  }
  if (e.key in info.keys && info.keys[e.key] >= 0) {
    held = info.keys[e.key];
    e.preventDefault();
  }
});
addEventListener("keyup", (e) => {
  if (e.key in info.keys && info.keys[e.key] === held) held = null;
});
(async () => {
  info = await (await fetch("/info")).json();
  canvas.width = info.width * scale;
  canvas.height = info.height * scale;
  draw(await (await fetch("/reset", { method: "POST" })).arrayBuffer());
  if (info.native) {
    native.hidden = false;
    native.width = info.native.width * 2;
    native.height = info.native.height * 2;
    drawNative(await (await fetch("/native/reset", { method: "POST" })).arrayBuffer());
    document.getElementById("recorder").hidden = false;
  }
  loop();
})();
document.getElementById("record").addEventListener("click", async () => {
  const { name } = await (await fetch("/native/record", { method: "POST" })).json();
  document.getElementById("trial").textContent = "recording " + name;
  document.getElementById("record").disabled = true;
  document.getElementById("stop").disabled = false;
});
document.getElementById("stop").addEventListener("click", async () => {
  const { files } = await (await fetch("/native/stop", { method: "POST" })).json();
  document.getElementById("trial").textContent = files.length ? "saved " + files.join(", ") : "nothing recorded";
  document.getElementById("record").disabled = false;
  document.getElementById("stop").disabled = true;
  for (const f of files) {
    const a = document.createElement("a");
    a.href = "/native/trials/" + f;
    a.download = f;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
});
</script></body></html>
`;
}
