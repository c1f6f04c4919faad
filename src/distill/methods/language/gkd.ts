import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';
import { checkTokens, generalizedJsd, tokenMean } from './tokens.js';

const options = z
  .object({
    /** Mixture weight of the teacher: 0 is forward KL, 1 reverse KL, 0.5 the Jensen–Shannon divergence. */
    beta: z.number().min(0).max(1).default(0.5),
    temperature: z.number().positive().default(1),
  })
  .strict();

/**
 * Generalised Jensen–Shannon divergence per token (Agarwal et al., ICLR 2024, "On-Policy Distillation of Language
 * Models: Learning from Self-Generated Mistakes"), as TRL's GKDTrainer computes it: β·KL(p_T ‖ M) + (1−β)·KL(p_S ‖ M)
 * with M = β·p_T + (1−β)·p_S, averaged over labelled positions, no T² factor. On-policy batches (the student's own
 * samples) are the trainer's `onPolicy` option; this is the divergence.
 */
export const gkd: DistillMethod<z.infer<typeof options>> = {
  name: 'gkd',
  kind: 'response',
  description: 'Agarwal et al. 2024 (GKD): generalised JSD(β) per token of a language model, padding masked',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher, labels }, o) {
    checkTokens(student.logits, labels, 'gkd');
    return op.identity(tokenMean(generalizedJsd(student.logits, teacher.logits, o.beta, o.temperature), labels), 'gkd');
  },
};
