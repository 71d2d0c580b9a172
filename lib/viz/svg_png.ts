/**
 * SVG to PNG with resvg (WebAssembly), for reports and for figures viewed outside a browser.
 * resvg-wasm draws no text unless given fonts: it gets DejaVu Sans (Debian `fonts-dejavu-core`),
 * and rendering throws, naming the package, where the font is missing, rather than producing
 * figures without labels.
 *
 * @module
 */

import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** Where Debian's fonts-dejavu-core puts the fonts. */
export const FONT_FILES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
];

let ready: Promise<Uint8Array[]> | null = null;

function init(): Promise<Uint8Array[]> {
  ready ??= (async () => {
    const missing = FONT_FILES.filter((f) => !existsSync(f));
    if (missing.length) {
      throw new Error(
        `svgToPng: font ${missing[0]} not found; install it (Debian: apt-get install ` +
          `fonts-dejavu-core) so that figure text renders`,
      );
    }
    const require = createRequire(import.meta.url);
    await initWasm(readFileSync(require.resolve("@resvg/resvg-wasm/index_bg.wasm")));
    return FONT_FILES.map((f) => readFileSync(f));
  })();
  return ready;
}

/** Renders SVG text to PNG bytes at `scale` times its size (default 2, for sharp text). */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const fontBuffers = await init();
  const resvg = new Resvg(svg, {
    font: { fontBuffers, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    fitTo: { mode: "zoom", value: scale },
    background: "white",
  });
  const png = resvg.render().asPng();
  resvg.free();
  return png;
}
