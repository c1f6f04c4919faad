import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';
import { checkTokens, generalizedJsd, tokenMean } from './tokens.js';

const options = z.object({ temperature: z.number().positive().default(1) }).strict();

/**
 * Token-level reverse KL(p_S ‖ p_T), averaged over labelled positions: mode-seeking, so the student concentrates on
 * what the teacher finds likely instead of covering all of it (MiniLLM, Gu et al. 2024, motivates it for generation;
 * this is the per-token divergence, not MiniLLM's policy-gradient objective).
 */
export const reverseKl: DistillMethod<z.infer<typeof options>> = {
  name: 'reverse_kl',
  kind: 'response',
  description: 'per-token reverse KL(student ‖ teacher) of a language model, padding masked',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher, labels }, o) {
    checkTokens(student.logits, labels, 'reverse_kl');
    return op.identity(tokenMean(generalizedJsd(student.logits, teacher.logits, 1, o.temperature), labels), 'reverse_kl');
  },
};
