import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { Conv2d } from '../../../nn/layers/conv.js';
import { Linear } from '../../../nn/layers/linear.js';
import { BatchNorm } from '../../../nn/layers/norm.js';
import { KdError } from '../../../util/errors.js';
import { nodePair, pairMethod, requireAux } from './node-options.js';

const options = z.object({ ...nodePair }).strict();

/**
 * FitNets (Romero et al., ICLR 2015): the student's hint layer, passed through a trainable regressor,
 * regresses the teacher's guided layer (mean squared error). The regressor follows RepDistiller's
 * ConvReg — 1×1 conv (3×3 stride 2 when the student map is twice the teacher's size), BatchNorm, ReLU —
 * or a linear map for flat features; it trains with the student and is dropped at export. The paper's
 * two-stage schedule (hint pre-training, then KD) needs multi-stage runs, which are not built yet; used as
 * one term beside ce/kd it is the common single-stage variant.
 */
export const fitnets = pairMethod<z.infer<typeof options>>({
  name: 'fitnets',
  kind: 'feature',
  description: 'Romero et al. 2015: hint regression through a trainable regressor (adapter, dropped at export)',
  options,
  loss({ student, teacher, aux: maybeAux }, o) {
    const aux = requireAux('fitnets', 'a regressor', maybeAux);
    const s = student[o.studentNode], t = teacher[o.teacherNode];
    const cs = s.shape[1] as number, ct = t.shape[1] as number;
    let r: Value;
    if (s.rank === 2 && t.rank === 2) r = new Linear('regressor', cs, ct).apply(aux, s);
    else if (s.rank === 4 && t.rank === 4) {
      const [hs, ht, ws, wt] = [s.shape[2], t.shape[2], s.shape[3], t.shape[3]];
      const stride = hs === ht && ws === wt ? 1 : hs === (ht as number) * 2 && ws === (wt as number) * 2 ? 2 : 0;
      if (!stride)
        throw new KdError('SHAPE_MISMATCH', `fitnets: student node '${o.studentNode}' is [${s.shape.join(', ')}], teacher node '${o.teacherNode}' is [${t.shape.join(', ')}]; the regressor maps equal sizes (1×1 conv) or halves the student's (3×3 stride-2 conv) — pick nodes that fit one of these`);
      let h = new Conv2d('regressor', cs, ct, stride === 1 ? { kernel: 1, bias: false } : { kernel: 3, stride: 2, padding: 1, bias: false }).apply(aux, s);
      h = new BatchNorm('regressor_bn', ct).apply(aux, h);
      r = op.relu(h);
    } else throw new KdError('SHAPE_MISMATCH', `fitnets: student node '${o.studentNode}' [${s.shape.join(', ')}] and teacher node '${o.teacherNode}' [${t.shape.join(', ')}] must both be feature maps [N, C, H, W] or both flat [N, D]`);
    const d = op.sub(r, t);
    return op.reduceMean(op.mul(d, d), undefined, false, 'fitnets');
  },
});
