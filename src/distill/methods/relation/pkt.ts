import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { nodePair, pairMethod } from '../feature/node-options.js';

const options = z.object({ ...nodePair, eps: z.number().positive().default(1e-7) }).strict();

/** Cosine-similarity kernel turned into per-sample conditional probabilities over the batch. */
function conditional(f: Value, eps: number): Value {
  const x = op.flatten(f, 1);
  const xn = op.div(x, op.addScalar(op.sqrt(op.reduceSum(op.mul(x, x), [1], true)), eps));
  const sim = op.scale(op.addScalar(op.gemm(xn, xn, undefined, { transB: true }), 1), 0.5);
  return op.div(sim, op.reduceSum(sim, [1], true));
}

/**
 * Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018): match the teacher's distribution of
 * cosine similarities between samples, KL-style, averaged over all pairs (the official code's
 * `cosine_similarity_loss`). Feature sizes may differ.
 */
export const pkt = pairMethod<z.infer<typeof options>>({
  name: 'pkt',
  kind: 'relation',
  description: 'Passalis & Tefas 2018: probabilistic transfer of cosine-similarity distributions',
  options,
  loss({ student, teacher }, o) {
    const ps = conditional(student[o.studentNode], o.eps),
      pt = conditional(teacher[o.teacherNode], o.eps);
    return op.reduceMean(op.mul(pt, op.log(op.div(op.addScalar(pt, o.eps), op.addScalar(ps, o.eps)))), undefined, false, 'pkt');
  },
});
