import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { A } from '../../../graph/types.js';
import type { BuildContext } from '../../../nn/context.js';
import { Linear } from '../../../nn/layers/linear.js';
import { Module } from '../../../nn/module.js';
import { adam } from '../../../optim/adam.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod, MethodInputs } from '../../method.js';
import { requireAux } from '../feature/node-options.js';

const options = z
  .object({
    /** What the discriminator tells apart: the logits (Xu et al.) or a feature pair (Belagiannis et al.). */
    on: z.enum(['logits', 'feature']).default('logits'),
    /** With `on: feature`: the teacher's and the student's nodes (`kdistill inspect` lists them). */
    teacherNode: z.string().min(1).optional(),
    studentNode: z.string().min(1).optional(),
    /** The label's one-hot beside the discriminator's input (Xu et al.'s conditional form); default: on logits only. */
    conditional: z.boolean().optional(),
    /** Widths of the discriminator's hidden layers (LeakyReLU 0.2 after each). */
    hidden: z.array(z.number().int().positive()).min(1).default([128, 128]),
    /** Its Adam learning rate and β1 (DCGAN's: 2e-4, 0.5); constant, whatever the student's schedule. */
    lr: z.number().positive().default(2e-4),
    beta1: z.number().min(0).max(1).default(0.5),
    /** Turns: `steps` discriminator updates, then `studentSteps` student updates; null: both every step (jointly). */
    alternate: z
      .object({ steps: z.number().int().min(1).default(1), studentSteps: z.number().int().min(1).default(1) })
      .strict()
      .nullable()
      .default({ steps: 1, studentSteps: 1 }),
  })
  .strict()
  .superRefine((o, ctx) => {
    const nodes = o.teacherNode !== undefined && o.studentNode !== undefined;
    if (o.on === 'feature' && !nodes)
      ctx.addIssue({ code: 'custom', message: 'on: feature needs teacherNode and studentNode (the feature pair to tell apart)' });
    if (o.on === 'logits' && (o.teacherNode !== undefined || o.studentNode !== undefined))
      ctx.addIssue({
        code: 'custom',
        message: 'teacherNode and studentNode are for on: feature; on logits the discriminator reads the logits',
      });
  });
type Options = z.infer<typeof options>;

/** The objective the discriminator's parameter group descends (a logged scalar beside the term). */
export const DISCRIMINATOR_OBJECTIVE = 'discriminator_bce';

/**
 * The discriminator: Linear → LeakyReLU(0.2) per hidden width → Linear to one logit (real = teacher). Its input
 * width is read from the value it is first applied to, so one module serves logits, features and conditioned inputs.
 */
class Discriminator extends Module {
  constructor(private readonly hidden: readonly number[]) {
    super('discriminator');
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    let h = x,
      width = x.shape[1] as number;
    this.hidden.forEach((w, i) => {
      h = new Linear(`fc${i + 1}`, width, w).apply(ctx, h);
      h = ctx.g.node('LeakyRelu', [h], { alpha: A.f(0.2) }, { name: `act${i + 1}` })[0];
      width = w;
    });
    return new Linear('out', width, 1).apply(ctx, h);
  }
}

/** log(1 + eˣ), the binary cross-entropy of a logit: BCE(σ(z), 0) = softplus(z), BCE(σ(z), 1) = softplus(−z). */
const softplus = (x: Value) => x.graph.node('Softplus', [x])[0];

/** A value as the discriminator's input [N, F]: features pooled over space, and the student's mapped to the teacher's width. */
function sides(inputs: MethodInputs, o: Options): { s: Value; t: Value } {
  if (o.on === 'logits') return { s: inputs.student.logits, t: inputs.teacher.logits };
  const s0 = inputs.student[o.studentNode!],
    t0 = inputs.teacher[o.teacherNode!];
  const pool = (v: Value, which: string, node: string) => {
    if (v.rank === 4) return op.flatten(op.globalAvgPool(v), 1);
    if (v.rank === 2) return v;
    throw new KdError(
      'SHAPE_MISMATCH',
      `discriminator: ${which} node '${node}' is [${v.shape.join(', ')}]; it reads a feature map [N, C, H, W] or a vector [N, C]`,
    );
  };
  const s = pool(s0, 'student', o.studentNode!),
    t = pool(t0, 'teacher', o.teacherNode!);
  const cs = s.shape[1],
    ct = t.shape[1];
  if (typeof cs !== 'number' || typeof ct !== 'number')
    throw new KdError('SHAPE_MISMATCH', `discriminator: the channel counts of '${o.studentNode}' and '${o.teacherNode}' must be fixed`);
  // A 1×1 convolution to the teacher's channels followed by average pooling is the same map as pooling first and
  // then a linear layer, which is cheaper; the adapter is the student's (it learns from the student's term).
  const aux = requireAux('discriminator', 'an adapter to the teacher’s channels', inputs.aux);
  return { s: new Linear('adapter', cs, ct).apply(aux, s), t };
}

/**
 * Adversarial distillation with a discriminator (Xu, Hsu & Huang 2018, "Training Shallow and Thin Networks for
 * Acceleration via Knowledge Distillation with Conditional Adversarial Networks"; Belagiannis, Farshad & Galasso 2018,
 * "Adversarial Network Compression"): an MLP discriminator D, trained beside the student as an extra model (its own
 * Adam, never exported, checkpointed with the run), tells the teacher's outputs (real) from the student's (fake). D
 * descends BCE(D(t), 1) + BCE(D(s detached), 0); this term is the student's non-saturating BCE(D(s), 1). Combine it
 * with a `kd` (and `ce`) term in the same loss list, as both papers supervise the student beside the adversarial term.
 *
 * `on: logits` reads the logits, with the label's one-hot concatenated when `conditional` (Xu et al.'s conditional
 * GAN); `on: feature` reads a student node through a learned adapter to the teacher's channel count, both pooled
 * over space (Belagiannis et al. compare features; the pooling is kdistill's, so maps of different sizes compare).
 * By default the two take turns, one discriminator step then one student step, Goodfellow et al.'s (2014) k = 1;
 * D uses DCGAN's Adam (lr 2e-4, β1 0.5) at a constant rate. The widths [128, 128] are kdistill's: the papers use small
 * MLPs sized for their networks. Not reproduced: Belagiannis et al.'s regulariser against a too-strong discriminator,
 * and any auxiliary classification head on D. In turns each step takes its own batch, where a PyTorch GAN loop often
 * runs the D step and the G step on the same batch, so at 1:1 the student sees half an epoch's batches per epoch.
 */
export const discriminator: DistillMethod<Options> = {
  name: 'discriminator',
  kind: 'adversarial',
  description:
    'Xu et al. 2018 / Belagiannis et al. 2018: an MLP discriminator (extra model, never exported) tells teacher from student ' +
    'logits (label-conditioned) or pooled features; the student fools it, in turns',
  options,
  teacherOutputs: (o) => [o.on === 'feature' ? o.teacherNode! : 'logits'],
  studentNodes: (o) => (o.on === 'feature' ? [o.studentNode!] : []),
  needs: (o) => ({
    models: [
      {
        name: 'discriminator',
        module: new Discriminator(o.hidden),
        optimizer: adam({ beta1: o.beta1 }),
        objective: DISCRIMINATOR_OBJECTIVE,
        lr: o.lr,
        schedule: { kind: 'constant' },
        ...(o.alternate ? { alternate: o.alternate } : {}),
      },
    ],
  }),
  loss(inputs, o) {
    const D = inputs.models?.discriminator;
    if (!D)
      throw new KdError(
        'NO_ADAPTER',
        'discriminator trains a model of its own: use it in a training step (fitClassifier, `kdistill run`), which provides `models`',
      );
    let { s, t } = sides(inputs, o);
    if (o.conditional ?? o.on === 'logits') {
      const C = inputs.student.logits.shape[1] as number;
      const y = op.oneHot(inputs.labels, C);
      s = op.concat([s, y], 1);
      t = op.concat([t, y], 1);
    }
    const real = D(t),
      fake = D(op.stopGradient(s)),
      fooled = D(s);
    const objective = op.add(op.reduceMean(softplus(op.neg(real))), op.reduceMean(softplus(fake)), DISCRIMINATOR_OBJECTIVE);
    return {
      loss: op.reduceMean(softplus(op.neg(fooled)), undefined, false, 'discriminator'),
      objectives: { [DISCRIMINATOR_OBJECTIVE]: objective },
    };
  },
};
