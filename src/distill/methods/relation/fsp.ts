import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod } from '../../method.js';

const options = z
  .object({
    /** Two teacher nodes [lower, upper] whose flow is matched. */
    teacherNodes: z.tuple([z.string().min(1), z.string().min(1)]),
    /** The student's corresponding two nodes. */
    studentNodes: z.tuple([z.string().min(1), z.string().min(1)]),
  })
  .strict();

/**
 * Flow matrix between two feature maps: [N, C_upper, C_lower] = upper · lowerᵀ / (H·W), after average-pooling the
 * lower map to the upper's size.
 */
function flow(lower: Value, upper: Value, names: readonly string[]): Value {
  const [hl, wl, hu, wu] = [lower.shape[2], lower.shape[3], upper.shape[2], upper.shape[3]] as number[];
  let lo = lower;
  if (hl !== hu || wl !== wu) {
    if (hl % hu || wl % wu)
      throw new KdError(
        'SHAPE_MISMATCH',
        `fsp: node '${names[0]}' (${hl}×${wl}) cannot be pooled exactly to ` +
          `node '${names[1]}' (${hu}×${wu}); pick layers whose sizes divide`,
      );
    lo = op.avgPool(lower, { kernel: [hl / hu, wl / wu] });
  }
  const hw = hu * wu;
  return op.scale(op.matmul(op.reshape(upper, [0, 0, -1]), op.transpose(op.reshape(lo, [0, 0, -1]), [0, 2, 1])), 1 / hw);
}

/**
 * FSP (Yim et al., CVPR 2017): the "flow" between two layers — the Gram matrix of their channels —
 * of the student should match the teacher's (RepDistiller's FSP: the lower map average-pooled to the upper
 * map's size, mean squared difference). Channel counts must match pairwise.
 */
export const fsp: DistillMethod<z.infer<typeof options>> = {
  name: 'fsp',
  kind: 'relation',
  description: 'Yim et al. 2017: flow of solution procedure, Gram matrices between two layers',
  options,
  teacherOutputs: (o) => [...o.teacherNodes],
  studentNodes: (o) => [...o.studentNodes],
  loss({ student, teacher }, o) {
    const s = o.studentNodes.map((n) => student[n]),
      t = o.teacherNodes.map((n) => teacher[n]);
    s.forEach((v, i) => {
      if (v.rank !== 4 || t[i].rank !== 4 || v.shape[1] !== t[i].shape[1])
        throw new KdError(
          'SHAPE_MISMATCH',
          `fsp: student node '${o.studentNodes[i]}' [${v.shape.join(', ')}] and teacher node ` +
            `'${o.teacherNodes[i]}' [${t[i].shape.join(', ')}] must be feature maps with the same channel count`,
        );
    });
    const d = op.sub(flow(s[0], s[1], o.studentNodes), flow(t[0], t[1], o.teacherNodes));
    return op.reduceMean(op.mul(d, d), undefined, false, 'fsp');
  },
};
