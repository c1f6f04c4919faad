import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { MethodInputs } from '../../method.js';
import { convReg } from './conv-reg.js';
import { nodePair, requireAux, stagedPairMethod } from './node-options.js';

const options = z
  .object({
    ...nodePair,
    margin: z.number().positive().default(1),
    /** Epochs of the initialisation stage (student + connector learn the boundaries alone); 0 trains AB as one term beside the others. */
    initEpochs: z.number().int().min(0).default(1),
  })
  .strict();
type Options = z.infer<typeof options>;

/**
 * RepDistiller's `criterion_alternative_l2` through its `Connector`: the student's pre-activation, mapped
 * to the teacher's shape (identity when shapes agree, else ConvReg without ReLU), is pushed beyond
 * ±margin on the side where the teacher's neuron is off/on. Summed, then divided by the batch size and
 * scaled by 3/1000 as the code does; its per-layer weights 2^(i−n+1) are the terms' weights in a config.
 */
function boundary({ student, teacher, aux, labels }: MethodInputs, o: Options): Value {
  const s0 = student[o.studentNode],
    t = teacher[o.teacherNode];
  const same = s0.rank === t.rank && s0.shape.slice(1).every((d, i) => d === t.shape[i + 1]);
  const s = same ? s0 : convReg('ab', requireAux('ab', 'a connector', aux), s0, t, o, false);
  const g = s.graph,
    m = o.margin;
  const zero = op.scalar(g, 0);
  const tOn = op.greater(t, zero);
  // (s + m)² where the teacher is off and the student is above −m; (s − m)² where it is on and the student is below m.
  const offBad = op.and(op.not(tOn), op.greater(s, op.scalar(g, -m)));
  const onBad = op.and(tOn, op.not(op.greater(s, op.scalar(g, m))));
  const sp = op.addScalar(s, m),
    sm = op.addScalar(s, -m);
  const l = op.add(op.where(offBad, op.mul(sp, sp), zero), op.where(onBad, op.mul(sm, sm), zero));
  const n = op.cast(op.gather(op.shapeOf(labels), op.ints(g, [0]), 0), 'float32');
  return op.div(op.scale(op.reduceSum(l), 3 / 1000), op.reshape(n, []), 'ab');
}

/**
 * Activation boundaries (Heo et al., AAAI 2019): the student's pre-ReLU responses learn the teacher's
 * on/off pattern with a margin hinge. As in the official code and RepDistiller, it serves as an
 * initialisation stage (`initEpochs`, default 1; RepDistiller uses 30 of 240) after which the remaining
 * terms train the student and this one contributes nothing; `initEpochs: 0` uses it as a joint term.
 * Pick pre-activation nodes on both sides (e.g. `block2/bn/out`).
 */
export const ab = stagedPairMethod<Options>({
  name: 'ab',
  kind: 'feature',
  description: 'Heo et al. 2019: activation-boundary transfer (margin hinge on pre-ReLU responses), an initialisation stage by default',
  options,
  epochs: (o) => o.initEpochs,
  term: boundary,
});
