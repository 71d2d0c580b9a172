/**
 * Slurm's client commands as the sweep layer uses them: `sbatch` to submit, `squeue` for jobs
 * still queued or running, then `scontrol show job` (jobs that ended recently: slurmctld keeps
 * them `MinJobAge` seconds) and `sacct` (with accounting; on clusters without slurmdbd, `sacct
 * -c` reads the job-completion file) for jobs that ended, and the parsing of their answers.
 *
 * @module
 */

/** A Slurm job, or one task of a job array, as the scheduler reports it. */
export interface SlurmJob {
  /** The job's own id (an array task has one of its own too). */
  jobId: string;
  /** An array task's array job id and index. */
  arrayJobId?: string;
  arrayTaskId?: number;
  /** `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, `OUT_OF_MEMORY`, ... */
  state: string;
  /** Why it is pending (squeue), or why it ended as it did (scontrol). */
  reason?: string;
  /** Exit code and signal of a job that ended. */
  exitCode?: number;
  signal?: number;
  /** Which command answered. */
  source: "squeue" | "scontrol" | "sacct" | "sacct -c";
}

/** What a Slurm command printed. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a Slurm client command (killed after `timeoutMs`, if given). A command that is not
 * installed is an error that says which packages provide it.
 */
export async function slurmCommand(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<CommandOutput> {
  let out;
  try {
    out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      ...(opts.timeoutMs ? { signal: AbortSignal.timeout(opts.timeoutMs) } : {}),
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        `${cmd}: not found: the slurm executor needs Slurm's client commands (sbatch, squeue, ` +
          `scontrol, sacct) on PATH (Debian: apt-get install slurm-client)`,
      );
    }
    throw err;
  }
  const dec = new TextDecoder();
  const stderr = out.signal && opts.timeoutMs
    ? `no answer within ${opts.timeoutMs / 1000} s`
    : dec.decode(out.stderr);
  return { code: out.code, stdout: dec.decode(out.stdout), stderr };
}

/**
 * Null when a Slurm controller answers here (`sbatch` on PATH and `sinfo` reaching
 * slurmctld), else why not: the reason tests that need Slurm give when they skip.
 */
export async function slurmUnavailable(): Promise<string | null> {
  try {
    await slurmCommand("sbatch", ["--version"]);
    // A configured but stopped controller keeps sinfo retrying for 10 s: 3 s tell enough.
    const info = await slurmCommand("sinfo", ["-h", "-o", "%t"], { timeoutMs: 3000 });
    if (info.code !== 0) return `sinfo failed: ${info.stderr.trim() || `exit ${info.code}`}`;
    if (!info.stdout.trim()) return "sinfo lists no nodes";
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** `0-3,5,7-8%2` -> [0, 1, 2, 3, 5, 7, 8] (a `%N` throttle is dropped). */
export function expandArrayIndices(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split("%")[0].split(",")) {
    const m = part.trim().match(/^(\d+)(?:-(\d+))?(?::(\d+))?$/);
    if (!m) throw new Error(`array indices: cannot read '${part}' in '${text}'`);
    const [from, to, step] = [Number(m[1]), Number(m[2] ?? m[1]), Number(m[3] ?? 1)];
    for (let i = from; i <= to; i += step) out.push(i);
  }
  return out;
}

/** [0, 1, 2, 5, 7, 8] -> `0-2,5,7-8`: the shortest `--array` list. */
export function formatArrayIndices(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** The `sbatch --parsable` answer (`123` or `123;cluster`) -> the job id. */
export function parseSbatch(stdout: string): string {
  const id = stdout.trim().split(";")[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch: expected a job id, got '${stdout.trim()}'`);
  return id;
}

/** The output format {@linkcode parseSqueue} reads: `squeue -h -r -o SQUEUE_FORMAT`. */
export const SQUEUE_FORMAT = "%A|%F|%K|%T|%r";

/** Lines of `squeue -h -r -o "%A|%F|%K|%T|%r"` -> jobs (array tasks one by one). */
export function parseSqueue(text: string): SlurmJob[] {
  return text.split("\n").filter((l) => l.trim()).map((line) => {
    const [jobId, arrayJobId, task, state, reason] = line.trim().split("|");
    const isTask = /^\d+$/.test(task ?? "");
    return {
      jobId,
      ...(isTask ? { arrayJobId, arrayTaskId: Number(task) } : {}),
      state,
      reason: reason && reason !== "None" ? reason : undefined,
      source: "squeue" as const,
    };
  });
}

/**
 * Lines of `scontrol show job -o ID` -> jobs. A record whose `ArrayTaskId` is a range (tasks
 * that never started: still pending, or cancelled together) stands for each of its tasks.
 */
export function parseScontrolJobs(text: string): SlurmJob[] {
  const field = (line: string, key: string) =>
    line.match(new RegExp(`(?:^|\\s)${key}=(\\S*)`))?.[1];
  return text.split("\n").filter((l) => /JobId=/.test(l)).flatMap((line) => {
    const jobId = field(line, "JobId")!;
    const arrayJobId = field(line, "ArrayJobId");
    const tasks = field(line, "ArrayTaskId");
    const exit = field(line, "ExitCode")?.match(/^(\d+):(\d+)$/);
    const reason = field(line, "Reason");
    const base = {
      jobId,
      state: field(line, "JobState") ?? "UNKNOWN",
      reason: reason && reason !== "None" ? reason : undefined,
      ...(exit ? { exitCode: Number(exit[1]), signal: Number(exit[2]) } : {}),
      source: "scontrol" as const,
    };
    if (!arrayJobId || !tasks || tasks === "N/A") return [base];
    return expandArrayIndices(tasks).map((i) => ({ ...base, arrayJobId, arrayTaskId: i }));
  });
}

/**
 * Lines of `sacct -X -P -n --format=JobID,JobIDRaw,State,ExitCode` (`5_1|6|FAILED|3:0`, or
 * `5_[2-4]|5|PENDING|0:0`), or of `sacct -c -P -n --format=JobID,State,ExitCode` (raw ids
 * only: `6|FAILED|3:0`) -> jobs.
 */
export function parseSacct(text: string, source: "sacct" | "sacct -c"): SlurmJob[] {
  return text.split("\n").filter((l) => l.trim()).flatMap((line) => {
    const parts = line.trim().split("|");
    const [id, raw, stateText, exitText] = source === "sacct"
      ? parts
      : [parts[0], parts[0], parts[1], parts[2]];
    const state = (stateText ?? "UNKNOWN").split(" ")[0];
    const exit = exitText?.match(/^(\d+):(\d+)$/);
    const base = {
      jobId: raw,
      state,
      ...(exit ? { exitCode: Number(exit[1]), signal: Number(exit[2]) } : {}),
      source,
    };
    const task = id.match(/^(\d+)_(\d+)$/);
    if (task) return [{ ...base, arrayJobId: task[1], arrayTaskId: Number(task[2]) }];
    const range = id.match(/^(\d+)_\[(.+)\]$/);
    if (range) {
      return expandArrayIndices(range[2]).map((i) => ({
        ...base,
        arrayJobId: range[1],
        arrayTaskId: i,
      }));
    }
    return /^\d+$/.test(id) ? [base] : [];
  });
}

/** The jobs `squeue` still lists among `jobIds` (arrays task by task); [] when none. */
export async function queuedJobs(jobIds: readonly string[]): Promise<SlurmJob[]> {
  if (jobIds.length === 0) return [];
  const out = await slurmCommand("squeue", [
    "-h",
    "-r",
    "-j",
    jobIds.join(","),
    "-o",
    SQUEUE_FORMAT,
  ]);
  // squeue refuses the whole list when one id has left slurmctld's memory: ask one by one.
  if (out.code !== 0) {
    if (jobIds.length === 1) return [];
    return (await Promise.all(jobIds.map((id) => queuedJobs([id])))).flat();
  }
  return parseSqueue(out.stdout);
}

/**
 * What the scheduler knows of jobs that ended: `scontrol show job` for each of `jobIds`, then
 * `sacct` for those it has forgotten, and where `sacct` has no accounting, `sacct -c` for
 * `rawIds` (the job-completion file lists jobs by their own ids only).
 */
export async function endedJobs(
  jobIds: readonly string[],
  rawIds: readonly string[] = [],
): Promise<SlurmJob[]> {
  const found: SlurmJob[] = [];
  const forgotten: string[] = [];
  for (const id of jobIds) {
    const out = await slurmCommand("scontrol", ["show", "job", "-o", id]);
    const jobs = out.code === 0 ? parseScontrolJobs(out.stdout) : [];
    if (jobs.length) found.push(...jobs);
    else forgotten.push(id);
  }
  if (forgotten.length === 0 && rawIds.every((r) => found.some((j) => j.jobId === r))) {
    return found;
  }
  const ids = [...new Set([...forgotten, ...rawIds])];
  const acct = await slurmCommand("sacct", [
    "-X",
    "-P",
    "-n",
    "-j",
    ids.join(","),
    "--format=JobID,JobIDRaw,State,ExitCode",
  ]);
  if (acct.code === 0) return [...found, ...parseSacct(acct.stdout, "sacct")];
  const comp = await slurmCommand("sacct", [
    "-c",
    "-P",
    "-n",
    "-j",
    ids.join(","),
    "--format=JobID,State,ExitCode",
  ]);
  return [...found, ...(comp.code === 0 ? parseSacct(comp.stdout, "sacct -c") : [])];
}

/** Whether a Slurm state is final (the job will not run, or run on, any more). */
export function isFinalState(state: string): boolean {
  return !["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"]
    .includes(state);
}
