import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod } from '../../method.js';

// Layers as two parallel lists (teacherNodes[i] goes with studentNodes[i]), the convention of fsp and reviewkd.
const options = z
  .object({
    /** Teacher layers in network order; each is an edge layer, and two consecutive feature maps also form a transformation. */
    teacherNodes: z.array(z.string().min(1)).min(1),
    /** The student's corresponding layers, as many as the teacher's. */
    studentNodes: z.array(z.string().min(1)).min(1),
    /** Weight of the vertex term, MSE between the logits (the reference's w_irg_vert). */
    vertexWeight: z.number().min(0).default(0.1),
    /** Weight of the edge term, mean over layers of the MSE between instance distance matrices (w_irg_edge). */
    edgeWeight: z.number().min(0).default(5),
    /** Weight of the transformation term, MSE between per-instance distances of consecutive layers (w_irg_tran). */
    transformWeight: z.number().min(0).default(5),
  })
  .strict()
  .refine((o) => o.teacherNodes.length === o.studentNodes.length, {
    message: 'teacherNodes and studentNodes must list the same number of layers (one teacher layer per student layer)',
    path: ['studentNodes'],
  });
type Options = z.infer<typeof options>;

const EPS = 1e-12;
const mse = (a: Value, b: Value): Value => {
  const d = op.sub(a, b);
  return op.reduceMean(op.mul(d, d));
};
const shapeOf = (v: Value): string => `[${v.shape.join(', ')}]`;

/** Squared Euclidean distances between the batch's instances (flattened), diagonal 0, divided by the largest. */
function edges(f: Value): Value {
  const e = op.flatten(f, 1),
    g = f.graph;
  const sq = op.reduceSum(op.mul(e, e), [1]);
  const d2 = op.sub(op.add(op.unsqueeze(sq, [1]), op.unsqueeze(sq, [0])), op.scale(op.gemm(e, e, undefined, { transB: true }), 2));
  const d = op.mul(op.max(d2, op.scalar(g, EPS)), op.sub(op.scalar(g, 1), g.node('EyeLike', [d2], {})[0]));
  // The floor only matters for a batch of one (no pairs, all distances 0), which then gives 0 rather than 0/0.
  return op.div(d, op.max(op.reduceMax(d), op.scalar(g, EPS)));
}

/**
 * Squared distance of each instance from one layer to the next, divided by the batch's largest. The lower
 * map is average-pooled to the upper one's size and the upper one's channels averaged in consecutive
 * groups down to the lower count (the reference halves them: (f[:, 0::2] + f[:, 1::2]) / 2).
 */
function transformation(lo: Value, hi: Value, net: string, names: [string, string]): Value {
  const [, c1, h1, w1] = lo.shape as number[],
    [, c2, h2, w2] = hi.shape as number[];
  if (h1 % h2 || w1 % w2 || c2 % c1)
    throw new KdError(
      'SHAPE_MISMATCH',
      `irg: ${net} nodes '${names[0]}' ${shapeOf(lo)} → '${names[1]}' ${shapeOf(hi)} cannot form ` +
        `a transformation edge: the later map needs a spatial size that divides the earlier one's ` +
        'and a multiple of its channels; list layers in network order, or set transformWeight: 0',
    );
  const a = h1 === h2 && w1 === w2 ? lo : op.avgPool(lo, { kernel: [h1 / h2, w1 / w2] });
  const b = c2 === c1 ? hi : op.reduceMean(op.reshape(hi, [0, c1, c2 / c1, h2, w2]), [2]);
  const d = op.sub(op.flatten(a, 1), op.flatten(b, 1));
  const dist = op.max(op.reduceSum(op.mul(d, d), [1]), op.scalar(lo.graph, EPS));
  return op.div(dist, op.reduceMax(dist));
}

/**
 * Instance relationship graph (Liu et al., CVPR 2019), following the PyTorch re-implementation in AberHu's
 * Knowledge-Distillation-Zoo (`irg.py`, also in JDAI-CV/FaceX-Zoo; the authors' code is Caffe): vertex = MSE
 * between logits; edge = per listed layer, the batch's squared-distance matrix normalised by its maximum,
 * MSE student vs teacher, averaged over layers; transformation = per pair of consecutive listed layers that
 * are both feature maps, each instance's squared distance between the two layers normalised by the batch
 * maximum, MSE student vs teacher, averaged over such pairs (the reference has one, its two feature maps;
 * flat layers such as its penultimate features are edge layers only). Default weights are the reference's
 * 0.1 / 5 / 5. Feature sizes may differ between student and teacher.
 */
export const irg: DistillMethod<Options> = {
  name: 'irg',
  kind: 'relation',
  description:
    'Liu et al. 2019: instance relationship graph, vertex (logits), edge (instance distances) and transformation (across layers) terms',
  options,
  teacherOutputs: (o) => [...(o.vertexWeight > 0 ? ['logits'] : []), ...o.teacherNodes],
  studentNodes: (o) => o.studentNodes,
  loss({ student, teacher }, o) {
    const s = o.studentNodes.map((n) => student[n]),
      t = o.teacherNodes.map((n) => teacher[n]);
    let total: Value = op.scalar(s[0].graph, 0);
    if (o.vertexWeight > 0) total = op.add(total, op.scale(mse(student.logits, teacher.logits), o.vertexWeight));
    if (o.edgeWeight > 0) {
      const perLayer = s.map((si, i) => mse(edges(si), edges(t[i])));
      total = op.add(
        total,
        op.scale(
          perLayer.reduce((a, b) => op.add(a, b)),
          o.edgeWeight / perLayer.length,
        ),
      );
    }
    if (o.transformWeight > 0) {
      const steps: Value[] = [];
      const [sn, tn] = [o.studentNodes, o.teacherNodes];
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i].rank !== 4 || s[i + 1].rank !== 4 || t[i].rank !== 4 || t[i + 1].rank !== 4) continue;
        steps.push(
          mse(transformation(s[i], s[i + 1], 'student', [sn[i], sn[i + 1]]), transformation(t[i], t[i + 1], 'teacher', [tn[i], tn[i + 1]])),
        );
      }
      if (steps.length === 0)
        throw new KdError(
          'BAD_LOSS',
          'irg: the transformation term needs two consecutive listed layers that are feature maps [N, C, H, W] in both networks ' +
            `(got ${sn.map((n, i) => `'${n}' ${shapeOf(s[i])}`).join(', ')} in the student); add one or set transformWeight: 0`,
        );
      total = op.add(
        total,
        op.scale(
          steps.reduce((a, b) => op.add(a, b)),
          o.transformWeight / steps.length,
        ),
      );
    }
    return op.identity(total, 'irg');
  },
};
