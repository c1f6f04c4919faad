import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';

/** Mean cross-entropy of logits [N, C] against int64 class labels [N]. */
export function crossEntropy(logits: Value, labels: Value, name = 'ce'): Value {
  const C = logits.shape[logits.rank - 1] as number;
  const logp = op.logSoftmax(logits, -1);
  const picked = op.reduceSum(op.mul(op.oneHot(labels, C), logp), [-1]);
  return op.neg(op.reduceMean(picked), name);
}

/**
 * Hinton et al.'s soft-target term: T² · KL(softmax(t/T) ‖ softmax(s/T)), summed over classes and
 * averaged over the batch (PyTorch's kl_div(..., reduction='batchmean') × T²).
 */
export function kdKl(student: Value, teacher: Value, T: number, name = 'kd'): Value {
  const lt = op.logSoftmax(op.scale(teacher, 1 / T), -1);
  const ls = op.logSoftmax(op.scale(student, 1 / T), -1);
  const kl = op.reduceSum(op.mul(op.exp(lt), op.sub(lt, ls)), [-1]);
  return op.scale(op.reduceMean(kl), T * T, name);
}

/** Fraction of rows whose arg-max equals the label (a metric, not differentiable). */
export function accuracy(logits: Value, labels: Value, name = 'acc'): Value {
  return op.reduceMean(op.cast(op.equal(op.argMax(logits, -1), labels), 'float32'), undefined, false, name);
}

/** Fraction of rows where student and teacher agree on the top class. */
export function agreement(student: Value, teacher: Value, name = 'agree'): Value {
  return op.reduceMean(op.cast(op.equal(op.argMax(student, -1), op.argMax(teacher, -1)), 'float32'), undefined, false, name);
}

/**
 * x / max(‖x‖₂, eps) along `axis` (PyTorch's F.normalize). The norm is taken as √max(Σx², eps²), the
 * same value, so an all-zero row gets a finite gradient instead of 0·∞.
 */
export function l2Normalize(x: Value, axis: number, eps = 1e-12): Value {
  const sumsq = op.reduceSum(op.mul(x, x), [axis], true);
  return op.div(x, op.sqrt(op.max(sumsq, op.scalar(x.graph, eps * eps))));
}
