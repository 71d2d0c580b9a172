import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BREAKOUT_ACTIONS } from "../../envs/breakout.ts";
import { CLEANRL_ATARI } from "../../envs/make.ts";
import { makePolicy } from "../../envs/policies.ts";
import type { Rng } from "../../tensor/rng.ts";
import { openDataset } from "../reader.ts";
import { convertTrials } from "./convert.ts";
import { formatActionEnums, parseActionEnums, parseMetaData } from "./game_files.ts";
import { ALE_ACTIONS } from "./labels.ts";
import { recordTrials, statePolicy } from "./record.ts";
import { findTrials } from "./trial.ts";

Deno.test("action_enums.txt: ALE's enum in the spellings a file may use; another enum is an error naming the line", () => {
  assert.deepEqual(parseActionEnums(formatActionEnums(), "a.txt"), [...ALE_ACTIONS]);
  assert.deepEqual(
    parseActionEnums("Action enums\n0 NOOP\r\n1: FIRE\n\nRIGHT,3\nPLAYER_A_UP=2\n", "a.txt"),
    [
      "NOOP",
      "FIRE",
      "UP",
      "RIGHT",
    ],
  );
  assert.throws(
    () => parseActionEnums("PLAYER_A_NOOP = 0\nPLAYER_A_LEFT = 3\n", "g/action_enums.txt"),
    /g\/action_enums\.txt: line 2: id 3 is 'PLAYER_A_LEFT' here but RIGHT in ALE's enum/,
  );
  assert.throws(
    () => parseActionEnums("NOOP = 0\nNOOP = 0\n", "a.txt"),
    /line 2: id 0 is given twice/,
  );
  assert.throws(
    () => parseActionEnums("NOOP = 0 1\n", "a.txt"),
    /line 1: expected an action name and its id/,
  );
  assert.throws(() => parseActionEnums("\n", "a.txt"), /a\.txt: no actions in it/);
});

Deno.test("meta_data.csv: rows by trial number with numbers as numbers; malformed rows are errors naming the line", () => {
  const table = parseMetaData(
    'trial_id,subject_id,total_frame,note\n100,RZ,17000,"first, long"\n101,RZ,16000,\n',
    "m.csv",
  );
  assert.equal(table.framesColumn, "total_frame");
  assert.deepEqual(table.rows.get(100), {
    trial_id: 100,
    subject_id: "RZ",
    total_frame: 17000,
    note: "first, long",
  });
  assert.equal(table.rows.get(101)!.note, "");
  assert.equal(parseMetaData("TrialNumber,Score\n7,3\n", "m.csv").framesColumn, undefined);
  const bad: [string, RegExp][] = [
    [
      "game,frames\nbreakout,3\n",
      /m\.csv: line 1: no trial column \(expected one of TrialNumber, trial_id/,
    ],
    ["TrialNumber,NumberOfFrames\n1,2,3\n", /m\.csv: line 2: 3 fields, the header has 2/],
    ["TrialNumber,NumberOfFrames\nx,2\n", /line 2: TrialNumber: expected an integer, got 'x'/],
    ["TrialNumber,NumberOfFrames\n1,2\n1,3\n", /line 3: trial 1 has a row already/],
    [
      "TrialNumber,NumberOfFrames\n1,many\n",
      /line 2: NumberOfFrames: expected a frame count, got 'many'/,
    ],
  ];
  for (const [text, message] of bad) assert.throws(() => parseMetaData(text, "m.csv"), message);
});

const scripted = (rng: Rng, spec: Parameters<typeof makePolicy>[1]) =>
  statePolicy(makePolicy("scripted", spec, rng));

Deno.test("a game's files go with its trials: recorded beside them, their rows in the converted manifest; a frame count that disagrees is a note, an enum that disagrees an error with nothing written", async () => {
  const base = await Deno.makeTempDir();
  const game = join(base, "breakout");
  try {
    const recorded = await recordTrials(game, {
      env: { ...CLEANRL_ATARI, maxEpisodeSteps: 40 },
      seed: 3,
      trials: 2,
      episodes: 1,
      subject: "SC",
      gaze: "none",
    }, scripted);
    const trials = await findTrials(game);
    assert.deepEqual(trials[0].game, {
      actionEnums: join(game, "action_enums.txt"),
      metaData: join(game, "meta_data.csv"),
    });
    // The recorder's own list of trials carries them too (a study converts it directly).
    assert.deepEqual(recorded, trials);
    const convert = {
      env: "native:breakout",
      actionMeanings: BREAKOUT_ACTIONS,
      frame: { grayscale: true, resize: [84, 84] as [number, number] },
    };
    const out = join(base, "ds");
    const summary = await convertTrials(trials, out, convert);
    assert.deepEqual(summary.notes, []);
    const meta = (await openDataset(out)).manifest.meta as Record<string, unknown>;
    const rows = meta.trialMeta as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(rows), trials.map((t) => t.name));
    const first = rows[trials[0].name];
    assert.equal(first.TrialNumber, 1);
    assert.equal(first.Subject, "SC");
    assert.equal(first.NumberOfEpisodes, 1);
    const labels = readFileSync(trials[0].labels, "utf8").trim().split("\n").length - 1;
    assert.equal(first.NumberOfFrames, labels);

    // A trial's frame count that disagrees, and a trial without a row: notes, not errors.
    const csv = readFileSync(join(game, "meta_data.csv"), "utf8").trim().split("\n");
    writeFileSync(
      join(game, "meta_data.csv"),
      [csv[0], csv[1].replace(/^(1,SC,)\d+/, "$199999")].join("\n") + "\n",
    );
    const noted = await convertTrials(await findTrials(game), join(base, "ds2"), convert);
    assert.match(noted.notes[0], /trial 2_SC_\S+: no row in .*meta_data\.csv/);
    assert.match(
      noted.notes[1],
      /trial 1_SC_\S+: .*meta_data\.csv gives NumberOfFrames 99999, its labels have \d+ frames/,
    );

    // An enum that maps the labels' ids to other actions stops the conversion before it writes.
    writeFileSync(join(game, "action_enums.txt"), "PLAYER_A_NOOP = 0\nPLAYER_A_LEFT = 3\n");
    await assert.rejects(
      async () => await convertTrials(await findTrials(game), join(base, "ds3"), convert),
      /action_enums\.txt: line 2: id 3 is 'PLAYER_A_LEFT' here but RIGHT/,
    );
    assert.ok(!existsSync(join(base, "ds3")));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
