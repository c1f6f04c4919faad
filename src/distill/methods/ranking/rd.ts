import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { KdError } from '../../../util/errors.js';
import type { DistillMethod } from '../../method.js';

const options = z
  .object({
    /** K: how many of the teacher's top items become extra positives. */
    k: z.int().min(1).default(10),
    /** λ: sharpness of the position importance weight w_r ∝ exp(−r/λ). */
    lambda: z.number().positive().default(1),
    /** μ: sharpness of the ranking discrepancy weight tanh(max(μ·(r̂ − r), 0)). */
    mu: z.number().positive().default(0.1),
    /** 'hybrid': position × discrepancy weights (the paper's best); 'position': the position weights alone. */
    weighting: z.enum(['hybrid', 'position']).default('hybrid'),
    /** Steps with position weights only before the hybrid starts (the student's ranks mean little at first). */
    hybridAfter: z.int().min(0).default(0),
    /** Rescale each row's hybrid weights to sum to 1 (the authors' code has it, off by default). */
    renormalize: z.boolean().default(false),
    /** 'sigmoid': −log σ(s) per extra positive (the paper's point-wise loss); 'softmax': −log softmax(s) over all items. */
    form: z.enum(['sigmoid', 'softmax']).default('sigmoid'),
  })
  .strict();

type Options = z.infer<typeof options>;

/**
 * Tang & Wang (KDD 2018), "Ranking Distillation: Learning Compact Ranking Models With High Performance for Recommender
 * System": the teacher's top-K items for the user, leaving out the user's training items, are extra positives of the
 * student, weighted by position: L = mean over rows of Σ_r w_r·(−log σ(s_{π_r})). The position weight is
 * w^a_r = exp(−r/λ)/Σ_j exp(−j/λ) (r = 1…K); the discrepancy weight w^b_r = max(tanh(μ·(r̂_{π_r} − (r − 1))), 0) grows
 * with how far below its teacher rank the student ranks the item (r̂: items the student scores higher, 0-based, as the
 * authors' code counts). Hybrid weights are w^a·w^b once `hybridAfter` steps are done. No gradient flows through the
 * weights or the teacher's ranking. The student's own loss on observed interactions is another term (`ce`), and the
 * paper's α is this term's weight.
 *
 * Where this differs from the paper and the authors' code (graytowne/rank_distill): r̂ is the exact count of the
 * student's higher-scored items among all items the user has not interacted with in training (the code estimates it
 * from ε = 100 sampled items, r̂ ≈ ⌊|I|·(share of samples scored higher)⌋), since the student's scores for every item
 * are at hand; the warm-up is counted in steps (the code's is 10 of 50 epochs); the code's default K = 10, λ = 1,
 * μ = 0.1 and no renormalisation are the defaults. `form: 'softmax'` (not in the paper) treats the extra positives
 * as labels of the softmax over items that `ce` trains, for students whose own loss is that softmax (the sigmoid form
 * also rewards raising every score, which a softmax loss does not oppose); on MovieLens' validation split the paper's
 * sigmoid form did better (docs/applications.md).
 */
export const rd: DistillMethod<Options> = {
  name: 'rd',
  kind: 'response',
  description: "Tang & Wang 2018: the teacher's top-K unseen items as position-weighted extra positives (ranking distillation)",
  options,
  teacherOutputs: () => ['logits'],
  needs: () => ({ known: true }),
  loss({ student, teacher, known, aux }, o) {
    if (!known)
      throw new KdError('BAD_LOSS', "rd needs each user's known items ('known'), which the trainer provides for interaction data");
    const s = student.logits,
      t = teacher.logits;
    const items = s.shape[1] as number;
    if (o.k >= items) throw new KdError('BAD_LOSS', `rd: k = ${o.k} must be below the number of items (${items})`);
    const g = s.graph;
    // Known items sink below every other score, so the top-K is of the items the user has not interacted with.
    const [, top] = op.topK(op.sub(t, op.scale(known, 1e9)), o.k, 'rd_teacher_topk');
    const picked = op.gatherElements(s, top, 1, 'rd_student_topk');
    const wa = Array.from({ length: o.k }, (_, r) => Math.exp(-(r + 1) / o.lambda));
    const sum = wa.reduce((a, b) => a + b, 0);
    const position = g.initializer(
      'rd_position_weight',
      op.f32(
        wa.map((w) => w / sum),
        [1, o.k],
      ),
    );
    const weight = o.weighting === 'position' ? position : op.stopGradient(hybrid(s, picked, known, position, o, aux?.step()), 'rd_weight');
    const perItem =
      o.form === 'sigmoid' ? g.node('Softplus', [op.neg(picked)], {}, {})[0] : op.neg(op.gatherElements(op.logSoftmax(s, -1), top, 1));
    return op.reduceMean(op.reduceSum(op.mul(weight, perItem), [1]), undefined, false, 'rd');
  },
};

/** w^a·w^b (see `rd`), or w^a alone before step `hybridAfter`. */
function hybrid(s: Value, picked: Value, known: Value, position: Value, o: Options, step: Value | undefined): Value {
  const g = s.graph;
  // r̂[n, r]: the user's unknown items the student scores above its r-th extra positive.
  const above = op.cast(op.greater(op.unsqueeze(s, [1]), op.unsqueeze(picked, [2])), 'float32'); // [N, K, I]
  const unknown = op.unsqueeze(op.sub(op.scalar(g, 1), known), [1]);
  const rank = op.reduceSum(op.mul(above, unknown), [2]);
  const teacherRank = g.initializer(
    'rd_teacher_rank',
    op.f32(
      Array.from({ length: o.k }, (_, r) => r),
      [1, o.k],
    ),
  );
  const wb = op.relu(op.tanh(op.scale(op.sub(rank, teacherRank), o.mu)));
  let w = op.mul(position, wb);
  if (o.renormalize) w = op.div(w, op.max(op.reduceSum(w, [1], true), op.scalar(g, 1e-12)));
  if (o.hybridAfter === 0 || !step) return w;
  return op.where(op.greater(step, op.scalar(g, o.hybridAfter)), w, position);
}
