/**
 * Behaviour-cloning metrics: how well scores over the A actions rank the action a player took.
 * Accuracy (the top action), top-k accuracy, mean reciprocal rank (1 / the rank of the taken
 * action), the confusion matrix, and the two baselines a reviewer asks for, from the training
 * actions alone: the majority class (always the most frequent action) and the action prior (every
 * frame ranked by the training frequencies: the best a frame-blind predictor can rank).
 *
 * @module
 */

/** Metrics of a set of predictions. */
export interface ActionMetrics {
  n: number;
  accuracy: number;
  top3: number;
  /** Mean reciprocal rank of the taken action. */
  mrr: number;
  /** `confusion[true][predicted]`, counts. */
  confusion: number[][];
}

/**
 * Metrics of `scores` (`[n, A]`, higher is more likely) against the taken `actions` (`[n]`).
 * Ties rank the lower action id first, so every frame has one top action.
 */
export function actionMetrics(
  scores: Float32Array | Float64Array,
  actions: ArrayLike<number>,
  numActions: number,
): ActionMetrics {
  const n = actions.length;
  if (scores.length !== n * numActions) {
    throw new Error(
      `actionMetrics: ${scores.length} scores for ${n} rows of ${numActions} actions`,
    );
  }
  const confusion = Array.from({ length: numActions }, () => new Array(numActions).fill(0));
  let top1 = 0, top3 = 0, rr = 0;
  for (let i = 0; i < n; i++) {
    const row = scores.subarray(i * numActions, (i + 1) * numActions);
    const a = actions[i];
    // The taken action's rank: 1 + the actions scored above it (ties: lower ids first).
    let rank = 1, best = 0;
    for (let j = 0; j < numActions; j++) {
      if (row[j] > row[a] || (row[j] === row[a] && j < a)) rank++;
      if (row[j] > row[best]) best = j;
    }
    confusion[a][best]++;
    if (rank === 1) top1++;
    if (rank <= 3) top3++;
    rr += 1 / rank;
  }
  return { n, accuracy: top1 / n, top3: top3 / n, mrr: rr / n, confusion };
}

/** The frame-blind baselines, fitted on `train` actions and scored on `test` ones. */
export function baselineMetrics(
  train: ArrayLike<number>,
  test: ArrayLike<number>,
  numActions: number,
): { majority: ActionMetrics; prior: ActionMetrics } {
  const counts = new Array(numActions).fill(0);
  for (let i = 0; i < train.length; i++) counts[train[i]]++;
  const n = test.length;
  // The prior ranks by frequency; the majority class scores only its one action.
  const prior = new Float64Array(n * numActions);
  const majority = new Float64Array(n * numActions);
  const mode = counts.indexOf(Math.max(...counts));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < numActions; j++) prior[i * numActions + j] = counts[j];
    majority[i * numActions + mode] = 1;
  }
  return {
    majority: actionMetrics(majority, test, numActions),
    prior: actionMetrics(prior, test, numActions),
  };
}
