import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { BuildContext } from '../../../nn/context.js';
import { BatchNorm } from '../../../nn/layers/norm.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod } from '../../method.js';
import { requireAux } from './node-options.js';

const nodes = z.array(z.string().min(1)).min(1);
const options = z
  .object({
    /** Student stage features, shallow → deep; a flat [N, C] node (a pooled feature) is read as a 1×1 map. */
    studentNodes: nodes,
    /** Teacher features the stages are matched to, same order and count (the code reads pre-ReLU ones). */
    teacherNodes: nodes,
    /** Channels of the fused features; absent: min(512, the deepest student stage's channels), as in the code. */
    midChannels: z.number().int().positive().optional(),
    /** HCL pyramid: each feature pair is also compared after adaptive average pooling to l×l, for l < H. */
    hclLevels: z.array(z.number().int().positive()).default([4, 2, 1]),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.studentNodes.length !== o.teacherNodes.length)
      ctx.addIssue({
        code: 'custom',
        path: ['teacherNodes'],
        message:
          `reviewkd pairs stages one to one: ${o.studentNodes.length} student nodes [${o.studentNodes.join(', ')}] ` +
          `but ${o.teacherNodes.length} teacher nodes [${o.teacherNodes.join(', ')}]`,
      });
  });
type Options = z.infer<typeof options>;

const dims = (v: Value) => `[${v.shape.join(', ')}]`;

/** A feature as [N, C, H, W] with fixed C, H, W (flat [N, C] becomes [N, C, 1, 1], as the code unsqueezes the pooled feature). */
function asMap(who: string, node: string, v: Value | undefined): Value {
  if (!v) throw new KdError('MISSING_FEATURE', `reviewkd: ${who} node '${node}' is not among the ${who}'s tapped values`);
  const m = v.rank === 2 ? op.reshape(v, [0, 0, 1, 1]) : v;
  if (m.rank !== 4 || m.shape.slice(1).some((d) => typeof d !== 'number'))
    throw new KdError(
      'SHAPE_MISMATCH',
      `reviewkd: ${who} node '${node}' is ${dims(v)}; stages must be feature maps [N, C, H, W] or flat [N, C] with fixed C, H, W`,
    );
  return m;
}
const hw = (v: Value) => v.shape.slice(2) as number[];

/** Integer factors taking `from` to `to` on each spatial axis, or undefined when nearest upsampling cannot. */
function upFactor(from: number[], to: number[]): number[] | undefined {
  const k = to.map((d, i) => d / from[i]);
  return k.every((f) => Number.isInteger(f) && f >= 1) ? k : undefined;
}
const upsample = (v: Value, k: number[]) => (k.every((f) => f === 1) ? v : op.resizeNearest(v, [1, 1, ...k]));

/**
 * A conv declared as an adapter. `a` is the leaky-ReLU slope of kaiming_uniform: the code draws ABF's
 * convs with a = 1 (limit √(3/fan_in)); the attention conv keeps PyTorch's default (a = √5, limit
 * 1/√fan_in, bias too).
 */
function conv(ctx: BuildContext, name: string, x: Value, cin: number, cout: number, kernel: 1 | 3, a: number, bias: boolean): Value {
  return ctx.scope(name, () => {
    const fanIn = cin * kernel * kernel,
      limit = Math.sqrt(6 / ((1 + a * a) * fanIn));
    const w = ctx.param('weight', [cout, cin, kernel, kernel], { kind: 'uniform', limit });
    const b = bias ? ctx.param('bias', [cout], { kind: 'uniform', limit: 1 / Math.sqrt(fanIn) }) : undefined;
    const p = (kernel - 1) / 2;
    return op.conv(x, w, b, { pads: [p, p, p, p], name: 'out' });
  });
}

interface Stage {
  s: Value;
  t: Value;
  cin: number;
  cout: number;
  up: number[];
  toTeacher: number[];
}

/** Checks every stage can be fused before any adapter is declared, naming the nodes and shapes that cannot. */
function plan(o: Options, student: Readonly<Record<string, Value>>, teacher: Readonly<Record<string, Value>>): Stage[] {
  if (o.studentNodes.length !== o.teacherNodes.length)
    throw new KdError(
      'SHAPE_MISMATCH',
      `reviewkd: ${o.studentNodes.length} student nodes [${o.studentNodes.join(', ')}] but ` +
        `${o.teacherNodes.length} teacher nodes [${o.teacherNodes.join(', ')}]; stages pair one to one`,
    );
  const n = o.studentNodes.length;
  const s = o.studentNodes.map((name) => asMap('student', name, student[name]));
  const t = o.teacherNodes.map((name) => asMap('teacher', name, teacher[name]));
  return s.map((si, i) => {
    const sn = o.studentNodes[i],
      tn = o.teacherNodes[i];
    const toTeacher = upFactor(hw(si), hw(t[i]));
    if (!toTeacher)
      throw new KdError(
        'SHAPE_MISMATCH',
        `reviewkd: student node '${sn}' ${dims(student[sn])} cannot be brought to teacher node '${tn}' ${dims(teacher[tn])} ` +
          'by nearest upsampling with integer factors; pick a teacher feature of the same or an integer-multiple resolution',
      );
    const [h, w] = hw(t[i]);
    const l = o.hclLevels.find((l) => l < h && (h % l || w % l));
    if (l !== undefined)
      throw new KdError(
        'SHAPE_MISMATCH',
        `reviewkd: teacher node '${tn}' is ${h}×${w}, which HCL level ${l} does not divide (adaptive pooling ` +
          `to ${l}×${l} is done with whole windows only); choose hclLevels that divide every stage's size`,
      );
    let up = [1, 1];
    if (i < n - 1) {
      // The deeper stage's residual sits at its teacher's resolution (the code resizes before passing it on).
      const deeper = hw(t[i + 1]),
        k = upFactor(deeper, hw(si));
      if (!k)
        throw new KdError(
          'SHAPE_MISMATCH',
          `reviewkd: the residual of stage ${i + 2} (at teacher node '${o.teacherNodes[i + 1]}' ` +
            `${deeper.join('×')}) cannot be upsampled by an integer factor to student node '${sn}' ` +
            `${hw(si).join('×')}; list nodes shallow → deep, each resolution an integer multiple of the next`,
        );
      up = k;
    }
    return { s: si, t: t[i], cin: si.shape[1] as number, cout: t[i].shape[1] as number, up, toTeacher };
  });
}

/**
 * Attention-based fusion: 1×1 conv + BN to mid channels; then, when a deeper residual exists, two
 * sigmoid maps from a 1×1 conv over [own, upsampled residual] weight the sum of both; the result, at the
 * teacher's resolution, is the next stage's residual and, through 3×3 conv + BN, the stage's output.
 */
function abf(ctx: BuildContext, i: number, st: Stage, mid: number, residual: Value | undefined): { out: Value; residual: Value } {
  return ctx.scope(`abf${i}`, () => {
    let h = new BatchNorm('bn1', mid).apply(ctx, conv(ctx, 'conv1', st.s, st.cin, mid, 1, 1, false));
    if (residual) {
      const y = upsample(residual, st.up);
      const z = op.sigmoid(conv(ctx, 'att', op.concat([h, y], 1), 2 * mid, 2, 1, Math.sqrt(5), true));
      h = op.add(op.mul(h, op.slice(z, [0], [1], [1])), op.mul(y, op.slice(z, [1], [2], [1])), 'fused');
    }
    h = upsample(h, st.toTeacher);
    const out = new BatchNorm('bn2', st.cout).apply(ctx, conv(ctx, 'conv2', h, mid, st.cout, 3, 1, false));
    return { out, residual: h };
  });
}

const mse = (a: Value, b: Value) => {
  const d = op.sub(a, b);
  return op.reduceMean(op.mul(d, d));
};

/**
 * Hierarchical context loss of one stage, as the code's hcl_loss: MSE at full resolution plus MSE after
 * pooling to each level l < H, weighted 1, ½, ¼, … in the order the levels are used, over the weights'
 * sum (the paper names the pyramid but not these weights). `plan` made sure the windows tile the map.
 */
function hcl(fs: Value, ft: Value, levels: readonly number[]): Value {
  const [h, w] = hw(ft);
  let loss = mse(fs, ft),
    cnt = 1,
    tot = 1;
  for (const l of levels) {
    if (l >= h) continue;
    const pool = (v: Value) => (l === 1 ? op.globalAvgPool(v) : op.avgPool(v, { kernel: [h / l, w / l] }));
    cnt /= 2;
    loss = op.add(loss, op.scale(mse(pool(fs), pool(ft)), cnt));
    tot += cnt;
  }
  return op.scale(loss, 1 / tot);
}

/**
 * ReviewKD (Chen et al., CVPR 2021, "Distilling Knowledge via Knowledge Review"), following the official
 * code / mdistiller: student stages are fused deep → shallow by ABF adapters (trained with the student,
 * dropped at export) and each fused feature is matched to the teacher feature of its stage by HCL,
 * summed over stages. mdistiller's linear warm-up of the weight over 20 epochs is not applied (the loss
 * sees no epoch), as for dkd; its default weight is 1.
 */
export const reviewkd: DistillMethod<Options> = {
  name: 'reviewkd',
  kind: 'feature',
  description: 'Chen et al. 2021: knowledge review, student stages fused deep → shallow (ABF adapters) matched to teacher stages by HCL',
  options,
  teacherOutputs: (o) => o.teacherNodes,
  studentNodes: (o) => o.studentNodes,
  loss({ student, teacher, aux: maybeAux }, o) {
    const aux = requireAux('reviewkd', 'attention-based fusion modules', maybeAux);
    const stages = plan(o, student, teacher);
    const mid = o.midChannels ?? Math.min(512, stages[stages.length - 1].cin);
    // Fusion runs deepest first; its stage has no residual to fuse (the code's ABF without att_conv).
    let residual: Value | undefined, total: Value | undefined;
    for (let i = stages.length - 1; i >= 0; i--) {
      const r = abf(aux, i, stages[i], mid, residual);
      residual = r.residual;
      const l = hcl(r.out, stages[i].t, o.hclLevels);
      total = total ? op.add(total, l) : l;
    }
    return op.identity(total!, 'reviewkd');
  },
};
