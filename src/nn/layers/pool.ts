import * as op from '../../graph/ops.js';
import { Fn } from '../module.js';

/** Max pooling; stride defaults to the kernel size (non-overlapping windows). */
export const MaxPool2d = (kernel = 2, stride = kernel, padding = 0, name = 'maxpool') =>
  new Fn(
    name,
    (_c, x) =>
      op.maxPool(x, { kernel: [kernel, kernel], strides: [stride, stride], pads: [padding, padding, padding, padding], name: 'out' })[0],
  );

/** Average pooling (padding excluded from the average, as PyTorch's count_include_pad=False). */
export const AvgPool2d = (kernel = 2, stride = kernel, padding = 0, name = 'avgpool') =>
  new Fn(name, (_c, x) =>
    op.avgPool(x, { kernel: [kernel, kernel], strides: [stride, stride], pads: [padding, padding, padding, padding], name: 'out' }),
  );

/** Global average pooling to [N, C] (flattened). */
export const GlobalAvgPool = (name = 'gap') => new Fn(name, (_c, x) => op.flatten(op.globalAvgPool(x), 1, 'out'));
