/**
 * A small dataset of scripted play for the trainers' tests: collected into a temporary folder
 * once per process and spec, then shared by every test that asks for the same one.
 *
 * @module
 */

import { join } from "node:path";
import { CLEANRL_ATARI, type EnvConfig } from "../envs/make.ts";
import { collectDataset } from "./collect.ts";
import type { PolicyName } from "../envs/policies.ts";
import { type Dataset, openDataset } from "./reader.ts";

const collected = new Map<string, Promise<Dataset>>();

/**
 * `episodes` games of the scripted player (or of `policy`) on `env` (over CleanRL's frame
 * pipeline), seeded.
 */
export function scriptedTestDataset(
  opts: {
    seed: number;
    episodes: number;
    env?: Partial<EnvConfig>;
    policy?: PolicyName | PolicyName[];
  },
): Promise<Dataset> {
  const key = JSON.stringify(opts);
  if (!collected.has(key)) {
    collected.set(
      key,
      (async () => {
        const dir = join(await Deno.makeTempDir(), "ds");
        await collectDataset(dir, {
          seed: opts.seed,
          policy: opts.policy ?? "scripted",
          episodes: opts.episodes,
          shardFrames: 4096,
          env: { ...CLEANRL_ATARI, ...opts.env },
        });
        return openDataset(dir);
      })(),
    );
  }
  return collected.get(key)!;
}
