/**
 * The label files of Atari-HEAD (Zhang et al. 2020): one `<trial>.txt` per trial beside its
 * `<trial>.tar.bz2` of frames, a CSV-like table with the header
 *
 *   frame_id,episode_id,score,duration(ms),unclipped_reward,action,gaze_positions
 *
 * one row per frame; `gaze_positions` trails the row as a flat list `x0,y0,x1,y1,...` (screen
 * pixels of the 160x210 frame) or the word `null`, and any other field may be `null` too (a frame
 * without an action, before an episode starts). Actions are ALE's 18-action enum (ids 0-17);
 * {@linkcode minimalAction} maps them to a game's minimal action set.
 *
 * Parsing is strict: anything that is neither a number nor `null` where a number belongs, a
 * header that differs, an action id outside 0-17, or an odd gaze list is an error naming the
 * trial, the line and the field.
 *
 * @module
 */

/** The header line of every label file. */
export const LABEL_HEADER =
  "frame_id,episode_id,score,duration(ms),unclipped_reward,action,gaze_positions";

/** ALE's full action enum (`action_enums.txt`), index = action id. */
export const ALE_ACTIONS = [
  "NOOP",
  "FIRE",
  "UP",
  "RIGHT",
  "LEFT",
  "DOWN",
  "UPRIGHT",
  "UPLEFT",
  "DOWNRIGHT",
  "DOWNLEFT",
  "UPFIRE",
  "RIGHTFIRE",
  "LEFTFIRE",
  "DOWNFIRE",
  "UPRIGHTFIRE",
  "UPLEFTFIRE",
  "DOWNRIGHTFIRE",
  "DOWNLEFTFIRE",
] as const;

/** One row of a label file; `null` where the file says `null`. */
export interface LabelRow {
  frameId: string;
  episodeId: number | null;
  score: number | null;
  durationMs: number | null;
  unclippedReward: number | null;
  /** ALE action id (0-17). */
  action: number | null;
  /** Gaze samples on this frame as `[x0, y0, x1, y1, ...]` (screen pixels), or null. */
  gaze: number[] | null;
}

/** Parses a label file's text; `trial` names it in errors. */
export function parseLabels(text: string, trial: string): LabelRow[] {
  const lines = text.split(/\r?\n/);
  if (lines[0].trim() !== LABEL_HEADER) {
    throw new Error(
      `${trial}: line 1: expected the header '${LABEL_HEADER}', got '${lines[0].slice(0, 120)}'`,
    );
  }
  const rows: LabelRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    rows.push(parseRow(line, `${trial}: line ${i + 1}`));
  }
  return rows;
}

function parseRow(line: string, where: string): LabelRow {
  const f = line.split(",");
  if (f.length < 7) {
    throw new Error(`${where}: expected at least 7 comma-separated fields, got ${f.length}`);
  }
  const num = (i: number, name: string, integer: boolean): number | null => {
    const t = f[i].trim();
    if (t === "null") return null;
    const v = Number(t);
    if (t === "" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new Error(
        `${where}: field '${name}' must be ${
          integer ? "an integer" : "a number"
        } or null, got '${t}'`,
      );
    }
    return v;
  };
  const frameId = f[0].trim();
  if (!/^[\w.-]+$/.test(frameId)) {
    throw new Error(`${where}: field 'frame_id' must be a file name stem, got '${frameId}'`);
  }
  const action = num(5, "action", true);
  if (action !== null && (action < 0 || action >= ALE_ACTIONS.length)) {
    throw new Error(`${where}: field 'action': unknown ALE action id ${action} (expected 0-17)`);
  }
  const gazeFields = f.slice(6);
  let gaze: number[] | null = null;
  if (!(gazeFields.length === 1 && gazeFields[0].trim() === "null")) {
    gaze = gazeFields.map((t, k) => {
      const v = Number(t.trim());
      if (t.trim() === "" || !Number.isFinite(v)) {
        throw new Error(`${where}: field 'gaze_positions' value ${k + 1} is not a number: '${t}'`);
      }
      return v;
    });
    if (gaze.length % 2 !== 0) {
      throw new Error(
        `${where}: field 'gaze_positions' must hold x,y pairs, got ${gaze.length} values`,
      );
    }
  }
  return {
    frameId,
    episodeId: num(1, "episode_id", true),
    score: num(2, "score", false),
    durationMs: num(3, "duration(ms)", false),
    unclippedReward: num(4, "unclipped_reward", false),
    action,
    gaze,
  };
}

/** A label file's text for these rows (the inverse of {@linkcode parseLabels}). */
export function formatLabels(rows: readonly LabelRow[]): string {
  const v = (x: number | null) => (x === null ? "null" : String(x));
  return [
    LABEL_HEADER,
    ...rows.map((r) =>
      [
        r.frameId,
        v(r.episodeId),
        v(r.score),
        v(r.durationMs),
        v(r.unclippedReward),
        v(r.action),
        r.gaze && r.gaze.length ? r.gaze.join(",") : "null",
      ].join(",")
    ),
  ].join("\n") + "\n";
}

/** What an ALE action does: horizontal move, vertical move, fire. */
function parts(name: string): { h: string; v: string; fire: boolean } {
  return {
    h: name.includes("RIGHT") ? "RIGHT" : name.includes("LEFT") ? "LEFT" : "",
    v: name.includes("UP") ? "UP" : name.includes("DOWN") ? "DOWN" : "",
    fire: name.includes("FIRE"),
  };
}

/**
 * The index in a game's minimal action set (`actionMeanings`, e.g. Breakout's NOOP, FIRE, RIGHT,
 * LEFT) of ALE action `id`: the minimal action with the same effect once the parts the game
 * ignores are dropped (Breakout has no UP or DOWN, so UPRIGHT is RIGHT). Where no minimal action
 * does both a move and FIRE (RIGHTFIRE in Breakout), the move wins: it is what changes the
 * frame. Returns -1 when nothing matches.
 */
export function minimalAction(id: number, actionMeanings: readonly string[]): number {
  const name = ALE_ACTIONS[id];
  if (name === undefined) throw new Error(`unknown ALE action id ${id} (expected 0-17)`);
  const minimal = actionMeanings.map(parts);
  const uses = {
    h: minimal.some((p) => p.h),
    v: minimal.some((p) => p.v),
    fire: minimal.some((p) => p.fire),
  };
  const want = parts(name);
  const kept = { h: uses.h ? want.h : "", v: uses.v ? want.v : "", fire: uses.fire && want.fire };
  const same = (p: ReturnType<typeof parts>, w: typeof kept) =>
    p.h === w.h && p.v === w.v && p.fire === w.fire;
  for (const w of [kept, { ...kept, fire: false }, { ...kept, h: "", v: "" }]) {
    const i = minimal.findIndex((p) => same(p, w));
    if (i >= 0) return i;
  }
  return -1;
}

/** The ALE action id of a minimal action (`actionMeanings[index]`). */
export function aleActionId(index: number, actionMeanings: readonly string[]): number {
  const id = (ALE_ACTIONS as readonly string[]).indexOf(actionMeanings[index]);
  if (id < 0) {
    throw new Error(`action ${index} ('${actionMeanings[index]}') is not in ALE's action enum`);
  }
  return id;
}
