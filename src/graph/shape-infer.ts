/**
 * Shape inference for every op kdistill emits: the registry and shared helpers live in infer/core.ts, the rules in
 * infer/math-rules.ts and infer/shape-rules.ts (imported here for their registrations).
 */
import { KdError } from '../util/errors.js';
import type { Graph } from './graph.js';
import { rules } from './infer/core.js';
import './infer/math-rules.js';
import './infer/shape-rules.js';
import type { Node, ValueInfo } from './types.js';

export { attrInt, attrInts, broadcastShapes, normAxis, shapeInput } from './infer/core.js';

/** Infers the output types of `node`; every op kdistill emits has a rule, so a missing one is a bug or an unsupported op. */
export function inferShapes(g: Graph, node: Node, ins: (ValueInfo | undefined)[]): ValueInfo[] {
  const r = rules.get(node.opType);
  if (!r) throw new KdError('UNSUPPORTED_OP', `no shape inference for op '${node.opType}' (node '${node.name}')`);
  return r(g, node, ins);
}
