import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import type { Optimizer, StepInputs } from './optimizer.js';

/** Betas, epsilon and weight decay of Adam / AdamW (PyTorch defaults). */
export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Adam: L2 added to the gradient; AdamW: decoupled decay p ← p(1 − lr·wd). */
  weightDecay?: number;
}

function make(decoupled: boolean, o: AdamOptions): Optimizer {
  const b1 = o.beta1 ?? 0.9,
    b2 = o.beta2 ?? 0.999,
    eps = o.eps ?? 1e-8,
    wd = o.weightDecay ?? (decoupled ? 0.01 : 0);
  const name = decoupled ? 'adamw' : 'adam';
  return {
    name,
    slots: ['m', 'v'],
    describe: () => ({ name, beta1: b1, beta2: b2, eps, weightDecay: wd }),
    update(p0: Value, grad: Value, [m0, v0]: readonly Value[], s: StepInputs) {
      const g = p0.graph;
      let p = p0,
        gr = grad;
      if (wd && decoupled) p = op.mul(p0, op.sub(op.scalar(g, 1), op.scale(s.lr, wd)));
      else if (wd) gr = op.add(grad, op.scale(p0, wd));
      const m = op.add(op.scale(m0, b1), op.scale(gr, 1 - b1));
      const v = op.add(op.scale(v0, b2), op.scale(op.mul(gr, gr), 1 - b2));
      // Bias corrections are scalars: lr/c1 / (√v/√c2 + eps) = (lr·√c2/c1) / (√v + eps·√c2), which
      // saves a full-size pass over the parameters (the update is memory-bound).
      const c1 = op.sub(op.scalar(g, 1), op.pow(op.scalar(g, b1), s.step));
      const sc2 = op.sqrt(op.sub(op.scalar(g, 1), op.pow(op.scalar(g, b2), s.step)));
      const stepSize = op.div(op.mul(s.lr, sc2), c1);
      const denom = op.add(op.sqrt(v), op.scale(sc2, eps));
      return { param: op.sub(p, op.mul(op.div(m, denom), stepSize)), slots: [m, v] };
    },
  };
}

/** Adam (Kingma & Ba), PyTorch semantics including L2 weight decay folded into the gradient. */
export const adam = (o: AdamOptions = {}): Optimizer => make(false, o);
/** AdamW (Loshchilov & Hutter): decoupled weight decay, default 0.01 as in PyTorch. */
export const adamw = (o: AdamOptions = {}): Optimizer => make(true, o);
