import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { KdError } from '../util/errors.js';

/**
 * How several teachers' logits become the one `logits` every method reads: `mean` / `weights` average
 * their probabilities (uniformly / with fixed weights), `confidence` weights each teacher per sample by
 * softmax over teachers of −CE(teacher, label) (CA-MKD, Zhang et al. 2022), and `concat` (knowledge
 * amalgamation) takes each class's score from the teacher that knows it. The mixtures return
 * log-probabilities, which softmax maps back to the mixture exactly (at any temperature: p^(1/T), renormalised).
 */
export type Combine = 'mean' | 'weights' | 'confidence' | 'concat';

export interface TeacherLogits {
  /** [N, C_k]: C_k is the student's class count, or the size of `classes` (a teacher trained on its subset only). */
  readonly logits: Value;
  readonly weight: number;
  /** The classes this teacher knows; null: all. */
  readonly classes: readonly number[] | null;
  readonly name: string;
}

/** The teachers' combined logits [N, C] as graph ops (C = the student's classes). */
export function combineTeachers(ts: readonly TeacherLogits[], mode: Combine, C: number, labels: Value): Value {
  if (ts.length === 1 && mode !== 'concat') return ts[0].logits;
  const g = labels.graph;
  if (mode === 'concat') return concatByClass(ts, C);
  for (const t of ts)
    if (t.logits.shape[1] !== C)
      throw new KdError(
        'SHAPE_MISMATCH',
        `teacher '${t.name}' predicts ${t.logits.shape[1]} classes and the student ${C}; averaging ` +
          'needs the same classes (use combine: concat for teachers of different class subsets)',
      );
  const probs = ts.map((t) => op.softmax(t.logits, -1));
  let mix: Value;
  if (mode === 'confidence') {
    // Per sample and teacher: −CE with the label, [N, K]; a softmax over K gives the weights.
    const negCe = op.concat(
      ts.map((t) => op.unsqueeze(op.reduceSum(op.mul(op.oneHot(labels, C), op.logSoftmax(t.logits, -1)), [-1]), [1])),
      1,
    );
    const w = op.softmax(negCe, -1);
    mix = probs.map((p, k) => op.mul(p, op.gather(w, op.ints(g, [k]), 1))).reduce((a, b) => op.add(a, b));
  } else {
    const total = ts.reduce((s, t) => s + (mode === 'weights' ? t.weight : 1), 0);
    if (!(total > 0)) throw new KdError('BAD_LOSS', 'teacher weights must not all be 0');
    mix = probs.map((p, k) => op.scale(p, (mode === 'weights' ? ts[k].weight : 1) / total)).reduce((a, b) => op.add(a, b));
  }
  return op.log(mix, 'teacher_mix');
}

/** Each class's logit from the one teacher that knows it; every class must be known by exactly one. */
function concatByClass(ts: readonly TeacherLogits[], C: number): Value {
  const owner = new Array<number>(C).fill(-1);
  const cols: Value[] = [];
  const order: number[] = [];
  ts.forEach((t, k) => {
    const classes = t.classes ?? Array.from({ length: C }, (_, i) => i);
    const width = t.logits.shape[1] as number;
    if (width !== C && width !== classes.length)
      throw new KdError(
        'SHAPE_MISMATCH',
        `teacher '${t.name}' has ${width} outputs: expected ${C} (all classes) ` +
          `or ${classes.length} (one per class it knows: [${classes.join(', ')}])`,
      );
    for (const c of classes) {
      if (c >= C) throw new KdError('BAD_CLASSES', `teacher '${t.name}': class ${c} is beyond the student's ${C} classes`);
      if (owner[c] >= 0)
        throw new KdError(
          'BAD_CLASSES',
          `class ${c} is claimed by teachers '${ts[owner[c]].name}' and '${t.name}'; ` +
            'with combine: concat each class comes from exactly one teacher',
        );
      owner[c] = k;
    }
    cols.push(width === C ? op.gather(t.logits, op.ints(t.logits.graph, classes), 1) : t.logits);
    order.push(...classes);
  });
  const missing = owner.flatMap((o, c) => (o < 0 ? [c] : []));
  if (missing.length)
    throw new KdError('BAD_CLASSES', `with combine: concat every class needs a teacher; none knows class ${missing.join(', ')}`);
  const all = op.concat(cols, 1);
  // Columns are in teacher order; put them in class order.
  return op.gather(
    all,
    op.ints(
      all.graph,
      Array.from({ length: C }, (_, c) => order.indexOf(c)),
    ),
    1,
    'teacher_concat',
  );
}
