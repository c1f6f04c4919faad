import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';

const options = z.object({}).strict();

/** Ba & Caruana (2014): regress the teacher's logits; mean squared error over all elements (PyTorch's mse_loss). */
export const logitMse: DistillMethod<z.infer<typeof options>> = {
  name: 'logit_mse',
  kind: 'response',
  description: 'Ba & Caruana 2014: mean squared error between student and teacher logits',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher }) {
    const d = op.sub(student.logits, teacher.logits);
    return op.reduceMean(op.mul(d, d), undefined, false, 'logit_mse');
  },
};
