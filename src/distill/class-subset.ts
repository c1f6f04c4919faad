import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { z } from 'zod';
import { KdError } from '../util/errors.js';

/** A `classes` option: the class indices a term looks at (a task's head in lifelong learning, a teacher's specialty). */
export const classesOption = z.array(z.int().min(0)).min(1).nullable().default(null);

/** The columns of `logits` [N, C] for `classes`, in that order (all of them when `classes` is null). */
export function pickClasses(logits: Value, classes: readonly number[] | null, method: string): Value {
  if (!classes) return logits;
  const C = logits.shape[logits.rank - 1] as number;
  const bad = classes.find((c) => c >= C);
  if (bad !== undefined)
    throw new KdError(
      'BAD_CLASSES',
      `${method}: class ${bad} is not an output of a model with ${C} classes (classes: [${classes.join(', ')}])`,
    );
  if (new Set(classes).size !== classes.length)
    throw new KdError('BAD_CLASSES', `${method}: classes [${classes.join(', ')}] lists a class twice`);
  return op.gather(logits, op.ints(logits.graph, [...classes]), 1);
}

/** One-hot targets over `classes` (C = the model's class count): a sample whose label is outside gets an all-zero row. */
export function pickTargets(labels: Value, C: number, classes: readonly number[]): Value {
  return op.gather(op.oneHot(labels, C), op.ints(labels.graph, [...classes]), 1);
}
