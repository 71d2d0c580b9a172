import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { vitGrid } from "../../nn/vit.ts";
import { initBackend } from "../../tensor/backend.ts";
import { disposeLatentAction } from "../../train/latent_action.ts";
import {
  type ActionMapping,
  codesForActions,
  readActionMapping,
  stackEmbedding,
} from "./mapping.ts";
import { ONE_CODE_PER_ACTION, tinyPlayModel } from "./testing.ts";

await initBackend({ backend: "cpu" });

const { model, start } = tinyPlayModel();
const { tokens } = vitGrid(model.cfg.encoder);
// 24x36 frames in patches of 12: 2 rows and 3 columns of tokens, each averaged.
const width = 5 * model.cfg.encoder.width;
const A = 4;
const d = A * (1 + width);
const identity = { mean: new Array(width).fill(0), std: new Array(width).fill(1) };

/** Two stacks: the start stack and its negative image. */
function twoStacks(): tf.Tensor3D {
  const other = start.map((v) => 1 - v);
  const both = new Float32Array(2 * start.length);
  both.set(start);
  both.set(other, start.length);
  return tf.tensor3d(both, [2, tokens, start.length / tokens]);
}

/**
 * A classifier over codes 5 and 6: for RIGHT (action 2) its choice is the sign of the first
 * embedding feature past `threshold`; every other action is code 5.
 */
function frameAwareMapping(threshold: number): ActionMapping {
  const weights = new Array(2 * d).fill(0);
  // Class 6's row: RIGHT's block of the embedding, its first feature.
  weights[d + A + 2 * width] = 1;
  const bias = [0, 0];
  // For RIGHT: score(6) - score(5) = e_0 - threshold; the one-hot of RIGHT carries -threshold.
  weights[d + 2] = -threshold;
  return {
    actionMeanings: ONE_CODE_PER_ACTION.actionMeanings,
    actionCodes: [5, 5, 5, 5],
    classifier: { classes: [5, 6], d, mean: new Array(d).fill(0), scale: 1, weights, bias },
    embedding: identity,
  };
}

Deno.test("an action's code comes from the classifier and depends on the frame", () => {
  const stacks = twoStacks();
  const e0 = stackEmbedding(model, stacks);
  const [a, b] = [e0[0], e0[width]];
  assert.notEqual(a, b, "the two stacks embed differently");
  const mapping = frameAwareMapping((a + b) / 2);
  const right = codesForActions(model, mapping, stacks, [2, 2]);
  assert.deepEqual(Array.from(right), a > b ? [6, 5] : [5, 6], "RIGHT's code follows the frame");
  assert.deepEqual(Array.from(codesForActions(model, mapping, stacks, [3, 0])), [5, 5]);
  assert.deepEqual(
    Array.from(codesForActions(model, ONE_CODE_PER_ACTION, stacks, [3, 1])),
    [3, 1],
    "without a classifier: each action's most common code",
  );
  assert.throws(() => codesForActions(model, mapping, stacks, [4, 0]), /action 4 outside \[0, 4\)/);
  const narrow = { ...mapping, classifier: { ...mapping.classifier!, d: d - 1 } };
  assert.throws(
    () => codesForActions(model, narrow, stacks, [0, 0]),
    /a classifier of 323 features on an embedding of 80; the model's 4 actions and its embedding of 80 \(\(rows \+ columns\) x width\) give 324 on 80/,
  );
  // The embedding is standardised before the classifier: shifting it by the mean moves the
  // threshold with it.
  const shifted = {
    ...mapping,
    embedding: { ...identity, mean: identity.mean.map((_, j) => (j === 0 ? (a + b) / 2 : 0)) },
    classifier: frameAwareMapping(0).classifier,
  };
  assert.deepEqual(Array.from(codesForActions(model, shifted, stacks, [2, 2])), Array.from(right));
  stacks.dispose();
});

Deno.test("a mapping file is read back as written, and a broken one is named with its field", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "mapping.json");
  const mapping = frameAwareMapping(0.1);
  await Deno.writeTextFile(file, JSON.stringify(mapping));
  assert.deepEqual(readActionMapping(file), mapping);
  const broken = async (m: unknown, pattern: RegExp) => {
    await Deno.writeTextFile(file, JSON.stringify(m));
    assert.throws(() => readActionMapping(file), pattern);
  };
  await broken({ ...mapping, actionCodes: [1, 2] }, /mapping.json: actionCodes must be 4 codes/);
  await broken(
    { ...mapping, classifier: { ...mapping.classifier, bias: [0] } },
    /mapping.json: classifier: bias must be 2 numbers \(one per class\)/,
  );
  await broken({ actionCodes: [] }, /mapping.json: actionMeanings must be a list of action names/);
  const { embedding: _, ...older } = mapping;
  await broken(older, /mapping.json: no 'embedding' field \(a mapping of an older version/);
  await broken(
    { ...mapping, embedding: { mean: [0], std: [] } },
    /mapping.json: embedding must be \{mean, std\}/,
  );
  await broken(
    { ...mapping, embedding: { mean: [0], std: [1] } },
    /mapping.json: classifier.d must be 8 \(4 actions x \(1 \+ 1 embedding features\)\)/,
  );
  await Deno.writeTextFile(file, "{");
  assert.throws(() => readActionMapping(file), /mapping.json: not a readable action mapping/);
  await Deno.remove(dir, { recursive: true });
});

globalThis.addEventListener("unload", () => disposeLatentAction(model));
