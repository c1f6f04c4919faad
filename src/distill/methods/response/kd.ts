import { z } from 'zod';
import { kdKl } from '../../../nn/losses.js';
import { classesOption, pickClasses } from '../../class-subset.js';
import type { DistillMethod } from '../../method.js';

const options = z.object({ temperature: z.number().positive().default(4), classes: classesOption }).strict();

/**
 * Hinton, Vinyals & Dean (2015): KL(softmax(t/T) ‖ softmax(s/T)) summed over classes, averaged over
 * the batch, times T² so its gradients keep their scale as T changes. With `classes`, both
 * distributions are over those outputs only (LwF's old-task head, a specialist teacher's classes).
 */
export const kd: DistillMethod<z.infer<typeof options>> = {
  name: 'kd',
  kind: 'response',
  description: 'Hinton et al. 2015: T²·KL between temperature-softened teacher and student distributions',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher }, o) {
    return kdKl(pickClasses(student.logits, o.classes, 'kd'), pickClasses(teacher.logits, o.classes, 'kd'), o.temperature, 'kd');
  },
};
