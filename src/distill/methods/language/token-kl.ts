import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';
import { checkTokens, generalizedJsd, teacherTopk, tokenMean, topkKl } from './tokens.js';

const options = z
  .object({
    temperature: z.number().positive().default(1),
    /** Distil from the teacher's k most likely tokens per position (renormalised); 0: the whole vocabulary. */
    topk: z.int().min(0).default(0),
  })
  .strict();

/**
 * Token-level forward KL: Hinton et al.'s KD at every position of a language model, T²·KL(p_T ‖ p_S) summed over the
 * vocabulary and averaged over labelled positions (padding masked). With `topk`, the teacher's distribution is its k
 * most likely tokens renormalised, compared with the student's full-vocabulary log-probabilities at those tokens
 * (DistillKit's sparse form): from live logits, or from the top-k a teacher cache stored, with the same result.
 */
export const tokenKl: DistillMethod<z.infer<typeof options>> = {
  name: 'token_kl',
  kind: 'response',
  description: 'Hinton et al. 2015 per token of a language model: T²·KL(teacher ‖ student), padding masked; topk: from the top-k',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher, labels }, o) {
    checkTokens(student.logits, labels, 'token_kl');
    const per =
      o.topk > 0
        ? topkKl(student.logits, teacherTopk(teacher, o.topk), o.temperature)
        : generalizedJsd(student.logits, teacher.logits, 0, o.temperature);
    return op.scale(tokenMean(per, labels), o.temperature ** 2, 'token_kl');
  },
};
