import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { KdError } from '../../../util/errors.js';
import type { BoundaryInputs, DistillMethod } from '../../method.js';

const options = z
  .object({
    /** Temperature of the term on the boundary samples (the official code's 3). */
    temperature: z.number().positive().default(3),
    /** Attack iterations through the teacher, each one forward and backward (official code: 10). */
    attackSteps: z.number().int().min(0).default(10),
    /** The attack's step size η (official code: 0.3). */
    stepSize: z.number().positive().default(0.3),
    /** Boundary samples distilled per batch at most, those where student and teacher differ most (official: 64). */
    samples: z.number().int().positive().default(64),
    /** The term's factor falls linearly from 1 at the start to 0 at this fraction of the epochs (official: 3/4). */
    decayUntil: z.number().positive().max(1).default(0.75),
  })
  .strict();
type Options = z.infer<typeof options>;

/**
 * The schedule's factor in epoch `epoch` (1-based) of `epochs`: max(1 − epoch / (decayUntil·epochs), 0), the official
 * code's attack ratio max(2(1 − 4/3 · epoch/epochs), 0) divided by its initial 2 (give the term weight 2 for it).
 */
export const bssFactor = (epoch: number, epochs: number, decayUntil: number): number => Math.max(1 - epoch / (decayUntil * epochs), 0);

/** KL(softmax(t/T) ‖ softmax(s/T)) per row [N]. */
function rowKl(s: Value, t: Value, T: number): Value {
  const lt = op.logSoftmax(op.scale(t, 1 / T), -1),
    ls = op.logSoftmax(op.scale(s, 1 / T), -1);
  return op.reduceSum(op.mul(op.exp(lt), op.sub(lt, ls)), [-1]);
}

/**
 * Which boundary samples are distilled (0/1 per row, no gradient): the attacked rows (teacher right) the student
 * also classifies correctly, and of those at most `samples` with the highest distillation score Σ_{c≠y} (p_t − p_s)²
 * on the clean batch (the official code's base-sample selection). Rows of equal score are kept or dropped together.
 */
function selection(inputs: { student: Value; teacher: Value; labels: Value; attacked: Value }, samples: number): Value {
  const C = inputs.student.shape[1] as number;
  const correct = op.cast(op.equal(op.argMax(inputs.student, -1), inputs.labels), 'float32');
  const eligible = op.mul(inputs.attacked, correct);
  const d = op.sub(op.softmax(inputs.teacher, -1), op.softmax(inputs.student, -1));
  const d2 = op.mul(d, d);
  const score = op.sub(op.reduceSum(d2, [-1]), op.reduceSum(op.mul(d2, op.oneHot(inputs.labels, C)), [-1]));
  // ahead[i, j] = 1 where eligible row j scores above row i: a row is kept while fewer than `samples` are ahead of it.
  const ahead = op.mul(op.cast(op.greater(op.unsqueeze(score, [0]), op.unsqueeze(score, [1])), 'float32'), op.unsqueeze(eligible, [0]));
  const within = op.cast(op.less(op.reduceSum(ahead, [1]), op.scalar(score.graph, samples - 0.5)), 'float32');
  return op.stopGradient(op.mul(eligible, within), 'bss_selected');
}

function requireBoundary(b: BoundaryInputs | undefined): BoundaryInputs {
  if (!b)
    throw new KdError(
      'NO_ADAPTER',
      'bss distils on samples the trainer moves through the teacher for every batch: use it in a training step ' +
        '(fitClassifier, `kdistill run`), which provides `boundary`',
    );
  return b;
}

/**
 * Boundary supporting samples (Heo, Lee, Yun & Choi, AAAI 2019, "Knowledge Distillation with Adversarial Samples
 * Supporting Decision Boundary"; official code bhheo/BSS_distillation). Before each step the trainer attacks the
 * batch through the frozen teacher (`MethodNeeds.boundary`; distill/adversarial/boundary-attack.ts): a sample the
 * teacher classifies correctly as b is pushed towards a class k drawn from the teacher's other probabilities, by
 * x ← x + η·(z_b − z_k + 1e-4)·∇(z_k − z_b)/‖∇‖₂ (η = 0.3) for up to 10 steps, stopping once the teacher no longer
 * predicts b, so it ends near the b–k boundary. Of the samples both networks classify correctly, the `samples` (64)
 * where they differ most on the clean batch are distilled: this term is the mean over them of
 * KL(softmax(t/T) ‖ softmax(s/T)) at T = 3 between the teacher's and the student's logits on the moved samples, times
 * a factor falling linearly to 0 at 3/4 of training. Use it beside `ce` and `kd`, with weight 2 for the official
 * code's initial ratio.
 *
 * Where this differs from the official code: the term is the KL divergence rather than the soft cross-entropy (they
 * differ by the teacher's entropy, a constant: the gradients are the same), and like it carries no T² factor; the
 * official code also decays the KD term's weight from 4 to 1, which a constant `kd` weight does not. The trainer
 * attacks every sample the teacher gets right, not only the selected ones (the selection needs the student's
 * current outputs, which exist only inside the step), so the attack costs up to a batch of teacher passes per
 * iteration, and the student's second pass runs over the whole batch of moved samples: rows not selected weigh 0 in
 * the term but enter its BatchNorm batch statistics, and the running statistics follow the clean batch only. Samples
 * are clipped to the pixel range after normalisation (the official code: ±2.5 on CIFAR-10). The factor changes per
 * epoch as in the official code (epochs counted from 1).
 */
export const bss: DistillMethod<Options> = {
  name: 'bss',
  kind: 'adversarial',
  description:
    'Heo et al. 2019: KD on samples pushed through the teacher towards a decision boundary (boundary supporting samples), ' +
    'weight decaying to 0 at 3/4 of training',
  options,
  teacherOutputs: () => ['logits'],
  needs: (o) => ({
    boundary: { steps: o.attackSteps, stepSize: o.stepSize, weight: (epoch, epochs) => bssFactor(epoch, epochs, o.decayUntil) },
  }),
  loss(inputs, o) {
    const b = requireBoundary(inputs.boundary);
    const chosen = selection(
      { student: inputs.student.logits, teacher: inputs.teacher.logits, labels: inputs.labels, attacked: b.attacked },
      o.samples,
    );
    const kl = op.reduceSum(op.mul(chosen, rowKl(b.student, b.teacher, o.temperature)));
    const count = op.max(op.reduceSum(chosen), op.scalar(kl.graph, 1));
    return op.mul(op.div(kl, count), b.weight, 'bss');
  },
};
