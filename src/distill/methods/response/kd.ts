import { z } from 'zod';
import { kdKl } from '../../../nn/losses.js';
import type { DistillMethod } from '../../method.js';

const options = z.object({ temperature: z.number().positive().default(4) }).strict();

/**
 * Hinton, Vinyals & Dean (2015): KL(softmax(t/T) ‖ softmax(s/T)) summed over classes, averaged over
 * the batch, times T² so its gradients keep their scale as T changes.
 */
export const kd: DistillMethod<z.infer<typeof options>> = {
  name: 'kd',
  kind: 'response',
  description: 'Hinton et al. 2015: T²·KL between temperature-softened teacher and student distributions',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher }, o) {
    return kdKl(student.logits, teacher.logits, o.temperature, 'kd');
  },
};
