import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BREAKOUT_ACTIONS } from "../../envs/breakout.ts";
import { CLEANRL_ATARI, makeEnv } from "../../envs/make.ts";
import { makePolicy } from "../../envs/policies.ts";
import { ScreenObserver } from "../../envs/screen.ts";
import { Rng } from "../../tensor/rng.ts";
import { openDataset } from "../reader.ts";
import { crc32 } from "../../viz/png.ts";
import { convertTrials } from "./convert.ts";
import { parseLabels } from "./labels.ts";
import {
  type RecordConfig,
  recordedTrialName,
  recordingEnvConfig,
  recordTrials,
  statePolicy,
} from "./record.ts";
import { readTar, tarEnd, tarEntry } from "./tar.ts";
import { bzip2Read, bzip2Write } from "./bzip2.ts";
import { findTrials, readTrial, trialFiles } from "./trial.ts";

/** Short Breakout games: 2 trials of 2 games, 60 decisions at most each. */
const CFG: RecordConfig = {
  env: { ...CLEANRL_ATARI, maxEpisodeSteps: 60 },
  seed: 5,
  trials: 2,
  episodes: 2,
  subject: "SC",
  gaze: "ball",
};
const scripted = (rng: Rng, spec: Parameters<typeof makePolicy>[1]) =>
  statePolicy(makePolicy("scripted", spec, rng));

const CONVERT = {
  env: "native:breakout",
  actionMeanings: BREAKOUT_ACTIONS,
  frame: { grayscale: true, resize: [84, 84] as [number, number] },
};

async function recorded(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await recordTrials(join(dir, "breakout"), CFG, scripted);
  return join(dir, "breakout");
}

Deno.test("recorded trials have Atari-HEAD's layout and convert into a dataset of the same play", async () => {
  const game = await recorded();
  const names = readdirSync(game).sort();
  assert.deepEqual(
    names,
    [
      ...[1, 2].flatMap((n) => {
        const t = recordedTrialName(CFG, n);
        return [`${t}.tar.bz2`, `${t}.txt`];
      }),
      "action_enums.txt",
      "meta_data.csv",
    ].sort(),
  );
  const trials = await findTrials(game);
  const first = await readTrial(trials[0]);
  assert.match(first.rows[0].frameId, /^SC_\d+_1$/);
  // Two games, each closed by a frame without a decision (the screen after the game's end).
  assert.deepEqual(first.rows.filter((r) => r.action === null).length, 2);
  assert.ok(first.rows.some((r) => r.gaze !== null), "gaze stand-in on the ball");

  // The same play again, straight from the env, to compare with the conversion.
  const rng = new Rng(CFG.seed).fork("trial/1");
  const env = makeEnv(recordingEnvConfig(CFG.env), rng.fork("env").uint32());
  const policy = scripted(rng.fork("policy"), env.spec);
  const observer = new ScreenObserver(210, 160, CONVERT.frame);
  const expected: { obs: Uint8Array; action: number; reward: number }[] = [];
  let { obs, info } = env.reset(rng.fork("episode/0").uint32());
  for (;;) {
    const action = policy.act(obs, info);
    const r = env.step(action);
    expected.push({ obs: observer.observe(obs).slice(), action, reward: r.reward });
    obs = r.obs;
    info = r.info;
    if (r.terminated || r.truncated) break;
  }
  expected.push({ obs: observer.observe(obs).slice(), action: -1, reward: 0 });
  env.close();

  const out = join(game, "..", "dataset");
  const summary = await convertTrials(trials, out, CONVERT);
  assert.deepEqual(summary, {
    trials: 2,
    episodes: 4,
    frames: summary.frames,
    skipped: 0,
    notes: [],
  });
  const ds = await openDataset(out);
  assert.deepEqual(ds.frameShape, [84, 84, 1]);
  assert.equal(ds.episodes().length, 4);
  const span = ds.episodes()[0];
  assert.equal(span.length, expected.length);
  const actions = ds.column("action");
  const rewards = ds.column("reward");
  for (let k = 0; k < span.length; k++) {
    assert.deepEqual(ds.frame(span.start + k), expected[k].obs, `frame ${k}`);
    assert.equal(actions[span.start + k], expected[k].action);
    assert.equal(rewards[span.start + k], expected[k].reward);
  }
  // The transition into the final observation ends the game; the trial's last game is cut.
  const terminated = ds.column("terminated"), truncated = ds.column("truncated");
  assert.equal(terminated[span.start + span.length - 2], 1);
  const lastSpan = ds.episodes()[3];
  assert.equal(truncated[lastSpan.start + lastSpan.length - 2], 1);
  const trialCol = ds.state("trial");
  assert.deepEqual([...new Set(trialCol)], [1, 2]);
  const gx = ds.state("gazeX"), count = ds.state("gazeCount");
  assert.ok(gx.some((x) => Number.isFinite(x)) && count.every((n) => n === 0 || n === 1));
});

Deno.test("a killed recording resumes with the next trial; finished ones are kept as they are", async () => {
  const game = await recorded();
  const t1 = trialFiles(join(game, `${recordedTrialName(CFG, 1)}.txt`));
  const before = statSync(t1.archive).mtimeMs;
  // Trial 2 was lost: its files are gone.
  const t2 = trialFiles(join(game, `${recordedTrialName(CFG, 2)}.txt`));
  const t2Labels = readFileSync(t2.labels, "utf8");
  await Deno.remove(t2.labels);
  await Deno.remove(t2.archive);
  await recordTrials(game, CFG, scripted);
  assert.equal(statSync(t1.archive).mtimeMs, before, "trial 1 kept");
  assert.equal(readFileSync(t2.labels, "utf8"), t2Labels, "trial 2 recorded again, the same");
});

Deno.test("malformed trials are errors naming the trial, line or frame; nothing is written", async () => {
  const game = await recorded();
  const [t1] = await findTrials(game);
  const out = join(game, "..", "dataset");
  const convert = async () => convertTrials(await findTrials(game), out, CONVERT);

  // A labelled frame missing from the archive.
  const bz = bzip2Read(t1.archive);
  const kept = [];
  for await (const e of readTar(bz.stream)) kept.push(e);
  await bz.done();
  const missing = kept.splice(3, 1)[0];
  const original = readFileSync(t1.archive);
  await bzip2Write(t1.archive, [...kept.flatMap((e) => tarEntry(e.name, e.data)), tarEnd()]);
  const frameId = missing.name.replace(/^.*\//, "").replace(/\.png$/, "");
  await assert.rejects(
    convert,
    new RegExp(`trial ${t1.name}: line 5: frame '${frameId}' is not in ${t1.name}\\.tar\\.bz2`),
  );
  assert.ok(!existsSync(out), "no dataset");

  // A truncated archive.
  writeFileSync(t1.archive, original.subarray(0, Math.floor(original.length / 2)));
  await assert.rejects(convert, new RegExp(`trial ${t1.name}: .*damaged or truncated bzip2`));
  writeFileSync(t1.archive, original);

  // Labels: a header that differs, an unknown action, a field that is not a number.
  const labels = readFileSync(t1.labels, "utf8");
  const lines = labels.split("\n");
  const edit = async (i: number, line: string, pattern: RegExp) => {
    const changed = [...lines];
    changed[i] = line;
    writeFileSync(t1.labels, changed.join("\n"));
    await assert.rejects(convert, pattern);
    assert.ok(
      !existsSync(out) && readdirSync(join(game, "..")).every((f) => !f.includes("partial")),
    );
  };
  await edit(0, "frame,episode", /line 1: expected the header/);
  const f = lines[3].split(",");
  await edit(
    3,
    [...f.slice(0, 5), "21", ...f.slice(6)].join(","),
    /line 4: field 'action': unknown ALE action id 21/,
  );
  await edit(
    3,
    [f[0], "zero", ...f.slice(2)].join(","),
    /line 4: field 'episode_id' must be an integer or null, got 'zero'/,
  );
  writeFileSync(t1.labels, labels);
  assert.equal(
    parseLabels(labels, "t").length,
    lines.filter((l) => l && !l.startsWith("frame_id")).length,
  );

  // A trial with one of its files gone, and a folder without trials.
  await Deno.remove(t1.archive);
  await assert.rejects(
    () => findTrials(game),
    new RegExp(`trial ${t1.name}: .*\\.tar\\.bz2 is missing`),
  );
  const empty = await Deno.makeTempDir();
  await assert.rejects(() => findTrials(empty), /no Atari-HEAD trials/);
});

Deno.test("the screen observer converts a recorded screen as the env converts its own", () => {
  // Without max-pooling (which pools RGB in one case and gray in the other) the two agree.
  const base = { ...CLEANRL_ATARI, maxPool: false, frameStack: 1, episodicLife: false };
  const rgbEnv = makeEnv({ ...base, grayscale: false, resize: null }, 3);
  const grayEnv = makeEnv(base, 3);
  const observer = new ScreenObserver(210, 160, base);
  let a = rgbEnv.reset(7).obs, b = grayEnv.reset(7).obs;
  for (let t = 0; t < 40; t++) {
    assert.deepEqual(observer.observe(a), b, `step ${t}`);
    const action = t % 4;
    a = rgbEnv.step(action).obs;
    b = grayEnv.step(action).obs;
  }
  assert.throws(() => observer.observe(new Uint8Array(10)), /expected a 160x210 RGB screen/);
});

Deno.test("a game's zip is read in place, stored and deflated entries, as its folder is", async () => {
  const game = await recorded();
  const zip = join(game, "..", "breakout.zip");
  // Python's zipfile writes what Atari-HEAD's zips hold: trials in a game folder; the archives
  // stored, the labels deflated.
  const script = `
import zipfile, os, sys
game, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as z:
    for i, f in enumerate(sorted(os.listdir(game))):
        method = zipfile.ZIP_DEFLATED if f.endswith(".txt") else zipfile.ZIP_STORED
        info = zipfile.ZipInfo("breakout/" + f)
        info.compress_type = method
        with open(os.path.join(game, f), "rb") as src, z.open(info, "w", force_zip64=(i == 0)) as dst:
            dst.write(src.read())
`;
  const py = await new Deno.Command("python3", { args: ["-c", script, game, zip] }).output();
  assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
  const fromZip = await findTrials(zip);
  assert.deepEqual(fromZip.map((t) => t.name), (await findTrials(game)).map((t) => t.name));
  assert.equal(fromZip[0].zip, zip);
  assert.deepEqual(fromZip[0].game, {
    zip,
    actionEnums: "breakout/action_enums.txt",
    metaData: "breakout/meta_data.csv",
  });
  const a = join(game, "..", "from-folder"), b = join(game, "..", "from-zip");
  await convertTrials(await findTrials(game), a, CONVERT);
  await convertTrials(fromZip, b, CONVERT);
  const [da, db] = [await openDataset(a), await openDataset(b)];
  assert.equal(db.numFrames, da.numFrames);
  assert.deepEqual(db.column("action"), da.column("action"));
  assert.deepEqual(db.frame(db.numFrames - 1), da.frame(da.numFrames - 1));
  assert.deepEqual(db.manifest.meta.trialMeta, da.manifest.meta.trialMeta);
  assert.ok(da.manifest.meta.trialMeta, "the game's metadata rows, from the folder and the zip");
  // A zip that is not one is an error naming it.
  writeFileSync(join(game, "..", "bad.zip"), "not a zip");
  await assert.rejects(() => findTrials(join(game, "..", "bad.zip")), /bad\.zip: not a zip/);
});

/** A zip of stored entries whose every size and offset sits in ZIP64 records (as past 4 GiB). */
function zip64(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const le = (bytes: number, values: [number, number | bigint][]) => {
    const b = new Uint8Array(bytes);
    const v = new DataView(b.buffer);
    for (const [at, x] of values) {
      if (typeof x === "bigint") v.setBigUint64(at, x, true);
      else if (at === 0 || x > 0xffff) v.setUint32(at, x, true);
      else v.setUint16(at, x, true);
    }
    return b;
  };
  for (const f of files) {
    const name = enc.encode(f.name);
    const local = le(30, [[0, 0x04034b50], [4, 45], [18, 0xffffffff], [22, 0xffffffff], [
      26,
      name.length,
    ], [28, 20]]);
    const extra = le(20, [[0, 1], [2, 16], [4, BigInt(f.data.length)], [
      12,
      BigInt(f.data.length),
    ]]);
    const crc = crc32(f.data);
    new DataView(local.buffer).setUint32(14, crc, true);
    parts.push(local, name, extra, f.data);
    const cExtra = le(28, [
      [0, 1],
      [2, 24],
      [4, BigInt(f.data.length)],
      [12, BigInt(f.data.length)],
      [20, BigInt(offset)],
    ]);
    const c = new Uint8Array(46);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 45, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, 0xffffffff, true);
    cv.setUint32(24, 0xffffffff, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, cExtra.length, true);
    cv.setUint32(42, 0xffffffff, true);
    central.push(c, name, cExtra);
    offset += local.length + name.length + extra.length + f.data.length;
  }
  const dirSize = central.reduce((a, b) => a + b.length, 0);
  const eocd64 = new Uint8Array(56);
  const e = new DataView(eocd64.buffer);
  e.setUint32(0, 0x06064b50, true);
  e.setBigUint64(4, 44n, true);
  e.setBigUint64(24, BigInt(files.length), true);
  e.setBigUint64(32, BigInt(files.length), true);
  e.setBigUint64(40, BigInt(dirSize), true);
  e.setBigUint64(48, BigInt(offset), true);
  const locator = new Uint8Array(20);
  const l = new DataView(locator.buffer);
  l.setUint32(0, 0x07064b50, true);
  l.setBigUint64(8, BigInt(offset + dirSize), true);
  l.setUint32(16, 1, true);
  const eocd = new Uint8Array(22);
  const d = new DataView(eocd.buffer);
  d.setUint32(0, 0x06054b50, true);
  d.setUint16(8, 0xffff, true);
  d.setUint16(10, 0xffff, true);
  d.setUint32(12, 0xffffffff, true);
  d.setUint32(16, 0xffffffff, true);
  const all = [...parts, ...central, eocd64, locator, eocd];
  const out = new Uint8Array(all.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const p of all) (out.set(p, at), at += p.length);
  return out;
}

Deno.test("a zip whose sizes and offsets are in ZIP64 records reads as any other", async () => {
  const game = await recorded();
  const files = readdirSync(game).sort().map((f) => ({
    name: `breakout/${f}`,
    data: readFileSync(join(game, f)),
  }));
  const zip = join(game, "..", "breakout64.zip");
  writeFileSync(zip, zip64(files));
  // unzip agrees that it is a valid zip.
  const test = await new Deno.Command("unzip", { args: ["-tq", zip] }).output();
  assert.equal(
    test.code,
    0,
    new TextDecoder().decode(test.stdout) + new TextDecoder().decode(test.stderr),
  );
  const trials = await findTrials(zip);
  assert.equal(trials.length, 2);
  const t = await readTrial(trials[1]);
  const direct = await readTrial((await findTrials(game))[1]);
  assert.deepEqual(t.rows, direct.rows);
  assert.deepEqual(t.pngs.at(-1), direct.pngs.at(-1));
});
