import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { BuildContext } from '../../../nn/context.js';
import { Conv2d } from '../../../nn/layers/conv.js';
import { Linear } from '../../../nn/layers/linear.js';
import { BatchNorm } from '../../../nn/layers/norm.js';
import { crossEntropy } from '../../../nn/losses.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod } from '../../method.js';
import { requireAux } from '../feature/node-options.js';

// Defaults are the reference code's (luanyunteng/pytorch-be-your-own-teacher train.py: --temperature 3,
// --alpha 0.1, --beta 1e-6); the paper leaves them loosely stated.
const options = z
  .object({
    /** Shallow student nodes, feature maps [N, C, H, W], each given an exit (bottleneck, pooling, classifier). */
    nodes: z.array(z.string().min(1)).min(1),
    /** The deepest feature map (before the student's classifier); its pooled value is the feature target. */
    deepNode: z.string().min(1),
    temperature: z.number().positive().default(3),
    /** Weight of the distillation part; the exits' cross-entropy gets 1 − α. */
    alpha: z.number().min(0).max(1).default(0.1),
    /** λ, weight of the squared feature distance (the reference's β). */
    featureWeight: z.number().min(0).default(1e-6),
  })
  .strict();
type Options = z.infer<typeof options>;

/**
 * One exit, the reference's branchBottleNeck (1×1 conv to C/4, k×k stride-k conv, 1×1 conv to C, each
 * with bias, BatchNorm and ReLU; k the spatial ratio to the deep map) then global average pooling (the
 * exit's feature) and a linear classifier. Declared in `aux`, so exits train with the student and are
 * dropped at export.
 */
function exit(aux: BuildContext, x: Value, deep: Value, classes: number, names: [string, string]): { logits: Value; feature: Value } {
  const [hs, ws, hd, wd] = [x.shape[2], x.shape[3], deep.shape[2], deep.shape[3]] as number[];
  const k = hs / hd;
  if (x.rank !== 4 || !Number.isInteger(k) || k < 1 || ws / wd !== k)
    throw new KdError(
      'SHAPE_MISMATCH',
      `byot: node '${names[0]}' [${x.shape.join(', ')}] needs an exit down to deepNode '${names[1]}' [${deep.shape.join(', ')}]; ` +
        `both must be feature maps [N, C, H, W] with the shallow size a whole multiple of the deep one (the exit's stride-k conv)`,
    );
  const c = deep.shape[1] as number,
    mid = Math.max(1, Math.floor(c / 4));
  const stage = (i: number, cin: number, cout: number, kernel: number, h: Value) => {
    const y = new Conv2d(`conv${i}`, cin, cout, { kernel, stride: kernel }).apply(aux, h);
    return op.relu(new BatchNorm(`bn${i}`, cout).apply(aux, y));
  };
  let h = stage(1, x.shape[1] as number, mid, 1, x);
  h = stage(2, mid, mid, k, h);
  h = stage(3, mid, c, 1, h);
  const feature = op.flatten(op.globalAvgPool(h), 1);
  return { logits: new Linear('fc', c, classes).apply(aux, feature), feature };
}

/**
 * BYOT (Zhang et al., ICCV 2019, "Be Your Own Teacher"): exits on shallow student nodes learn from the
 * labels, from the network's own deepest classifier (the student's `logits`) and from its deepest feature.
 * Per exit i, as the reference code: (1 − α)·CE(y, q_i) + α·T²·H(q_deep^T, q_i^T) + λ·Σ(F_i − F_deep)² over
 * elements where either is positive, summed over the exits; q_deep and F_deep (the pooled `deepNode`) are
 * detached. The soft term is the reference's cross-entropy with the softened deep prediction, KL plus
 * that prediction's entropy (same gradient); the feature distance is a sum, not a mean. The student's own
 * CE is the separate `ce` term (weight 1 − α reproduces the reference's total). No teacher is needed.
 */
export const byot: DistillMethod<Options> = {
  name: 'byot',
  kind: 'self',
  description:
    'Zhang et al. 2019 (BYOT): exits on shallow nodes (adapters, dropped at export) ' +
    'learn from labels, the deepest classifier and the deepest feature; needs no teacher',
  options,
  teacherOutputs: () => [],
  studentNodes: (o) => [...o.nodes, o.deepNode],
  loss({ student, labels, aux }, o) {
    const ctx = requireAux('byot', 'its exits', aux);
    const deep = student[o.deepNode],
      z = student.logits,
      T = o.temperature;
    if (deep.rank !== 4)
      throw new KdError(
        'SHAPE_MISMATCH',
        `byot: deepNode '${o.deepNode}' is [${deep.shape.join(', ')}]; it must ` +
          'be a feature map [N, C, H, W] (the last one before the classifier)',
      );
    const fDeep = op.stopGradient(op.flatten(op.globalAvgPool(deep), 1));
    const target = op.stopGradient(op.softmax(op.scale(z, 1 / T), -1));
    let total: Value | undefined;
    o.nodes.forEach((name, i) => {
      const e = ctx.scope(`exit${i + 1}`, () => exit(ctx, student[name], deep, z.shape[1] as number, [name, o.deepNode]));
      const ce = crossEntropy(e.logits, labels);
      const soft = op.neg(op.reduceMean(op.reduceSum(op.mul(target, op.logSoftmax(op.scale(e.logits, 1 / T), -1)), [-1])));
      const d = op.sub(e.feature, fDeep);
      // The reference masks to elements where either feature is positive (both are post-ReLU there, so
      // this only matters for a deepNode taken before its activation).
      const mask = op.cast(op.greater(op.max(e.feature, fDeep), op.scalar(z.graph, 0)), 'float32');
      const feat = op.reduceSum(op.mul(op.mul(d, d), mask));
      const term = op.add(op.add(op.scale(ce, 1 - o.alpha), op.scale(soft, o.alpha * T * T)), op.scale(feat, o.featureWeight));
      total = total ? op.add(total, term) : term;
    });
    return op.identity(total!, 'byot');
  },
};
