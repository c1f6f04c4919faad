import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { Fn } from '../module.js';

/** GELU, exact (erf) form as in PyTorch's default; opset 18 has no Gelu op, so it is composed. */
export function gelu(x: Value, name = 'out'): Value {
  const cdf = op.scale(op.addScalar(op.erf(op.scale(x, Math.SQRT1_2)), 1), 0.5);
  return op.mul(x, cdf, name);
}

export const ReLU = (name = 'relu') => new Fn(name, (_c, x) => op.relu(x, 'out'));
export const GELU = (name = 'gelu') => new Fn(name, (_c, x) => gelu(x));
export const Tanh = (name = 'tanh') => new Fn(name, (_c, x) => op.tanh(x, 'out'));
export const Sigmoid = (name = 'sigmoid') => new Fn(name, (_c, x) => op.sigmoid(x, 'out'));
export const Softmax = (name = 'softmax', axis = -1) => new Fn(name, (_c, x) => op.softmax(x, axis, 'out'));
export const LogSoftmax = (name = 'log_softmax', axis = -1) => new Fn(name, (_c, x) => op.logSoftmax(x, axis, 'out'));
