/**
 * What every `deno task` shares: flag parsing with `--help`, preset + `--config` + `--set`
 * resolution, error reporting without stack traces for user mistakes.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { parseArgs, styleText } from "node:util";
import { InputError } from "../lib/run/errors.ts";
import { SLURM_FLAGS } from "../lib/sweep/flags.ts";
import {
  configKeys,
  type ConfigObject,
  parseConfigText,
  PRESET_NAMES,
  type Presets,
  resolveConfig,
} from "../lib/run/config.ts";

/** A task-specific flag that is a shortcut for a config key (`--episodes 5` = `--set episodes=5`). */
export interface ConfigFlag {
  /** The config key it sets. */
  key: string;
  /** One line for `--help`. */
  help: string;
  /** Turns the flag's text into the config value (default: YAML scalar parsing via --set). */
  parse?: (text: string) => unknown;
}

/** Declaration of a task's command line. */
export interface TaskSpec<C extends ConfigObject> {
  /** `deno task <name>`. */
  name: string;
  /** One paragraph: what the task does and what it writes. */
  summary: string;
  presets?: Presets<C>;
  /** Shortcut flags for config keys. */
  flags?: Record<string, ConfigFlag>;
  /** Boolean switches that are not config (e.g. `--json`, `--resume`). */
  switches?: Record<string, string>;
  /** String options that are not config (e.g. `--out`, `--only`), with their help. */
  options?: Record<string, string>;
  /** Extra lines for the help (examples). */
  examples?: string[];
}

/** Parsed command line. */
export interface TaskArgs<C> {
  config: C;
  /** The preset the config started from. */
  preset: string;
  switches: Record<string, boolean>;
  options: Record<string, string | undefined>;
  positionals: string[];
}

const COMMON_OPTIONS: Record<string, string> = {
  preset: `preset to start from: ${PRESET_NAMES.join(" | ")} (default smoke)`,
  config: "YAML or JSON file of config overrides",
  set: "override one config key, key=value (repeatable; dotted keys for nested fields)",
};

/** The usage text of a task. */
export function usage<C extends ConfigObject>(spec: TaskSpec<C>): string {
  const lines = [`Usage: deno task ${spec.name} [options]`, "", spec.summary, "", "Options:"];
  const row = (flag: string, help: string) => lines.push(`  ${flag.padEnd(24)} ${help}`);
  for (const [flag, f] of Object.entries(spec.flags ?? {})) row(`--${flag} VALUE`, f.help);
  for (const [flag, help] of Object.entries(spec.options ?? {})) row(`--${flag} VALUE`, help);
  for (const [flag, help] of Object.entries(spec.switches ?? {})) row(`--${flag}`, help);
  if (spec.presets) {
    for (const [flag, help] of Object.entries(COMMON_OPTIONS)) row(`--${flag} VALUE`, help);
  }
  row("-h, --help", "show this help");
  if (spec.presets) {
    lines.push("", "Config keys (defaults of the smoke preset):");
    const smoke = spec.presets.smoke;
    for (const key of configKeys(smoke)) {
      const value = key.split(".").reduce((o: ConfigObject, k) => o[k], smoke);
      lines.push(`  ${key} = ${JSON.stringify(value)}`);
    }
  }
  if (spec.examples?.length) lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

/**
 * Parses `args` for a task. Prints the help and exits on `--help`; throws a {@linkcode UsageError}
 * on unknown flags or bad config.
 */
export function parseTaskArgs<C extends ConfigObject>(
  spec: TaskSpec<C>,
  args: string[] = Deno.args,
): TaskArgs<C> {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean; short?: string }
  > = {
    help: { type: "boolean", short: "h" },
  };
  for (const flag of Object.keys(spec.flags ?? {})) options[flag] = { type: "string" };
  for (const flag of Object.keys(spec.options ?? {})) options[flag] = { type: "string" };
  for (const flag of Object.keys(spec.switches ?? {})) options[flag] = { type: "boolean" };
  if (spec.presets) {
    options.preset = { type: "string" };
    options.config = { type: "string" };
    options.set = { type: "string", multiple: true };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage(spec)}`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    console.log(usage(spec));
    Deno.exit(0);
  }
  let config = {} as C;
  if (spec.presets) {
    const sets = [...((values.set as string[] | undefined) ?? [])];
    for (const [flag, f] of Object.entries(spec.flags ?? {})) {
      const text = values[flag] as string | undefined;
      if (text === undefined) continue;
      const value = f.parse ? f.parse(text) : text;
      sets.push(`${f.key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
    }
    const configPath = values.config as string | undefined;
    let file;
    if (configPath) {
      if (!existsSync(configPath)) throw new UsageError(`--config: no such file: ${configPath}`);
      file = {
        path: configPath,
        values: parseConfigText(readFileSync(configPath, "utf8"), configPath),
      };
    }
    try {
      config = resolveConfig(spec.presets, {
        preset: values.preset as string | undefined,
        file,
        sets,
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const switches: Record<string, boolean> = {};
  for (const flag of Object.keys(spec.switches ?? {})) switches[flag] = Boolean(values[flag]);
  const opts: Record<string, string | undefined> = {};
  for (const flag of Object.keys(spec.options ?? {})) {
    opts[flag] = values[flag] as string | undefined;
  }
  const preset = (values.preset as string | undefined) ?? "smoke";
  return { config, preset, switches, options: opts, positionals: parsed.positionals };
}

/** A mistake in how a task was called: printed without a stack trace. */
export class UsageError extends InputError {
  override name = "UsageError";
}

/** Runs a config check, turning its Error into a {@linkcode UsageError}. */
export function checkConfig(check: () => void): void {
  try {
    check();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Runs a task's main function: user errors (bad flags, bad config, bad files: a
 * {@linkcode UsageError} or any `InputError` of the library) print one clear message and exit 2; anything else prints the error with its stack and exits 1.
 */
export async function runTask(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof InputError) {
      console.error(`${color("red", "error:")} ${err.message}`);
      Deno.exit(2);
    }
    console.error(`${color("red", "error:")} ${(err as Error)?.stack ?? err}`);
    Deno.exit(1);
  }
}

/** Colours text only when stderr is a terminal. */
export function color(style: Parameters<typeof styleText>[0], text: string): string {
  return Deno.stderr.isTerminal() ? styleText(style, text) : text;
}

/**
 * `--env ID`: the env of a task (`native:breakout`, `ale:pong`, ...), the `env.id` config key.
 * Real Atari (`ale:`) ids need ale-py; without it the task stops with how to install it.
 */
export const ENV_FLAG: ConfigFlag = {
  key: "env.id",
  help: "env id: native:breakout | native:pong | ale:breakout | ale:pong | ale:<rom> " +
    "(ale: needs ale-py)",
};

/** `--game NAME`: shortcut for `--env native:NAME`. */
export const GAME_FLAG: ConfigFlag = {
  key: "env.id",
  help: "native game: breakout | pong (shortcut for --env native:<game>)",
  parse: (g: string) => (g.includes(":") ? g : `native:${g}`),
};

/** `--env` and `--game` set the same key: giving both is a mistake, not a silent override. */
export function rejectBothEnvFlags(args: string[]): void {
  const has = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (has("--env") && has("--game")) {
    throw new UsageError("--env and --game both choose the env: give one of them");
  }
}

/** A file-name friendly env name: `breakout` for native games, `ale-breakout` for real Atari. */
export function envSlug(envId: string): string {
  const [kind, game] = envId.includes(":") ? envId.split(":", 2) : ["native", envId];
  return kind === "native" ? game : `${kind}-${game}`;
}

/**
 * The integer that `text`, the value of `--name`, spells when it is at least `min`; anything else
 * is a usage error naming the flag, what it expects and what it got.
 */
export function integerFlag(name: string, text: string, min = 1): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isInteger(v) || v < min) {
    throw new UsageError(`--${name}: expected an integer >= ${min}, got '${text}'`);
  }
  return v;
}

/**
 * The `--executor` of a task that can hand its grid to the sweep layer: `local` (the default)
 * or `slurm`; Slurm's resource options (`SLURM_FLAGS`) mean something only with `slurm`.
 */
export function executorOption(options: Record<string, string | undefined>): "local" | "slurm" {
  const executor = options.executor ?? "local";
  if (executor !== "local" && executor !== "slurm") {
    throw new UsageError(`--executor: expected local or slurm, got '${executor}'`);
  }
  const slurmFlags = Object.keys(SLURM_FLAGS).filter((f) => options[f] !== undefined);
  if (executor === "local" && slurmFlags.length) {
    throw new UsageError(`--${slurmFlags[0]} needs --executor slurm`);
  }
  return executor;
}
