import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { l2Normalize } from '../../../nn/losses.js';
import { nodePair, pairMethod, requireSameSpatial } from './node-options.js';

const options = z.object({ ...nodePair }).strict();

/** Mean of the squared-dot-product (polynomial, d = 2, c = 0) kernel between the channel vectors of a and b. */
function polyKernelMean(a: Value, b: Value): Value {
  const k = op.matmul(b, op.transpose(a, [0, 2, 1])); // [N, Cb, Ca]
  return op.reduceMean(op.mul(k, k));
}

/**
 * Neuron selectivity transfer (Huang & Wang, 2017): match the distributions of the channels' spatial
 * activation patterns by maximum mean discrepancy with a polynomial kernel, on L2-normalised channels
 * (RepDistiller's NSTLoss with its full MMD). Channel counts may differ; resolutions must match.
 */
export const nst = pairMethod<z.infer<typeof options>>({
  name: 'nst',
  kind: 'feature',
  description: 'Huang & Wang 2017: neuron selectivity transfer, polynomial-kernel MMD of channel activations',
  options,
  loss({ student, teacher }, o) {
    const s0 = student[o.studentNode],
      t0 = teacher[o.teacherNode];
    requireSameSpatial('nst', o, s0, t0);
    const s = l2Normalize(op.reshape(s0, [0, 0, -1]), 2),
      t = l2Normalize(op.reshape(t0, [0, 0, -1]), 2);
    return op.sub(op.add(polyKernelMean(t, t), polyKernelMean(s, s)), op.scale(polyKernelMean(s, t), 2), 'nst');
  },
});
