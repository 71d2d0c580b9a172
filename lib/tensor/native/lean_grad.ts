/**
 * Leaner backward passes for tfjs' gradient functions (`tf.variableGrads`, `tf.grad`, ...): each
 * tape node's saved tensors and its outputs' gradients are freed as soon as the backward pass is
 * done with the node, rather than all at once when it ends.
 *
 * Why: tfjs' `engine.gradients` keeps every tensor the forward pass saved for the gradient, and
 * every intermediate gradient it computes, until the last gradient is out. A training step's
 * peak memory is then its saved activations plus every gradient of the whole backward pass
 * (on the I-JEPA reference step, about twice the activations alone). Freed node by node, the
 * peak is about the activations at the end of the forward pass. Nodes off the path from the
 * differentiated variables to the result (an EMA target encoder run inside the gradient scope)
 * free what they saved before the backward pass starts.
 *
 * How: {@linkcode installLeanGradients} wraps the engine's `gradients` method. When the forward
 * function returns, every tape node's gradient function is wrapped so that, when the backward
 * pass moves on to the next node, the previous node's saved tensors, the gradients of its
 * outputs and the partial gradients summed into them are disposed: none is read again (each
 * output belongs to one node and is reached once in the reverse walk). A tensor that a node
 * returned as a gradient of more than one input, or the caller's own seed `dy`, is left to
 * tfjs' own clean-up at the end. Higher-order gradients (a gradient scope inside another) run
 * unchanged.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** The parts of a tfjs tape node read here. */
interface TapeNode {
  id: number;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

/** The parts of tfjs' engine used here. */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  gradients(
    f: () => tf.Tensor,
    xs: tf.Tensor[],
    dy?: tf.Tensor,
    allowNoGradients?: boolean,
  ): { value: tf.Tensor; grads: tf.Tensor[] };
}

/**
 * Ids of the tape nodes on a path from `xs` to `y`: those the backward pass visits (the same
 * rule as tfjs' own filter).
 */
function nodesOnPath(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): Set<number> {
  const fromX = new Set(xs.map((x) => x.id));
  const reached = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      reached.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set([y.id]);
  const onPath = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (!node.outputs.some((o) => toY.has(o.id))) continue;
    for (const t of Object.values(node.inputs)) toY.add(t.id);
    if (reached.has(node.id)) onPath.add(node.id);
  }
  return onPath;
}

function disposeAll(tensors: Iterable<tf.Tensor>, keep: Set<tf.Tensor>): void {
  for (const t of tensors) if (!keep.has(t)) t.dispose();
}

/**
 * Makes a finished tape free memory as its backward pass goes (see the module doc). `seed` is
 * the caller's `dy` (never disposed here).
 */
function leanTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor, seed?: tf.Tensor): void {
  const onPath = nodesOnPath(tape, xs, y);
  // Gradients returned for each tensor (by id); every tensor returned so far, and those
  // returned more than once (never disposed here).
  const partials = new Map<number, tf.Tensor[]>();
  const returned = new Set<tf.Tensor>();
  const shared = new Set<tf.Tensor>(seed ? [seed] : []);
  let finishPrevious: (() => void) | undefined;
  for (const node of tape) {
    const gradient = node.gradient;
    if (!onPath.has(node.id) || !gradient) {
      // Never visited by the backward pass: what it saved is garbage already.
      disposeAll(node.saved ?? [], new Set());
      continue;
    }
    node.gradient = (dys) => {
      finishPrevious?.();
      const produced: tf.Tensor[] = [];
      const thunks = gradient(dys);
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [name, thunk] of Object.entries(thunks)) {
        wrapped[name] = () => {
          const dx = thunk();
          produced.push(dx);
          if (returned.has(dx)) shared.add(dx);
          returned.add(dx);
          const id = node.inputs[name].id;
          partials.set(id, [...(partials.get(id) ?? []), dx]);
          return dx;
        };
      }
      finishPrevious = () => {
        // Anything this node handed back, or that was handed back more than once, stays.
        const keep = new Set([...produced, ...shared]);
        const done = dys.filter((dy): dy is tf.Tensor => dy != null);
        for (const o of node.outputs) {
          done.push(...(partials.get(o.id) ?? []));
          partials.delete(o.id);
        }
        disposeAll(new Set(done), keep);
        disposeAll(node.saved ?? [], keep);
        for (const t of done) returned.delete(t);
      };
      return wrapped;
    };
  }
}

let installed = false;

/**
 * Wraps tfjs' `engine.gradients` so that outermost gradient scopes free memory as their
 * backward pass goes, while `active()` holds (checked per call). Installed once per process.
 */
export function installLeanGradients(active: () => boolean): void {
  if (installed) return;
  installed = true;
  const engine = tf.engine() as unknown as EngineInternals;
  const gradients = engine.gradients.bind(engine);
  engine.gradients = (f, xs, dy, allowNoGradients) => {
    if (engine.state.gradientDepth > 0 || !active()) {
      return gradients(f, xs, dy, allowNoGradients);
    }
    const lean = () => {
      const y = f();
      if (y instanceof tf.Tensor && engine.state.activeTape) {
        leanTape(engine.state.activeTape, xs, y, dy);
      }
      return y;
    };
    return gradients(lean, xs, dy, allowNoGradients);
  };
}
