import { z } from 'zod';
import * as op from '../../../graph/ops.js';
import { Linear } from '../../../nn/layers/linear.js';
import { l2Normalize } from '../../../nn/losses.js';
import { nodePair, pairMethod, requireAux } from '../feature/node-options.js';

const options = z.object({ ...nodePair, embedDim: z.number().int().positive().default(128) }).strict();

/**
 * Correlation congruence (Peng et al., ICCV 2019) as RepDistiller implements it: student and teacher
 * features are embedded by trainable linear maps to a common size and L2-normalised, and the loss is the
 * mean over consecutive sample pairs of Σ |Δ_i|·|Δ_{i+1}| with Δ = f_s − f_t. Both embeddings are adapters
 * (trained with the student, dropped at export).
 */
export const cc = pairMethod<z.infer<typeof options>>({
  name: 'cc',
  kind: 'relation',
  description: "Peng et al. 2019: correlation congruence (RepDistiller's form, trainable embeddings)",
  options,
  loss({ student, teacher, aux: maybeAux }, o) {
    const aux = requireAux('cc', 'embeddings', maybeAux);
    const s = op.flatten(student[o.studentNode], 1),
      t = op.flatten(teacher[o.teacherNode], 1);
    const fs = l2Normalize(new Linear('embed_s', s.shape[1] as number, o.embedDim).apply(aux, s), 1);
    const ft = l2Normalize(new Linear('embed_t', t.shape[1] as number, o.embedDim).apply(aux, t), 1);
    const delta = op.abs(op.sub(fs, ft));
    // Consecutive pairs: rows 0..N−2 against rows 1..N−1.
    const big = 2 ** 62;
    const prod = op.mul(op.slice(delta, [0], [-1], [0]), op.slice(delta, [1], [big], [0]));
    return op.reduceMean(op.reduceSum(prod, [1]), undefined, false, 'cc');
  },
});
