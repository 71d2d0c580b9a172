/**
 * One ALE helper process (`ale_helper.py`) and the pipe protocol to it, with blocking calls so
 * that `Env.step` stays synchronous: requests and replies go through two named pipes (FIFOs)
 * that the main thread reads and writes with `readSync` / `writeSync`, a few microseconds per
 * round trip plus the frame bytes. A supervisor thread (`ale_supervisor.ts`) spawns the helper
 * and watches it, so that a helper that crashes, is killed or stops answering surfaces as an
 * {@linkcode AleHelperError} naming the cause (exit code or signal, stderr tail, or the
 * timeout), never as a hang.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

/** How to install what real Atari envs need; every error about a missing ale-py says it. */
export const ALE_INSTALL_HINT = "pip install ale-py==0.12.1";

/** The interpreter that runs the helper: `$JEPA_PYTHON`, else `python3`. */
export function alePython(): string {
  return Deno.env.get("JEPA_PYTHON") || "python3";
}

/** Path of the Python helper shipped with the project. */
export const ALE_HELPER_SCRIPT = fileURLToPath(new URL("./ale_helper.py", import.meta.url));

// ---- The control block shared with the supervisor thread (Int32 indices, byte offsets) ----

/** Int32 slot: STATE_* below. */
export const CTL_STATE = 0;
/** Int32 slot: the helper's pid once running. */
export const CTL_PID = 1;
/** Int32 slot: set by the main thread when it no longer needs the supervisor's help. */
export const CTL_ACK = 2;
/** Int32 slot: set by the supervisor when it killed the helper for missing a deadline. */
export const CTL_TIMED_OUT = 3;
/** Int32 slot: bytes of the JSON {@linkcode HelperReport} at {@linkcode REPORT_OFFSET}. */
export const CTL_REPORT_LEN = 4;
/** Byte offset of a Float64: time (ms since the epoch) by which a reply is due; 0 when idle. */
const DEADLINE_OFFSET = 32;
/** Byte offset of the report. */
export const REPORT_OFFSET = 64;
const CONTROL_BYTES = REPORT_OFFSET + 8192;

export const STATE_STARTING = 0;
export const STATE_RUNNING = 1;
export const STATE_EXITED = 2;
export const STATE_SPAWN_FAILED = 3;

/** What the main thread asks the supervisor to run. */
export interface SupervisorRequest {
  command: string;
  args: string[];
  replyPath: string;
  control: SharedArrayBuffer;
}

/** How a helper ended, as the supervisor saw it. */
export interface HelperReport {
  code?: number;
  signal?: string | null;
  /** Why it could not be started. */
  error?: string;
  /** The last few thousand characters it wrote to stderr. */
  stderr: string;
}

let supervisor: Worker | null = null;
let nextHelperId = 1;

function supervisorThread(): Worker {
  if (!supervisor) {
    supervisor = new Worker(new URL("./ale_supervisor.ts", import.meta.url));
    // The helpers end on their own when this process does (their request pipe closes).
    supervisor.unref();
  }
  return supervisor;
}

// ---- The protocol (see ale_helper.py) ----

const REPLY_STATE = 0;
const REPLY_HELLO = 1;
const REPLY_ERROR = 2;
const REPLY_HEADER_BYTES = 16;
/** Bytes of Atari 2600 RAM in every state reply. */
export const RAM_BYTES = 128;
const FLAG_RGB = 1;
const FLAG_PREV = 2;

/** What the helper says when it is ready. */
export interface AleHello {
  /** ale-py version. */
  ale: string;
  python: string;
  pid: number;
  game: string;
  /** Names of the minimal action set, e.g. NOOP, FIRE, RIGHT, LEFT. */
  actions: string[];
  height: number;
  width: number;
}

/** The emulator's state after a reset or a step; one object per process, overwritten. */
export interface AleReply {
  reward: number;
  /** Frames played. */
  frames: number;
  /** Whether the second-to-last frame was rendered. */
  pooled: boolean;
  gameOver: boolean;
  lives: number;
  /** The 128 bytes of RAM after the last frame. */
  ram: Uint8Array;
}

/** Options of {@linkcode AleProcess}. */
export interface AleProcessOptions {
  /** ROM name as ale-py spells it: `breakout`, `pong`, `space_invaders`, ... */
  game: string;
  /** Interpreter (default {@linkcode alePython}). */
  python?: string;
  /** Helper script (default {@linkcode ALE_HELPER_SCRIPT}; tests substitute misbehaving ones). */
  script?: string;
  /** Longest wait for any reply, startup included, before the helper is killed (ms). */
  timeoutMs?: number;
}

/** A helper process that crashed, was killed, timed out, or could not start. */
export class AleHelperError extends Error {}

/**
 * One helper process running one emulator. Started at construction (several can start in
 * parallel); the first call waits until it is ready. Not safe to share between threads.
 */
export class AleProcess {
  readonly game: string;
  readonly python: string;
  readonly script: string;
  readonly timeoutMs: number;
  readonly #dir: string;
  readonly #reqPath: string;
  readonly #repPath: string;
  readonly #ctl: Int32Array;
  readonly #deadline: Float64Array;
  readonly #controlBytes: Uint8Array;
  #req: Deno.FsFile | null = null;
  #rep: Deno.FsFile | null = null;
  #hello: AleHello | null = null;
  /** Set once the helper is unusable; every later call throws it again. */
  #failure: Error | null = null;
  #closed = false;
  readonly #reply: AleReply = {
    reward: 0,
    frames: 0,
    pooled: false,
    gameOver: false,
    lives: 0,
    ram: new Uint8Array(RAM_BYTES),
  };
  readonly #header = new Uint8Array(4 + REPLY_HEADER_BYTES);
  readonly #headerView = new DataView(this.#header.buffer);
  #request = new Uint8Array(64);
  /** A step sent and not yet received. */
  #pending: { frameBytes: number; wantPrev: boolean } | null = null;

  constructor(opts: AleProcessOptions) {
    this.game = opts.game;
    this.python = opts.python ?? alePython();
    this.script = opts.script ?? ALE_HELPER_SCRIPT;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.#dir = Deno.makeTempDirSync({ prefix: "jepa-ale-" });
    this.#reqPath = `${this.#dir}/request`;
    this.#repPath = `${this.#dir}/reply`;
    const mkfifo = new Deno.Command("mkfifo", { args: [this.#reqPath, this.#repPath] })
      .outputSync();
    if (!mkfifo.success) {
      throw new AleHelperError(`mkfifo failed: ${new TextDecoder().decode(mkfifo.stderr)}`);
    }
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    this.#ctl = new Int32Array(control, 0, 8);
    this.#deadline = new Float64Array(control, DEADLINE_OFFSET, 1);
    this.#controlBytes = new Uint8Array(control);
    const req: SupervisorRequest = {
      command: this.python,
      args: [this.script, this.#reqPath, this.#repPath, opts.game],
      replyPath: this.#repPath,
      control,
    };
    supervisorThread().postMessage({ id: nextHelperId++, req });
  }

  /** The helper's pid (waits until it has started). */
  get pid(): number {
    this.#waitForSpawn();
    return Atomics.load(this.#ctl, CTL_PID);
  }

  /** What the helper reported at startup (waits until it is ready). */
  hello(): AleHello {
    this.#connect();
    return this.#hello!;
  }

  /** Starts a new game (ALE's `reset_game`). */
  reset(): AleReply {
    if (this.#pending) this.#drain();
    this.#send(1).setUint8(4, "R".charCodeAt(0));
    this.#flush(5);
    return this.#receive(null, null);
  }

  /**
   * Plays `n` frames with `actions` (indices into the minimal action set) and renders the last
   * frame into `last` and, when `prev` is given and the game goes on, the one before into
   * `prev`. The buffers' sizes say RGB (h*w*3) or gray (h*w).
   */
  step(
    actions: ArrayLike<number>,
    n: number,
    last: Uint8Array,
    prev: Uint8Array | null,
  ): AleReply {
    this.sendStep(actions, n, last.length, prev !== null);
    return this.receiveStep(last, prev);
  }

  /**
   * The first half of {@linkcode step}: sends the request and returns at once, so that several
   * helpers can play their frames at the same time. `frameBytes`: h*w*3 for RGB, h*w for gray.
   */
  sendStep(actions: ArrayLike<number>, n: number, frameBytes: number, wantPrev: boolean): void {
    const { height, width } = this.hello();
    const rgb = frameBytes === height * width * 3;
    if (!rgb && frameBytes !== height * width) {
      throw new Error(`AleProcess.step: frames of ${frameBytes} bytes for ${height}x${width}`);
    }
    if (this.#pending) throw new Error("AleProcess.sendStep: the previous step was not received");
    const view = this.#send(4 + n);
    view.setUint8(4, "S".charCodeAt(0));
    view.setUint8(5, (rgb ? FLAG_RGB : 0) | (wantPrev ? FLAG_PREV : 0));
    view.setUint16(6, n, true);
    for (let k = 0; k < n; k++) this.#request[8 + k] = actions[k];
    this.#flush(8 + n);
    this.#pending = { frameBytes, wantPrev };
  }

  /** The second half of {@linkcode step}: waits for the reply and fills the frame buffers. */
  receiveStep(last: Uint8Array, prev: Uint8Array | null): AleReply {
    const pending = this.#pending;
    if (!pending) throw new Error("AleProcess.receiveStep: no step was sent");
    if (last.length !== pending.frameBytes || (prev !== null) !== pending.wantPrev) {
      throw new Error("AleProcess.receiveStep: buffers differ from what sendStep announced");
    }
    this.#pending = null;
    return this.#receive(last, prev);
  }

  /** Ends the helper (it exits when its request pipe closes). Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#ctl, CTL_ACK, 1);
    this.#deadline[0] = 0;
    if (!this.#req && Atomics.load(this.#ctl, CTL_STATE) === STATE_RUNNING) {
      // Never connected: the helper waits for its pipe. (One still being spawned is killed by
      // the supervisor, which sees the acknowledgement.)
      try {
        Deno.kill(Atomics.load(this.#ctl, CTL_PID), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    this.#req?.close();
    this.#rep?.close();
    this.#req = this.#rep = null;
    this.#removeDir();
  }

  // ---- Connection ----

  #waitForSpawn(): void {
    if (Atomics.load(this.#ctl, CTL_STATE) !== STATE_STARTING) return;
    // The supervisor thread may still be loading (the first helper of a process).
    Atomics.wait(this.#ctl, CTL_STATE, STATE_STARTING, this.timeoutMs);
    if (Atomics.load(this.#ctl, CTL_STATE) === STATE_STARTING) {
      throw this.#fail(`was not started within ${this.timeoutMs / 1000} s`);
    }
  }

  #connect(): void {
    this.#check();
    if (this.#hello) return;
    this.#waitForSpawn();
    if (Atomics.load(this.#ctl, CTL_STATE) === STATE_SPAWN_FAILED) {
      const report = this.#report();
      throw this.#fail(
        `could not be started: ${report.error}. Real Atari (ale:*) envs need Python 3 with ` +
          `ale-py: ${ALE_INSTALL_HINT} (set JEPA_PYTHON to choose the interpreter)`,
        false,
      );
    }
    // Read-write: never blocks, and the helper's read sees end of file when we close it.
    this.#req = Deno.openSync(this.#reqPath, { read: true, write: true });
    this.#deadline[0] = Date.now() + this.timeoutMs;
    // Blocks until the helper opens its end (or the supervisor does it for a dead helper).
    this.#rep = Deno.openSync(this.#repPath, { read: true });
    this.#readExact(this.#header.subarray(0, 5));
    const size = this.#headerView.getUint32(0, true);
    const kind = this.#header[4];
    const body = new Uint8Array(size - 1);
    this.#readExact(body);
    this.#deadline[0] = 0;
    const text = new TextDecoder().decode(body);
    if (kind === REPLY_ERROR) throw this.#fail(text, false);
    if (kind !== REPLY_HELLO) throw this.#fail(`sent reply kind ${kind} instead of its hello`);
    this.#hello = JSON.parse(text) as AleHello;
    // Both ends are open: the names are no longer needed.
    this.#removeDir();
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new Error(`the ALE helper for '${this.game}' was closed`);
  }

  // ---- Messages ----

  /** A request buffer with room for `body` bytes after the length prefix; returns its view. */
  #send(body: number): DataView {
    this.#connect();
    if (this.#request.length < 4 + body) this.#request = new Uint8Array(2 * (4 + body));
    const view = new DataView(this.#request.buffer);
    view.setUint32(0, body, true);
    return view;
  }

  #flush(bytes: number): void {
    this.#deadline[0] = Date.now() + this.timeoutMs;
    const buf = this.#request.subarray(0, bytes);
    for (let off = 0; off < bytes;) off += this.#req!.writeSync(buf.subarray(off));
  }

  #receive(last: Uint8Array | null, prev: Uint8Array | null): AleReply {
    const head = this.#header;
    const view = this.#headerView;
    this.#readExact(head.subarray(0, 5));
    const size = view.getUint32(0, true);
    if (head[4] === REPLY_ERROR) {
      const body = new Uint8Array(size - 1);
      this.#readExact(body);
      throw this.#fail(new TextDecoder().decode(body), false);
    }
    if (head[4] !== REPLY_STATE) throw this.#fail(`sent an unknown reply kind ${head[4]}`);
    this.#readExact(head.subarray(5));
    const r = this.#reply;
    r.gameOver = head[5] !== 0;
    r.pooled = head[6] !== 0;
    r.reward = view.getInt32(8, true);
    r.frames = view.getUint32(12, true);
    r.lives = view.getInt32(16, true);
    this.#readExact(r.ram);
    const frameBytes = last ? last.length : 0;
    const expected = REPLY_HEADER_BYTES + RAM_BYTES + frameBytes * (r.pooled ? 2 : 1);
    if (size !== expected) throw this.#fail(`sent a reply of ${size} bytes, expected ${expected}`);
    if (last) this.#readExact(last);
    if (r.pooled) this.#readExact(prev!);
    this.#deadline[0] = 0;
    return r;
  }

  /** Receives a sent step nobody will collect (a reset came first) into scratch buffers. */
  #drain(): void {
    const { frameBytes, wantPrev } = this.#pending!;
    this.receiveStep(new Uint8Array(frameBytes), wantPrev ? new Uint8Array(frameBytes) : null);
  }

  #readExact(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) {
      let n: number | null;
      try {
        n = this.#rep!.readSync(buf.subarray(off));
      } catch (err) {
        throw this.#fail(`pipe read failed (${(err as Error).message})`);
      }
      if (n === null) throw this.#fail(null);
      off += n;
    }
  }

  // ---- Failure ----

  #report(): HelperReport {
    const len = Atomics.load(this.#ctl, CTL_REPORT_LEN);
    const bytes = this.#controlBytes.slice(REPORT_OFFSET, REPORT_OFFSET + len);
    return len > 0 ? JSON.parse(new TextDecoder().decode(bytes)) : { stderr: "" };
  }

  /**
   * Marks the helper unusable and builds the error. `detail` null: the pipe closed, so the
   * helper died: wait briefly for the supervisor's account of how. `withStatus` false: the
   * helper explained itself (its message is the whole story).
   */
  #fail(detail: string | null, withStatus = true): Error {
    this.#deadline[0] = 0;
    let message: string;
    if (!withStatus && detail) {
      message = detail;
    } else {
      Atomics.wait(this.#ctl, CTL_STATE, STATE_RUNNING, 2000);
      const exited = Atomics.load(this.#ctl, CTL_STATE) === STATE_EXITED;
      const report = exited ? this.#report() : { stderr: "" };
      const how = Atomics.load(this.#ctl, CTL_TIMED_OUT)
        ? `did not answer within ${this.timeoutMs / 1000} s and was killed`
        : report.signal
        ? `was killed by ${report.signal}`
        : report.code !== undefined
        ? `exited with code ${report.code}`
        : "stopped answering";
      const stderr = report.stderr.trim().split("\n").slice(-12).join("\n");
      message = `${detail ? `${detail}; the helper ` : ""}${how}` +
        (stderr ? `; its stderr ends with:\n${stderr}` : " (no stderr output)");
    }
    const pid = Atomics.load(this.#ctl, CTL_PID);
    const error = new AleHelperError(
      `ALE helper for '${this.game}' (${this.python} ${this.script}${
        pid ? `, pid ${pid}` : ""
      }): ` +
        message,
    );
    this.#failure = error;
    this.close();
    return error;
  }

  #removeDir(): void {
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch {
      // Already removed.
    }
  }
}
