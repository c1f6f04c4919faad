import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import { crossEntropy } from '../../../nn/losses.js';
import { classesOption, pickClasses, pickTargets } from '../../class-subset.js';
import type { DistillMethod } from '../../method.js';

const options = z.object({ labelSmoothing: z.number().min(0).max(1).default(0), classes: classesOption }).strict();

/**
 * Cross-entropy with the hard labels (optionally label-smoothed, as PyTorch's label_smoothing). With
 * `classes`, the softmax runs over those outputs only (a task head in lifelong learning); samples whose
 * label is not among them add nothing.
 */
export const ce: DistillMethod<z.infer<typeof options>> = {
  name: 'ce',
  kind: 'label',
  description: 'cross-entropy with the ground-truth labels (optional label smoothing)',
  options,
  teacherOutputs: () => [],
  loss({ student, labels }, o) {
    const logits = pickClasses(student.logits, o.classes, 'ce');
    const hard = o.classes
      ? op.neg(
          op.reduceMean(
            op.reduceSum(op.mul(pickTargets(labels, student.logits.shape[1] as number, o.classes), op.logSoftmax(logits, -1)), [-1]),
          ),
          'ce_hard',
        )
      : crossEntropy(logits, labels, 'ce_hard');
    if (!o.labelSmoothing) return hard;
    // Smoothing mixes in the uniform target: (1 − ε)·CE + ε·mean over classes of −log p.
    const uniform = op.neg(op.reduceMean(op.reduceMean(op.logSoftmax(logits, -1), [-1])));
    return op.add(op.scale(hard, 1 - o.labelSmoothing), op.scale(uniform, o.labelSmoothing), 'ce');
  },
};
