import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import type { MethodInputs } from '../../method.js';
import { convReg } from './conv-reg.js';
import { nodePair, requireAux, stagedPairMethod } from './node-options.js';

const options = z
  .object({
    ...nodePair,
    /** Epochs of the paper's first stage (hint training only); 0 (default) trains the hint as one term beside the others. */
    hintEpochs: z.number().int().min(0).default(0),
  })
  .strict();
type Options = z.infer<typeof options>;

/** Mean squared error between the regressed student hint and the teacher's guided layer. */
function hint({ student, teacher, aux }: MethodInputs, o: Options): Value {
  const s = student[o.studentNode],
    t = teacher[o.teacherNode];
  const r = convReg('fitnets', requireAux('fitnets', 'a regressor', aux), s, t, o, true);
  const d = op.sub(r, t);
  return op.reduceMean(op.mul(d, d), undefined, false, 'fitnets');
}

/**
 * FitNets (Romero et al., ICLR 2015): the student's hint layer, passed through a trainable regressor,
 * regresses the teacher's guided layer (mean squared error). The regressor is RepDistiller's ConvReg;
 * it trains with the student and is dropped at export. By default the hint is one term trained jointly
 * (RepDistiller's and mdistiller's form); `hintEpochs` > 0 gives the paper's two stages: first the
 * student up to the hint layer and the regressor learn the hint alone, then the remaining terms train
 * the whole student and this term contributes nothing.
 */
export const fitnets = stagedPairMethod<Options>({
  name: 'fitnets',
  kind: 'feature',
  description:
    'Romero et al. 2015: hint regression through a trainable regressor ' +
    '(adapter, dropped at export); hintEpochs > 0 for the two-stage schedule',
  options,
  epochs: (o) => o.hintEpochs,
  term: hint,
});
