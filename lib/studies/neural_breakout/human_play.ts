/**
 * The native game beside the model on the play page, and a person's play of it recorded as an
 * Atari-HEAD trial (the frame-to-action study's format), so a researcher can make their own
 * human dataset: each decision's 210x160 RGB screen with the ALE action id pressed, the score
 * shown, the unclipped reward, and the time the person took (Atari-HEAD's `duration(ms)`); no
 * gaze (`null`). A recording starts and stops on request; the trial's two files are written
 * atomically into a folder and served for download.
 *
 * @module
 */

import { mkdir } from "node:fs/promises";
import {
  aleActionId,
  recordingEnvConfig,
  type TrialFiles,
  TrialWriter,
} from "../../data/atari_head/mod.ts";
import { CLEANRL_ATARI, makeEnv } from "../../envs/make.ts";
import type { Env } from "../../envs/types.ts";

/** The native game a person plays, with an optional recording. */
export class HumanSession {
  readonly env: Env;
  #obs: Uint8Array;
  #score = 0;
  #episode = 0;
  #writer: TrialWriter | null = null;
  #trials = 0;
  #last = 0;

  /** `envId`: a native game; `dir`: where recorded trials go. */
  constructor(envId: string, readonly dir: string, readonly seed = 0) {
    this.env = makeEnv(recordingEnvConfig({ ...CLEANRL_ATARI, id: envId }), seed);
    this.#obs = this.env.reset(seed).obs.slice();
  }

  get actionMeanings(): readonly string[] {
    return this.env.spec.actionMeanings;
  }

  get recording(): boolean {
    return this.#writer !== null;
  }

  /** The screen (210x160 RGB). */
  screen(): Uint8Array {
    return this.#obs;
  }

  /** A new game; its first screen. */
  reset(): Uint8Array {
    this.#obs = this.env.reset(this.seed + ++this.#episode).obs.slice();
    this.#score = 0;
    return this.#obs;
  }

  /** Presses `action` (the game's id) on the current screen; recorded if a recording runs. */
  step(action: number): Uint8Array {
    const now = performance.now();
    const r = this.env.step(action);
    this.#writer?.add(this.#obs, {
      episodeId: this.#episode,
      score: this.#score,
      durationMs: this.#last ? Math.round(now - this.#last) : null,
      unclippedReward: r.reward,
      action: aleActionId(action, this.actionMeanings),
      gaze: null,
    });
    this.#last = now;
    this.#score += r.reward;
    this.#obs = r.obs.slice();
    if (r.terminated || r.truncated) this.reset();
    return this.#obs;
  }

  /** Starts a recording (a trial named `<n>_HUM_<session>_<date>`); its name. */
  start(): string {
    this.#trials++;
    const date = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    const name = `${this.#trials}_HUM_${100000 + this.#trials}_${date}`;
    this.#writer = new TrialWriter(this.dir, name);
    this.#last = 0;
    return name;
  }

  /** Ends the recording: writes the trial's files (null when nothing was recorded). */
  async stop(): Promise<TrialFiles | null> {
    const writer = this.#writer;
    this.#writer = null;
    if (!writer || writer.frames === 0) return null;
    await mkdir(this.dir, { recursive: true });
    return await writer.finish();
  }

  close(): void {
    this.env.close();
  }
}
