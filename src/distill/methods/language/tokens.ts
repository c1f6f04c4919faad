/**
 * Per-token losses of language models: logits [N, L, V] of student and teacher at each position, labels [N, L] the next
 * token (IGNORE where there is none: padding, the last position). Each divergence is summed over the vocabulary and
 * averaged over the positions that have a label, as TRL's GKD trainer reduces it ("batchmean" over tokens).
 */
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { KdError } from '../../../util/errors.js';

/** The label of a position that is not scored (padding, or no next token). */
export const IGNORE = -1;

/** Whether logits are a language model's, [N, L, V], with labels [N, L]; `who` names the term in the error. */
export function checkTokens(logits: Value, labels: Value, who: string): void {
  if (logits.rank !== 3 || labels.rank !== 2)
    throw new KdError(
      'BAD_LOSS',
      `${who} is a per-token loss for language models: it needs logits [N, L, vocab] and labels [N, L], got ` +
        `[${logits.shape.join(', ')}] and [${labels.shape.join(', ')}]; for classifiers use kd / ce`,
    );
}

/** 1 where a position has a label, 0 where it is IGNORE; and the count of labelled positions (at least 1). */
export function tokenMask(labels: Value): { mask: Value; count: Value } {
  const g = labels.graph;
  const mask = op.cast(op.not(op.less(labels, g.initializer('ignore_below', op.i64([0], [])))), 'float32', 'token_mask');
  return { mask, count: op.max(op.reduceSum(mask), op.scalar(g, 1)) };
}

/** Σ over labelled positions of a per-position value [N, L], divided by their count. */
export function tokenMean(perPosition: Value, labels: Value, name?: string): Value {
  const { mask, count } = tokenMask(labels);
  return op.div(op.reduceSum(op.mul(perPosition, mask)), count, name);
}

const logSoftmaxAt = (x: Value, t: number) => op.logSoftmax(t === 1 ? x : op.scale(x, 1 / t), -1);
const sumV = (x: Value) => op.reduceSum(x, [-1], false);

/** KL(p ‖ q) per position from log-probabilities [N, L, V]: Σ_v p (log p − log q). */
export function klRows(lp: Value, lq: Value): Value {
  return sumV(op.mul(op.exp(lp), op.sub(lp, lq)));
}

/**
 * Generalised Jensen–Shannon divergence per position (Agarwal et al. 2024, GKD, as TRL computes it): with
 * M = β·p_T + (1 − β)·p_S, β·KL(p_T ‖ M) + (1 − β)·KL(p_S ‖ M); β = 0 is taken as forward KL(p_T ‖ p_S) and β = 1 as
 * reverse KL(p_S ‖ p_T), the limits TRL special-cases (the mixture form vanishes there). Both at temperature T.
 */
export function generalizedJsd(student: Value, teacher: Value, beta: number, temperature: number): Value {
  const ls = logSoftmaxAt(student, temperature),
    lt = logSoftmaxAt(teacher, temperature);
  if (beta === 0) return klRows(lt, ls);
  if (beta === 1) return klRows(ls, lt);
  // log M by a stable log-sum-exp of the two weighted log-probabilities.
  const a = op.addScalar(ls, Math.log(1 - beta)),
    b = op.addScalar(lt, Math.log(beta));
  const m = op.max(a, b);
  const lm = op.add(m, op.log(op.add(op.exp(op.sub(a, m)), op.exp(op.sub(b, m)))), 'log_mixture');
  return op.add(op.scale(klRows(lt, lm), beta), op.scale(klRows(ls, lm), 1 - beta));
}

/**
 * The teacher's top-k at each position, as a cache stores it (its k largest logits and their token ids, [N, L, k]):
 * given as teacher inputs `topk/values` and `topk/indices`, or taken from live logits with TopK.
 */
export function teacherTopk(teacher: Readonly<Record<string, Value>>, k: number): { values: Value; indices: Value } {
  if (teacher['topk/values'] && teacher['topk/indices']) return { values: teacher['topk/values'], indices: teacher['topk/indices'] };
  const [values, indices] = op.topK(teacher.logits, k, 'teacher_topk');
  return { values, indices };
}

/**
 * Forward KL on the teacher's top-k (DistillKit's sparse distillation): the teacher's distribution renormalised over
 * its k tokens, against the student's full-vocabulary log-probabilities at those tokens, per position.
 */
export function topkKl(student: Value, top: { values: Value; indices: Value }, temperature: number): Value {
  const lt = logSoftmaxAt(top.values, temperature);
  const ls = op.gatherElements(logSoftmaxAt(student, temperature), top.indices, -1);
  return klRows(lt, ls);
}
