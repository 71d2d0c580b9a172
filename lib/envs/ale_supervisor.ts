/**
 * The supervisor thread of the ALE helper processes (a `node:worker_threads` worker, one per
 * Deno process, started by `ale_process.ts`). The main thread talks to each helper with
 * blocking reads and writes on two FIFOs, which keeps `Env.step` synchronous and a round trip
 * at a few microseconds; what blocking code cannot do is done here, asynchronously:
 *
 * - spawn the helper, keep the tail of its stderr, and await its exit status;
 * - when a helper dies before the main thread has opened its reply FIFO, open and close that
 *   FIFO so the main thread's blocking `open` returns and its read sees end of file;
 * - kill a helper that has not answered by the deadline the main thread set (a read timeout
 *   for blocking reads).
 *
 * Each helper has a small shared control block (layout in `ale_process.ts`) through which the
 * outcome is published, with `Atomics.notify` for a main thread waiting on it.
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import {
  CTL_ACK,
  CTL_PID,
  CTL_REPORT_LEN,
  CTL_STATE,
  CTL_TIMED_OUT,
  type HelperReport,
  REPORT_OFFSET,
  STATE_EXITED,
  STATE_RUNNING,
  STATE_SPAWN_FAILED,
  type SupervisorRequest,
} from "./ale_process.ts";

const STDERR_TAIL = 4000;
/** How often to check deadlines, and to re-open a dead helper's FIFO for a main thread. */
const TICK_MS = 50;
/** Give up unblocking a main thread that never opens the FIFO after this long. */
const RESCUE_MS = 60_000;

interface Helper {
  ctl: Int32Array;
  deadline: Float64Array;
  bytes: Uint8Array;
  child?: Deno.ChildProcess;
}

const helpers = new Map<number, Helper>();

function publish(h: Helper, state: number, report: HelperReport): void {
  const json = new TextEncoder().encode(JSON.stringify(report));
  const room = h.bytes.length - REPORT_OFFSET;
  h.bytes.set(json.subarray(0, room), REPORT_OFFSET);
  Atomics.store(h.ctl, CTL_REPORT_LEN, Math.min(json.length, room));
  Atomics.store(h.ctl, CTL_STATE, state);
  Atomics.notify(h.ctl, CTL_STATE);
}

async function supervise(id: number, req: SupervisorRequest): Promise<void> {
  const h: Helper = {
    ctl: new Int32Array(req.control, 0, 8),
    deadline: new Float64Array(req.control, 32, 1),
    bytes: new Uint8Array(req.control),
  };
  helpers.set(id, h);
  try {
    h.child = new Deno.Command(req.command, {
      args: req.args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    publish(h, STATE_SPAWN_FAILED, { error: String((err as Error)?.message ?? err), stderr: "" });
    await rescue(h, req.replyPath);
    helpers.delete(id);
    return;
  }
  Atomics.store(h.ctl, CTL_PID, h.child.pid);
  Atomics.store(h.ctl, CTL_STATE, STATE_RUNNING);
  Atomics.notify(h.ctl, CTL_STATE);
  // Closed before it even started (see AleProcess.close).
  if (Atomics.load(h.ctl, CTL_ACK) !== 0) h.child.kill("SIGKILL");
  let stderr = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of h.child!.stderr) {
      stderr = (stderr + decoder.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
    }
  })();
  const status = await h.child.status;
  await pump.catch(() => {});
  publish(h, STATE_EXITED, { code: status.code, signal: status.signal, stderr });
  await rescue(h, req.replyPath);
  helpers.delete(id);
}

/**
 * Until the main thread acknowledges, opens and closes the reply FIFO now and then: a main
 * thread blocked opening it (the helper died before opening its end) gets through, and its
 * read then sees end of file. Stops when the FIFO is gone (the main thread removes it).
 */
async function rescue(h: Helper, replyPath: string): Promise<void> {
  const start = Date.now();
  while (Atomics.load(h.ctl, CTL_ACK) === 0 && Date.now() - start < RESCUE_MS) {
    try {
      // Read-write never blocks on a FIFO, and counts as a writer until closed.
      Deno.openSync(replyPath, { read: true, write: true }).close();
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
}

/** Kills helpers whose reply is overdue. */
function checkDeadlines(): void {
  const now = Date.now();
  for (const h of helpers.values()) {
    const deadline = h.deadline[0];
    if (deadline > 0 && now > deadline && h.child && Atomics.load(h.ctl, CTL_TIMED_OUT) === 0) {
      Atomics.store(h.ctl, CTL_TIMED_OUT, 1);
      try {
        h.child.kill("SIGKILL");
      } catch {
        // Already gone: its exit is being reported anyway.
      }
    }
  }
}

setInterval(checkDeadlines, TICK_MS);
parentPort!.on("message", (msg: { id: number; req: SupervisorRequest }) => {
  supervise(msg.id, msg.req);
});
