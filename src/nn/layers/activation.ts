import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { Fn } from '../module.js';

/** GELU, exact (erf) form as in PyTorch's default; opset 18 has no Gelu op, so it is composed. */
export function gelu(x: Value, name = 'out'): Value {
  const cdf = op.scale(op.addScalar(op.erf(op.scale(x, Math.SQRT1_2)), 1), 0.5);
  return op.mul(x, cdf, name);
}

/** max(0, x), as a layer. */
export const ReLU = (name = 'relu') => new Fn(name, (_c, x) => op.relu(x, 'out'));
/** GELU (exact, erf form), as a layer. */
export const GELU = (name = 'gelu') => new Fn(name, (_c, x) => gelu(x));
/** tanh(x), as a layer. */
export const Tanh = (name = 'tanh') => new Fn(name, (_c, x) => op.tanh(x, 'out'));
/** 1 / (1 + e^−x), as a layer. */
export const Sigmoid = (name = 'sigmoid') => new Fn(name, (_c, x) => op.sigmoid(x, 'out'));
/** Softmax over `axis` (default the last), as a layer. */
export const Softmax = (name = 'softmax', axis = -1) => new Fn(name, (_c, x) => op.softmax(x, axis, 'out'));
/** Log-softmax over `axis` (default the last), as a layer. */
export const LogSoftmax = (name = 'log_softmax', axis = -1) => new Fn(name, (_c, x) => op.logSoftmax(x, axis, 'out'));
