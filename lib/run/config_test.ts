import assert from "node:assert/strict";
import { configKeys, parseConfigText, type Presets, resolveConfig } from "./config.ts";

const base = {
  seed: 0,
  episodes: 2,
  env: { id: "native:breakout", resize: [84, 84] },
  fast: false,
};
const presets: Presets<typeof base> = {
  smoke: base,
  small: { ...base, episodes: 20 },
  full: { ...base, episodes: 200 },
};

Deno.test("presets, file and --set apply in order", () => {
  const c = resolveConfig(presets, {
    preset: "small",
    file: {
      path: "c.yaml",
      values: parseConfigText("env:\n  id: native:pong\nseed: 3\n", "c.yaml"),
    },
    sets: ["seed=5", "fast=true", "env.resize=[64, 64]"],
  });
  assert.deepEqual(c, {
    seed: 5,
    episodes: 20,
    env: { id: "native:pong", resize: [64, 64] },
    fast: true,
  });
  assert.equal(presets.small.seed, 0, "presets are not mutated");
});

Deno.test("an unknown key lists the valid keys and suggests the closest", () => {
  assert.throws(
    () => resolveConfig(presets, { sets: ["episodez=3"] }),
    (err: Error) =>
      /unknown config key 'episodez'/.test(err.message) &&
      /Did you mean 'episodes'/.test(err.message) &&
      /Valid keys: seed, episodes, env.id, env.resize, fast/.test(err.message),
  );
  assert.throws(
    () => resolveConfig(presets, { file: { path: "x.yaml", values: { env: { idd: 1 } } } }),
    /x\.yaml: env\.idd: unknown config key 'env\.idd'/,
  );
});

Deno.test("a value of the wrong type names the key and the expected type", () => {
  assert.throws(
    () => resolveConfig(presets, { sets: ["episodes=many"] }),
    /--set episodes: expected a number, got "many"/,
  );
  assert.throws(
    () => resolveConfig(presets, { sets: ["env.resize=[a]"] }),
    /env\.resize\[0\]: expected a number/,
  );
  assert.throws(() => resolveConfig(presets, { sets: ["env=3"] }), /unknown config key 'env'/);
});

Deno.test("unknown preset and malformed --set are errors", () => {
  assert.throws(
    () => resolveConfig(presets, { preset: "huge" }),
    /unknown preset 'huge' \(valid presets: smoke, small, full\)/,
  );
  assert.throws(() => resolveConfig(presets, { sets: ["seed"] }), /expected key=value/);
  assert.throws(() => parseConfigText("a: [1", "bad.yaml"), /bad\.yaml: not valid YAML/);
});

Deno.test("configKeys lists leaves in order", () => {
  assert.deepEqual(configKeys(base), ["seed", "episodes", "env.id", "env.resize", "fast"]);
});
