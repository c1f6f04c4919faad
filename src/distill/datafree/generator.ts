import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { A } from '../../graph/types.js';
import type { BuildContext } from '../../nn/context.js';
import { Conv2d } from '../../nn/layers/conv.js';
import { Linear } from '../../nn/layers/linear.js';
import { BatchNorm } from '../../nn/layers/norm.js';
import type { ModelDef } from '../../nn/model.js';
import { KdError } from '../../util/errors.js';

/** Shape of DAFL's generator. */
export interface GeneratorOptions {
  /** Length of the noise vector z (DAFL: 100). */
  readonly latent: number;
  /** Channels after the first and second upsampling (DAFL: 128 and 64). */
  readonly channels: readonly [number, number];
  /** Samples [C, H, W]; H and W divisible by 4. */
  readonly sampleShape: readonly number[];
  /** The data range the tanh output is mapped onto. */
  readonly range: readonly [number, number];
}

/**
 * DAFL's generator (Chen et al. 2019, official code): Linear → BN → ×2 nearest upsampling → conv-BN-LeakyReLU(0.2) →
 * ×2 upsampling → conv-BN-LeakyReLU(0.2) → conv → tanh. The official code ends with a BatchNorm without affine
 * parameters, producing inputs in the normalised space of its teachers; kdistill's teachers take the data's own range,
 * so tanh's output is mapped linearly onto `range` instead.
 */
export function generator(o: GeneratorOptions): ModelDef {
  const [C, H, W] = o.sampleShape;
  if (o.sampleShape.length !== 3 || H % 4 || W % 4)
    throw new KdError('BAD_OPTION', `dafl: the generator makes images [C, H, W] with H and W divisible by 4, not [${o.sampleShape}]`);
  const [c0, c1] = o.channels;
  const [lo, hi] = o.range;
  return {
    name: 'dafl-generator',
    inputs: { z: { dtype: 'float32', shape: ['N', o.latent] } },
    forward(ctx: BuildContext, { z }) {
      const leaky = (v: Value, name: string) => ctx.g.node('LeakyRelu', [v], { alpha: A.f(0.2) }, { name })[0];
      let h = new Linear('fc', o.latent, c0 * (H / 4) * (W / 4)).apply(ctx, z);
      h = new BatchNorm('bn0', c0).apply(ctx, op.reshape(h, [-1, c0, H / 4, W / 4]));
      h = op.resizeNearest(h, [1, 1, 2, 2]);
      h = leaky(new BatchNorm('bn1', c0).apply(ctx, new Conv2d('conv1', c0, c0, { kernel: 3, padding: 1 }).apply(ctx, h)), 'act1');
      h = op.resizeNearest(h, [1, 1, 2, 2]);
      h = leaky(new BatchNorm('bn2', c1).apply(ctx, new Conv2d('conv2', c0, c1, { kernel: 3, padding: 1 }).apply(ctx, h)), 'act2');
      const t = op.tanh(new Conv2d('conv3', c1, C, { kernel: 3, padding: 1 }).apply(ctx, h));
      return { image: op.identity(op.addScalar(op.scale(t, (hi - lo) / 2), (hi + lo) / 2), 'image') };
    },
  };
}
