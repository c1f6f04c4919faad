import * as op from '../../graph/ops.js';
import { Fn } from '../module.js';

/** Flattens everything after the batch axis. */
export const Flatten = (name = 'flatten') => new Fn(name, (_c, x) => op.flatten(x, 1, 'out'));

/** Reshapes to [N, ...shape] keeping the (symbolic) batch. */
export const Reshape = (shape: number[], name = 'reshape') => new Fn(name, (_c, x) => op.reshape(x, [0, ...shape], 'out'));
