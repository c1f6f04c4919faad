import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { DistillMethod } from '../../method.js';

const options = z
  .object({
    temperature: z.number().positive().default(1),
    /** Weight of the inter-class relation (per sample, across classes). */
    beta: z.number().min(0).default(1),
    /** Weight of the intra-class relation (per class, across the batch). */
    gamma: z.number().min(0).default(1),
  })
  .strict();

/** 1 − mean Pearson correlation between matching rows of a and b (official code: cosine of mean-centred rows, eps 1e-8). */
function oneMinusPearson(a: Value, b: Value): Value {
  const ac = op.sub(a, op.reduceMean(a, [1], true)),
    bc = op.sub(b, op.reduceMean(b, [1], true));
  const dot = op.reduceSum(op.mul(ac, bc), [1]);
  const norm = (v: Value) => op.sqrt(op.reduceSum(op.mul(v, v), [1]));
  const corr = op.div(dot, op.addScalar(op.mul(norm(ac), norm(bc)), 1e-8));
  return op.sub(op.scalar(a.graph, 1), op.reduceMean(corr));
}

/**
 * DIST (Huang et al., NeurIPS 2022): match the teacher's predictions by correlation rather than exact
 * probabilities, both across classes for each sample (inter) and across samples for each class (intra),
 * each × T².
 */
export const dist: DistillMethod<z.infer<typeof options>> = {
  name: 'dist',
  kind: 'response',
  description: 'Huang et al. 2022: Pearson-correlation matching of predictions, inter-class + intra-class',
  options,
  teacherOutputs: () => ['logits'],
  loss({ student, teacher }, o) {
    const T = o.temperature;
    const ys = op.softmax(op.scale(student.logits, 1 / T), 1),
      yt = op.softmax(op.scale(teacher.logits, 1 / T), 1);
    const inter = oneMinusPearson(ys, yt);
    const intra = oneMinusPearson(op.transpose(ys, [1, 0]), op.transpose(yt, [1, 0]));
    return op.scale(op.add(op.scale(inter, o.beta), op.scale(intra, o.gamma)), T * T, 'dist');
  },
};
