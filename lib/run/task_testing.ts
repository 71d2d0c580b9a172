/**
 * Test helper shared by the tests of the `deno task` scripts: runs one `tasks/*.ts` script in a
 * subprocess, as a user would, and returns what it printed.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** What a task subprocess did: its exit code and its decoded output. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A tasks/<script> ...args` (from this checkout, in the current directory) with
 * `NO_COLOR=1` and `env` added to the environment, and waits for it to end.
 */
export async function runTask(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<TaskResult> {
  const path = fileURLToPath(new URL(`../../tasks/${script}`, import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
