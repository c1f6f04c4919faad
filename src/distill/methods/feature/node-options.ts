import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import type { BuildContext } from '../../../nn/context.js';
import * as op from '../../../graph/ops.js';
import type { DistillMethod, MethodInputs } from '../../method.js';
import { KdError } from '../../../util/errors.js';

/** The feature pair a feature or relation method compares, chosen by node name (`kdistill inspect` lists them). */
export const nodePair = {
  teacherNode: z.string().min(1),
  studentNode: z.string().min(1),
};

/** Fails before training when two feature maps need the same spatial size and do not have it. */
export function requireSameSpatial(method: string, o: { teacherNode: string; studentNode: string }, s: Value, t: Value): void {
  if (s.rank !== 4 || t.rank !== 4)
    throw new KdError(
      'SHAPE_MISMATCH',
      `${method}: needs 4-D feature maps [N, C, H, W]; student node '${o.studentNode}' is ` +
        `[${s.shape.join(', ')}], teacher node '${o.teacherNode}' is [${t.shape.join(', ')}]`,
    );
  const ss = s.shape.slice(2).join('×'),
    ts = t.shape.slice(2).join('×');
  if (ss !== ts)
    throw new KdError(
      'SHAPE_MISMATCH',
      `${method}: student node '${o.studentNode}' is ${ss} spatially, teacher node '${o.teacherNode}' ` +
        `is ${ts} (shapes [${s.shape.join(', ')}] and [${t.shape.join(', ')}]); pick nodes of the same ` +
        'resolution (e.g. both right after the same pooling stage) — channel counts may differ — or ' +
        `use fitnets, whose connector maps a student map twice the teacher's size`,
    );
}

/** A method comparing one teacher node with one student node: it reads exactly the two nodes its options name. */
export function pairMethod<O extends { teacherNode: string; studentNode: string }>(
  m: Omit<DistillMethod<O>, 'teacherOutputs' | 'studentNodes'>,
): DistillMethod<O> {
  return { ...m, teacherOutputs: (o) => [o.teacherNode], studentNodes: (o) => [o.studentNode] };
}

/**
 * A pair method that is one loss term, or, when `epochs(o)` > 0, a phase before the main training that
 * trains the student with that term alone (FitNets' hint stage, AB's initialisation); the term then adds
 * nothing to the main phase, as in the official code.
 */
export function stagedPairMethod<O extends { teacherNode: string; studentNode: string }>(
  m: Omit<DistillMethod<O>, 'teacherOutputs' | 'studentNodes' | 'loss' | 'pretrain'> & {
    epochs(o: O): number;
    term(inputs: MethodInputs, o: O): Value;
  },
): DistillMethod<O> {
  const { epochs, term, ...rest } = m;
  return pairMethod<O>({
    ...rest,
    loss: (inputs, o) => (epochs(o) > 0 ? op.scalar(inputs.labels.graph, 0, m.name) : term(inputs, o)),
    pretrain: (o) => (epochs(o) > 0 ? { epochs: epochs(o), trains: 'student', loss: term } : undefined),
  });
}

/** The training step's auxiliary context, which methods with adapters need to declare their parameters. */
export function requireAux(method: string, what: string, aux: BuildContext | undefined): BuildContext {
  if (!aux)
    throw new KdError(
      'NO_ADAPTER',
      `${method} trains ${what}: pass the training step's \`aux\` context ` +
        `(the loss builder's third argument) as \`aux\` in the method inputs`,
    );
  return aux;
}
