import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { l2Normalize } from '../../../nn/losses.js';
import { nodePair, pairMethod } from '../feature/node-options.js';

const options = z
  .object({
    ...nodePair,
    /** Weight of the distance-wise term (the paper's 25). */
    distanceWeight: z.number().min(0).default(25),
    /** Weight of the angle-wise term (the paper's 50). */
    angleWeight: z.number().min(0).default(50),
  })
  .strict();

/** Huber loss with threshold 1, averaged (PyTorch's smooth_l1_loss). */
function smoothL1(a: Value, b: Value): Value {
  const d = op.abs(op.sub(a, b));
  const g = a.graph;
  return op.reduceMean(op.where(op.less(d, op.scalar(g, 1)), op.scale(op.mul(d, d), 0.5), op.addScalar(d, -0.5)));
}

/** Pairwise Euclidean distances, diagonal exactly 0, divided by the mean of the off-diagonal ones (the official pdist + normalisation). */
function normalisedDistances(e: Value): Value {
  const g = e.graph;
  const sq = op.reduceSum(op.mul(e, e), [1]);
  const prod = op.gemm(e, e, undefined, { transB: true });
  const d2 = op.sub(op.add(op.unsqueeze(sq, [1]), op.unsqueeze(sq, [0])), op.scale(prod, 2));
  const offDiag = op.sub(op.scalar(g, 1), g.node('EyeLike', [d2], {})[0]);
  const d = op.mul(op.sqrt(op.max(d2, op.scalar(g, 1e-12))), offDiag);
  // max(count, 1): a batch of one has no pairs, and its distance term is then 0 rather than 0/0.
  const count = op.max(op.reduceSum(op.cast(op.greater(d, op.scalar(g, 0)), 'float32')), op.scalar(g, 1));
  const mean = op.max(op.div(op.reduceSum(d), count), op.scalar(g, 1e-12));
  return op.div(d, mean);
}

/** Cosines of the angles ∠(e_i, e_j, e_k) for all triplets: normalised differences, then batched dot products. */
function angles(e: Value): Value {
  const u = l2Normalize(op.sub(op.unsqueeze(e, [0]), op.unsqueeze(e, [1])), 2); // [N, N, D]: (e_j − e_i) normalised
  return op.matmul(u, op.transpose(u, [0, 2, 1])); // [N, N, N]
}

/**
 * Relational KD (Park et al., CVPR 2019): the student keeps the teacher's distances between samples
 * and the angles they form, each compared with smooth-L1 (the official code's RkdDistance and RKdAngle,
 * flattened features). Feature sizes may differ.
 */
export const rkd = pairMethod<z.infer<typeof options>>({
  name: 'rkd',
  kind: 'relation',
  description: 'Park et al. 2019: relational KD, distance-wise and angle-wise potentials',
  options,
  loss({ student, teacher }, o) {
    const s = op.flatten(student[o.studentNode], 1),
      t = op.flatten(teacher[o.teacherNode], 1);
    const dist = smoothL1(normalisedDistances(s), normalisedDistances(t));
    const angle = smoothL1(angles(s), angles(t));
    return op.add(op.scale(dist, o.distanceWeight), op.scale(angle, o.angleWeight), 'rkd');
  },
});
