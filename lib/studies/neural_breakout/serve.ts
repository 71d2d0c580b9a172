/**
 * Neural Breakout in a browser: a page on localhost where a person plays inside the world model
 * with the seed's keys (SPACE fire, LEFT/RIGHT arrows, PERIOD no-op, ESC or Q quit). The page
 * asks for a step about 15 times a second with the key held; the server steps the
 * {@linkcode NeuralGame} and answers with the frame's gray bytes, which the page draws scaled.
 *
 * Routes: `GET /` the page, `GET /info` (frame size, actions), `POST /reset`, `POST /step?action=N`
 * (the frame, `height x width` bytes).
 *
 * @module
 */

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
  opts: { port: number; actionMeanings: readonly string[]; onListen?: (port: number) => void },
): Deno.HttpServer<Deno.NetAddr> {
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
  }, (req) => {
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
    return new Response("not found", { status: 404 });
  });
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
<canvas id="screen"></canvas>
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
async function loop() {
  if (!running) return;
  const t0 = performance.now();
  const action = held === null ? info.noop : held;
  document.getElementById("action").textContent = info.actions[action];
  const r = await fetch("/step?action=" + action, { method: "POST" });
  draw(await r.arrayBuffer());
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
  loop();
})();
</script></body></html>
`;
}
