import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { attrInt } from '../../graph/shape-infer.js';
import { registerGrad, unbroadcast } from '../rule.js';

/** Swaps the last two axes. */
function t(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return op.transpose(x, perm);
}

registerGrad('MatMul', (c, [dy]) => {
  const a = c.x(0),
    b = c.x(1);
  let da: Value | undefined, db: Value | undefined;
  if (a.rank === 2 && b.rank === 2) {
    // Gemm's transpose flags let MLAS read the operands transposed without a Transpose node.
    if (c.needs[0]) da = op.gemm(dy!, b, undefined, { transB: true });
    if (c.needs[1]) db = op.gemm(a, dy!, undefined, { transA: true });
    return [da, db];
  }
  if (c.needs[0]) da = unbroadcast(op.matmul(dy!, b.rank === 2 ? op.transpose(b, [1, 0]) : t(b)), a);
  if (c.needs[1]) {
    if (b.rank === 2) {
      // A shared weight [K, M] under a batched A: fold every batch axis into the rows.
      const k = a.shape[a.rank - 1] as number,
        m = b.shape[1] as number;
      db = op.gemm(op.reshape(a, [-1, k]), op.reshape(dy!, [-1, m]), undefined, { transA: true });
    } else db = unbroadcast(op.matmul(a.rank === 2 ? op.transpose(a, [1, 0]) : t(a), dy!), b);
  }
  return [da, db];
});

registerGrad('Gemm', (c, [dy]) => {
  const a = c.x(0),
    b = c.x(1);
  const ta = attrInt(c.node, 'transA', 0) === 1,
    tb = attrInt(c.node, 'transB', 0) === 1;
  const alpha = attrInt(c.node, 'alpha', 1),
    beta = attrInt(c.node, 'beta', 1);
  const g = alpha === 1 ? dy! : op.scale(dy!, alpha);
  // Y = op(A)·op(B): dA = dY·op(B)ᵀ (transposed back if A was), dB likewise.
  const da = !c.needs[0]
    ? undefined
    : ta
      ? op.gemm(b, g, undefined, { transA: tb, transB: true })
      : op.gemm(g, b, undefined, { transB: !tb });
  const db = !c.needs[1]
    ? undefined
    : tb
      ? op.gemm(g, a, undefined, { transA: true, transB: ta })
      : op.gemm(a, g, undefined, { transA: !ta });
  let dc: Value | undefined;
  if (c.node.inputs[2] && c.needs[2]) dc = unbroadcast(beta === 1 ? dy! : op.scale(dy!, beta), c.x(2));
  return [da, db, dc];
});
