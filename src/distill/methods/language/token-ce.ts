import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';
import { checkTokens, tokenMean } from './tokens.js';

const options = z.object({}).strict();

/** Next-token cross-entropy of a language model, averaged over the positions that have a label (padding is not scored). */
export const tokenCe: DistillMethod<z.infer<typeof options>> = {
  name: 'token_ce',
  kind: 'label',
  description: 'next-token cross-entropy of a language model on the data, padding masked',
  options,
  teacherOutputs: () => [],
  loss({ student, labels }) {
    checkTokens(student.logits, labels, 'token_ce');
    const g = labels.graph;
    // An unscored position's label (IGNORE) is clamped to a valid id and masked out.
    const idx = op.unsqueeze(op.max(labels, g.initializer('zero_id', op.i64([0], []))), [-1]);
    const nll = op.neg(op.squeeze(op.gatherElements(op.logSoftmax(student.logits, -1), idx, -1), [-1]));
    return tokenMean(nll, labels, 'token_ce');
  },
};
