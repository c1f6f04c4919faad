import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { attrInt, normAxis } from '../../graph/shape-infer.js';
import { registerGrad, unbroadcast } from '../rule.js';
import { noGrad, range } from './conv.js';

// Inference form only: y = scale·(x − mean)/√(var + ε) + B with fixed statistics, which is how a
// frozen eval-mode teacher appears; training-mode BN is built from primitives instead.
registerGrad('BatchNormalization', (c, [dy]) => {
  const node = c.node,
    x = c.x(0);
  if (attrInt(node, 'training_mode', 0) !== 0 || node.outputs.length > 1)
    noGrad(node, 'gradient supports the inference form only (one output, training_mode=0)');
  const eps = attrInt(node, 'epsilon', 1e-5);
  const scale = c.x(1),
    mean = c.x(3),
    variance = c.x(4);
  const C = scale.shape[0];
  if (typeof C !== 'number') noGrad(node, 'gradient needs a fixed channel count');
  // Per-channel [C] vectors broadcast against [N, C, …] as [C, 1, …].
  const perChannel = (v: Value) => (x.rank > 2 ? op.reshape(v, [C, ...Array(x.rank - 2).fill(1)]) : v);
  const axes = [0, ...range(2, x.rank)];
  const inv = op.reciprocal(op.sqrt(op.addScalar(variance, eps)));
  const gain = op.mul(scale, inv);
  const sumDy = c.needs[2] || c.needs[3] ? op.reduceSum(dy!, axes) : undefined;
  // Σ dy·(x − mean) feeds both the scale and the variance gradients.
  const sumDyXc = c.needs[1] || c.needs[4] ? op.reduceSum(op.mul(dy!, op.sub(x, perChannel(mean))), axes) : undefined;
  return [
    c.needs[0] ? op.mul(dy!, perChannel(gain)) : undefined,
    c.needs[1] ? op.mul(sumDyXc!, inv) : undefined,
    c.needs[2] ? sumDy : undefined,
    c.needs[3] ? op.neg(op.mul(sumDy!, gain)) : undefined,
    // d/dvar (var + ε)^-½ = -½·inv³
    c.needs[4] ? op.mul(sumDyXc!, op.scale(op.mul(gain, op.mul(inv, inv)), -0.5)) : undefined,
  ];
});

registerGrad('LayerNormalization', (c, dys) => {
  const node = c.node,
    x = c.x(0),
    scale = c.x(1);
  const dy = dys[0];
  if (!dy || dys.slice(1).some((d) => d)) noGrad(node, 'gradient flows through output 0 (Y) only, not Mean or InvStdDev');
  const axes = range(normAxis(attrInt(node, 'axis', -1), x.rank), x.rank);
  const eps = attrInt(node, 'epsilon', 1e-5);
  const mean = (v: Value) => op.reduceMean(v, axes, true);
  const xc = op.sub(x, mean(x));
  const inv = op.reciprocal(op.sqrt(op.addScalar(mean(op.mul(xc, xc)), eps)));
  const xhat = op.mul(xc, inv);
  let dx: Value | undefined;
  if (c.needs[0]) {
    // The normalised input's gradient minus its projections onto the constant and x̂ directions,
    // which normalisation removes.
    const gh = op.mul(dy, scale);
    dx = op.mul(inv, op.sub(op.sub(gh, mean(gh)), op.mul(xhat, mean(op.mul(gh, xhat)))));
  }
  return [
    dx,
    c.needs[1] ? unbroadcast(op.mul(dy, xhat), scale) : undefined,
    node.inputs[2] && c.needs[2] ? unbroadcast(dy, c.x(2)) : undefined,
  ];
});
