import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { BuildContext } from '../../../nn/context.js';
import { Conv2d } from '../../../nn/layers/conv.js';
import { Linear } from '../../../nn/layers/linear.js';
import { BatchNorm } from '../../../nn/layers/norm.js';
import { KdError } from '../../../util/errors.js';

/**
 * RepDistiller's ConvReg connector from a student feature to a teacher feature's shape, declared in `aux`:
 * 1×1 conv (3×3 stride 2 when the student map is twice the teacher's size), BatchNorm, optionally ReLU;
 * a linear map for flat features. Any other pair of shapes is refused, naming both nodes.
 */
export function convReg(
  method: string,
  aux: BuildContext,
  s: Value,
  t: Value,
  names: { studentNode: string; teacherNode: string },
  relu: boolean,
): Value {
  const cs = s.shape[1] as number,
    ct = t.shape[1] as number;
  if (s.rank === 2 && t.rank === 2) return new Linear('regressor', cs, ct).apply(aux, s);
  if (s.rank !== 4 || t.rank !== 4)
    throw new KdError(
      'SHAPE_MISMATCH',
      `${method}: student node '${names.studentNode}' [${s.shape.join(', ')}] and teacher node ` +
        `'${names.teacherNode}' [${t.shape.join(', ')}] must both be feature maps [N, C, H, W] or both flat [N, D]`,
    );
  const [hs, ht, ws, wt] = [s.shape[2], t.shape[2], s.shape[3], t.shape[3]];
  const stride = hs === ht && ws === wt ? 1 : hs === (ht as number) * 2 && ws === (wt as number) * 2 ? 2 : 0;
  if (!stride)
    throw new KdError(
      'SHAPE_MISMATCH',
      `${method}: student node '${names.studentNode}' is [${s.shape.join(', ')}], teacher node ` +
        `'${names.teacherNode}' is [${t.shape.join(', ')}]; the connector maps equal sizes (1×1 ` +
        `conv) or halves the student's (3×3 stride-2 conv) — pick nodes that fit one of these`,
    );
  let h = new Conv2d(
    'regressor',
    cs,
    ct,
    stride === 1 ? { kernel: 1, bias: false } : { kernel: 3, stride: 2, padding: 1, bias: false },
  ).apply(aux, s);
  h = new BatchNorm('regressor_bn', ct).apply(aux, h);
  return relu ? op.relu(h) : h;
}
