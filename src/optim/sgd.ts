import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import type { Optimizer, StepInputs } from './optimizer.js';

/** Momentum, dampening, Nesterov and weight decay of SGD (PyTorch semantics). */
export interface SgdOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  weightDecay?: number;
}

/** SGD with optional momentum, dampening, Nesterov momentum and weight decay; matches torch.optim.SGD step for step. */
export function sgd(o: SgdOptions = {}): Optimizer {
  const mom = o.momentum ?? 0,
    damp = o.dampening ?? 0,
    wd = o.weightDecay ?? 0;
  return {
    name: 'sgd',
    slots: mom ? ['momentum'] : [],
    describe: () => ({ name: 'sgd', momentum: mom, dampening: damp, nesterov: !!o.nesterov, weightDecay: wd }),
    update(p: Value, grad: Value, slots: readonly Value[], s: StepInputs) {
      let d = wd ? op.add(grad, op.scale(p, wd)) : grad;
      const out: Value[] = [];
      if (mom) {
        const g = p.graph;
        // PyTorch seeds the buffer with the raw gradient on the first step (no dampening there).
        const first = op.equal(s.step, op.scalar(g, 1));
        const buf = op.where(first, d, op.add(op.scale(slots[0], mom), damp ? op.scale(d, 1 - damp) : d));
        out.push(buf);
        d = o.nesterov ? op.add(d, op.scale(buf, mom)) : buf;
      }
      return { param: op.sub(p, op.mul(d, s.lr)), slots: out };
    },
  };
}
