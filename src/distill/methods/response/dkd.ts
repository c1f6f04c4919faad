import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';

const options = z
  .object({
    temperature: z.number().positive().default(4),
    /** Weight of the target-class term (TCKD). */
    alpha: z.number().min(0).default(1),
    /** Weight of the non-target term (NCKD); 8 is the paper's CIFAR-100 setting. */
    beta: z.number().min(0).default(8),
  })
  .strict();

/**
 * Decoupled KD (Zhao et al., CVPR 2022): KD split into a binary target-vs-rest term (TCKD) and a KL over
 * the non-target classes (NCKD), weighted separately. Follows the official code: the non-target
 * distributions come from logits with the target pushed down by 1000, both terms × T², summed over
 * classes and averaged over the batch. The paper's linear warm-up of the weight is left to the schedule.
 */
export const dkd: DistillMethod<z.infer<typeof options>> = {
  name: 'dkd',
  kind: 'response',
  description: 'Zhao et al. 2022: decoupled KD, alpha·TCKD (target vs rest) + beta·NCKD (non-target classes)',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher, labels }, o) {
    const T = o.temperature;
    const C = student.logits.shape[student.logits.rank - 1] as number;
    const gt = op.oneHot(labels, C);
    const other = op.sub(op.scalar(gt.graph, 1), gt);
    const ps = op.softmax(op.scale(student.logits, 1 / T), -1),
      pt = op.softmax(op.scale(teacher.logits, 1 / T), -1);
    // Binary (target, rest) probabilities.
    const binary = (p: Value) => op.concat([op.reduceSum(op.mul(p, gt), [-1], true), op.reduceSum(op.mul(p, other), [-1], true)], 1);
    const bs = binary(ps),
      bt = binary(pt);
    const klSum = (pT: Value, logPT: Value, logPS: Value) => op.reduceMean(op.reduceSum(op.mul(pT, op.sub(logPT, logPS)), [-1]));
    const tckd = klSum(bt, op.log(bt), op.log(bs));
    const masked = (z: Value) => op.sub(op.scale(z, 1 / T), op.scale(gt, 1000));
    const lpt2 = op.logSoftmax(masked(teacher.logits), -1),
      lps2 = op.logSoftmax(masked(student.logits), -1);
    const nckd = klSum(op.exp(lpt2), lpt2, lps2);
    return op.scale(op.add(op.scale(tckd, o.alpha), op.scale(nckd, o.beta)), T * T, 'dkd');
  },
};
