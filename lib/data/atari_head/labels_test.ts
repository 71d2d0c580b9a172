import assert from "node:assert/strict";
import { BREAKOUT_ACTIONS } from "../../envs/breakout.ts";
import { PONG_ACTIONS } from "../../envs/pong.ts";
import {
  ALE_ACTIONS,
  aleActionId,
  formatLabels,
  LABEL_HEADER,
  type LabelRow,
  minimalAction,
  parseLabels,
} from "./labels.ts";

const TEXT = [
  LABEL_HEADER,
  "RZ_3592991_1,null,null,null,null,null,null",
  "RZ_3592991_2,0,0,493,0,1,80.5,101.25,81,102",
  "RZ_3592991_3,0,4,120,4,11,null",
  "",
].join("\n");

Deno.test("label rows parse with their nulls and gaze pairs, and format back to the same text", () => {
  const rows = parseLabels(TEXT, "100_RZ_3592991_Aug-24-11-44-38");
  assert.deepEqual(rows[0], {
    frameId: "RZ_3592991_1",
    episodeId: null,
    score: null,
    durationMs: null,
    unclippedReward: null,
    action: null,
    gaze: null,
  });
  assert.deepEqual(rows[1].gaze, [80.5, 101.25, 81, 102]);
  assert.equal(rows[2].action, 11);
  assert.equal(formatLabels(rows), TEXT);
  // Windows line ends read the same.
  assert.deepEqual(parseLabels(TEXT.replaceAll("\n", "\r\n"), "t"), rows);
});

Deno.test("a malformed label file is an error naming the trial, the line and the field", () => {
  const bad = (line: string) => TEXT.replace("RZ_3592991_3,0,4,120,4,11,null", line);
  assert.throws(
    () => parseLabels(TEXT.replace("duration(ms)", "duration"), "T1"),
    /T1: line 1: expected the header 'frame_id,episode_id,score,duration\(ms\)/,
  );
  assert.throws(
    () => parseLabels(bad("RZ_3592991_3,0,four,120,4,11,null"), "T1"),
    /T1: line 4: field 'score' must be a number or null, got 'four'/,
  );
  assert.throws(
    () => parseLabels(bad("RZ_3592991_3,0,4,120,4,18,null"), "T1"),
    /T1: line 4: field 'action': unknown ALE action id 18 \(expected 0-17\)/,
  );
  assert.throws(
    () => parseLabels(bad("RZ_3592991_3,0.5,4,120,4,1,null"), "T1"),
    /line 4: field 'episode_id' must be an integer or null, got '0.5'/,
  );
  assert.throws(
    () => parseLabels(bad("RZ_3592991_3,0,4,120,4,1,10,20,30"), "T1"),
    /line 4: field 'gaze_positions' must hold x,y pairs, got 3 values/,
  );
  assert.throws(
    () => parseLabels(bad("RZ_3592991_3,0,4,120,4,1"), "T1"),
    /line 4: expected at least 7 comma-separated fields, got 6/,
  );
  assert.throws(
    () => parseLabels(bad("../../etc/passwd,0,4,120,4,1,null"), "T1"),
    /line 4: field 'frame_id' must be a file name stem/,
  );
});

Deno.test("ALE's 18 actions map onto a game's minimal set by what they do", () => {
  const breakout = (name: string) =>
    BREAKOUT_ACTIONS[minimalAction(ALE_ACTIONS.indexOf(name as never), BREAKOUT_ACTIONS)];
  // Breakout has no vertical moves; a move with FIRE keeps the move.
  assert.equal(breakout("UPRIGHT"), "RIGHT");
  assert.equal(breakout("DOWNLEFTFIRE"), "LEFT");
  assert.equal(breakout("UPFIRE"), "FIRE");
  assert.equal(breakout("DOWN"), "NOOP");
  assert.equal(breakout("RIGHTFIRE"), "RIGHT");
  const pong = (name: string) =>
    PONG_ACTIONS[minimalAction(ALE_ACTIONS.indexOf(name as never), PONG_ACTIONS)];
  assert.equal(pong("RIGHTFIRE"), "RIGHTFIRE");
  assert.equal(pong("UPLEFTFIRE"), "LEFTFIRE");
  // Every minimal action maps back to itself through its ALE id.
  for (const actions of [BREAKOUT_ACTIONS, PONG_ACTIONS]) {
    actions.forEach((_, i) => assert.equal(minimalAction(aleActionId(i, actions), actions), i));
  }
  assert.equal(minimalAction(3, ["NOOP", "FIRE"]), 0, "a move the game lacks is no move");
  assert.throws(() => minimalAction(18, BREAKOUT_ACTIONS), /unknown ALE action id 18/);
});

Deno.test("formatLabels writes null for missing values and for an empty gaze list", () => {
  const row: LabelRow = {
    frameId: "AB_1_7",
    episodeId: 2,
    score: 12,
    durationMs: null,
    unclippedReward: 1,
    action: 3,
    gaze: [],
  };
  assert.equal(formatLabels([row]).split("\n")[1], "AB_1_7,2,12,null,1,3,null");
});
