import type { Graph, Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { KdError } from '../util/errors.js';
import { gradRule, isNonDifferentiable, type GradContext } from './rule.js';
import './rules/index.js';

/**
 * Appends to `g` the reverse-mode gradient of the scalar `loss` with respect to each value in `wrt`
 * (parameters or graph inputs alike) and returns them by name. Values with no path to the loss get
 * an explicit zero gradient so callers can treat every parameter alike.
 */
export function gradients(loss: Value, wrt: readonly Value[], opts: { seed?: Value } = {}): Map<string, Value> {
  const g = loss.graph;
  const targets = new Set(wrt.map((v) => v.name));
  const dependsOnTarget = forwardReach(g, targets);
  const relevant = backwardReach(g, loss.name, dependsOnTarget);

  const grads = new Map<string, Value[]>();
  const push = (name: string, v: Value) => {
    const l = grads.get(name);
    if (l) l.push(v);
    else grads.set(name, [v]);
  };
  push(loss.name, opts.seed ?? (loss.rank === 0 ? op.scalar(g, 1, 'grad_seed') : op.expandLike(op.scalar(g, 1, 'grad_seed'), loss)));

  const total = (name: string): Value | undefined => {
    const l = grads.get(name);
    if (!l || l.length === 0) return undefined;
    if (l.length === 1) return l[0];
    const s = l.reduce((a, b) => op.add(a, b));
    grads.set(name, [s]);
    return s;
  };

  const skip = new Set<(typeof g.nodes)[number]>();
  g.scoped('grad', () => {
    for (let k = g.nodes.length - 1; k >= 0; k--) {
      const node = g.nodes[k];
      if (!relevant.has(node) || skip.has(node)) continue;
      const custom = g.customGrads.get(node.outputs[0]);
      if (custom) {
        for (const n of custom.internal) skip.add(n);
        const dy = total(node.outputs[0]);
        if (!dy) continue;
        const dxs = g.scoped(node.name.replace(/\//g, '.'), () => custom.grad(dy));
        custom.inputs.forEach((n, i) => {
          const d = dxs[i];
          if (d && dependsOnTarget.has(n)) push(n, d);
        });
        continue;
      }
      const dys = node.outputs.map(total);
      if (dys.every((d) => !d)) continue;
      if (isNonDifferentiable(node.opType)) continue;
      const rule = gradRule(node.opType);
      if (!rule) {
        throw new KdError(
          'NO_GRADIENT',
          `cannot differentiate op '${node.opType}' (node '${node.name}'): kdistill has no gradient ` +
            'rule for it. Freeze the part of the model that contains it, or file an issue naming the op.',
        );
      }
      const ctx: GradContext = {
        g,
        node,
        x: (i) => g.value(node.inputs[i]),
        y: (i) => g.value(node.outputs[i]),
        needs: node.inputs.map((n) => n !== '' && dependsOnTarget.has(n)),
      };
      const dxs = g.scoped(node.name.replace(/\//g, '.'), () => rule(ctx, dys));
      node.inputs.forEach((n, i) => {
        const d = dxs[i];
        if (d && ctx.needs[i]) push(n, d);
      });
    }
  });

  const out = new Map<string, Value>();
  for (const v of wrt) out.set(v.name, total(v.name) ?? g.scoped('grad', () => op.zerosLike(v, `zero_${v.name}`)));
  return out;
}

/**
 * Values computed (transitively) from any target. A hand-differentiated subgraph's output depends on the inputs its
 * gradient is given for, even where its forward ops carry none (the Round inside fake quantisation).
 */
function forwardReach(g: Graph, targets: Set<string>): Set<string> {
  const reach = new Set(targets);
  for (const n of g.nodes) {
    const custom = g.customGrads.get(n.outputs[0]);
    if (custom?.inputs.some((i) => reach.has(i))) for (const o of n.outputs) reach.add(o);
    if (isNonDifferentiable(n.opType)) continue;
    if (n.inputs.some((i) => reach.has(i))) for (const o of n.outputs) reach.add(o);
  }
  return reach;
}

/** Nodes that both depend on a target and feed the loss. */
function backwardReach(g: Graph, loss: string, dependsOnTarget: Set<string>) {
  const needed = new Set([loss]);
  const nodes = new Set<(typeof g.nodes)[number]>();
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    if (!n.outputs.some((o) => dependsOnTarget.has(o))) continue;
    nodes.add(n);
    for (const i of [...n.inputs, ...(g.customGrads.get(n.outputs[0])?.inputs ?? [])]) if (dependsOnTarget.has(i)) needed.add(i);
  }
  return nodes;
}
