import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { l2Normalize } from '../../../nn/losses.js';
import { nodePair, pairMethod, requireSameSpatial } from './node-options.js';

const options = z.object({ ...nodePair, p: z.number().positive().default(2) }).strict();

/** Spatial attention map: channel mean of |f|^p, flattened and L2-normalised per sample (F.normalize, eps 1e-12). */
function attention(f: Value, p: number): Value {
  return l2Normalize(op.reshape(op.reduceMean(p === 2 ? op.mul(f, f) : op.pow(op.abs(f), op.scalar(f.graph, p)), [1]), [0, -1]), 1);
}

/**
 * Attention transfer (Zagoruyko & Komodakis, ICLR 2017): match the normalised spatial attention maps
 * of a student and a teacher feature map, mean squared difference (the official code's `at_loss`;
 * the paper's β = 1000 is the term's weight in the config). Channel counts may differ.
 */
export const at = pairMethod<z.infer<typeof options>>({
  name: 'at',
  kind: 'feature',
  description: 'Zagoruyko & Komodakis 2017: attention transfer between feature maps of equal resolution',
  options,
  loss({ student, teacher }, o) {
    const s = student[o.studentNode],
      t = teacher[o.teacherNode];
    requireSameSpatial('at', o, s, t);
    const d = op.sub(attention(s, o.p), attention(t, o.p));
    return op.reduceMean(op.mul(d, d), undefined, false, 'at');
  },
});
