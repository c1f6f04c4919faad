import type { Graph, Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import type { Node } from '../graph/types.js';
import { isStatic } from '../graph/types.js';

/** What a gradient rule sees: the forward node, its input/output values, and which inputs need a gradient. */
export interface GradContext {
  readonly g: Graph;
  readonly node: Node;
  /** Forward input i (undefined for an omitted optional input). */
  x(i: number): Value;
  /** Forward output i. */
  y(i: number): Value;
  /** Whether input i lies on a path to a value whose gradient was requested. */
  readonly needs: readonly boolean[];
}

/**
 * A gradient rule: given the gradients of a node's outputs (undefined where no gradient flows),
 * returns one gradient per input (undefined where none is needed). Emits standard ONNX ops only.
 */
export type GradRule = (ctx: GradContext, dy: readonly (Value | undefined)[]) => (Value | undefined)[];

const registry = new Map<string, GradRule>();
/** Ops whose outputs carry no gradient (indices, shapes, comparisons). */
const nonDifferentiable = new Set([
  'Shape',
  'Size',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'ArgMax',
  'ArgMin',
  'ConstantOfShape',
  'Constant',
  'Sign',
  'Round',
  'Floor',
  'OneHot',
  'EyeLike',
]);

/** Registers the rule for an op type (one line per op in each rules file). */
export function registerGrad(opType: string, rule: GradRule): void {
  registry.set(opType, rule);
}
export function gradRule(opType: string): GradRule | undefined {
  return registry.get(opType);
}
export function isNonDifferentiable(opType: string): boolean {
  return nonDifferentiable.has(opType);
}

/**
 * Sums a broadcast gradient back to the shape of the operand it flowed from
 * (reduce over the axes broadcasting added or stretched).
 */
export function unbroadcast(dy: Value, target: Value): Value {
  const ds = dy.shape,
    ts = target.shape;
  if (ds.length === ts.length && ds.every((d, i) => d === ts[i])) return dy;
  const lead = ds.length - ts.length;
  const axes: number[] = [];
  for (let i = 0; i < ds.length; i++) {
    if (i < lead) axes.push(i);
    else if (ts[i - lead] === 1 && ds[i] !== 1) axes.push(i);
  }
  let r = axes.length ? op.reduceSum(dy, axes, true) : dy;
  if (lead > 0 || r.shape.some((d, i) => d !== ts[i - lead])) r = isStatic(ts) ? op.reshape(r, ts as number[]) : op.reshapeLike(r, target);
  return r;
}
