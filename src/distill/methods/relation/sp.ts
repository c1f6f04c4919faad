import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { l2Normalize } from '../../../nn/losses.js';
import { nodePair, pairMethod } from '../feature/node-options.js';

const options = z.object({ ...nodePair }).strict();

/** Row-normalised batch similarity (Gram) matrix of flattened features. */
function gram(f: Value): Value {
  const x = op.flatten(f, 1);
  return l2Normalize(op.gemm(x, x, undefined, { transB: true }), 1);
}

/**
 * Similarity-preserving KD (Tung & Mori, ICCV 2019): the student's pairwise similarities within the batch
 * should match the teacher's; ‖G_t − G_s‖²_F / N² (RepDistiller's formulation; the paper's γ = 3000 is the
 * weight). Feature sizes may differ between teacher and student.
 */
export const sp = pairMethod<z.infer<typeof options>>({
  name: 'sp',
  kind: 'relation',
  description: 'Tung & Mori 2019: similarity-preserving, match batch Gram matrices of features',
  options,
  loss({ student, teacher }, o) {
    const d = op.sub(gram(teacher[o.teacherNode]), gram(student[o.studentNode]));
    return op.reduceMean(op.mul(d, d), undefined, false, 'sp');
  },
});
