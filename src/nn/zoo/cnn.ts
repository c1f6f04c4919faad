import * as op from '../../graph/ops.js';
import { Conv2d } from '../layers/conv.js';
import { Dropout } from '../layers/dropout.js';
import { Linear } from '../layers/linear.js';
import { BatchNorm } from '../layers/norm.js';
import type { ModelDef } from '../model.js';

export interface CnnOptions {
  inputShape?: [number, number, number];
  classes?: number;
  /** Hidden dense width before the classifier (none by default). */
  hidden?: number;
  dropout?: number;
  name?: string;
}

/**
 * A small VGG-style CNN: per entry of `channels` a block conv3x3 (same, no bias) → BatchNorm →
 * ReLU → MaxPool 2, then Flatten → Linear. With [32, 64, 128] and [8, 16] these are the reference
 * teacher and student of kdistill's benchmark (the same as PyTorch's `cnn()` in bench/torch).
 */
export function cnn(channels: number[], o: CnnOptions = {}): ModelDef {
  const [cin, H, W] = o.inputShape ?? [1, 28, 28];
  const classes = o.classes ?? 10;
  return {
    name: o.name ?? `cnn-${channels.join('-')}`,
    inputs: { x: { dtype: 'float32', shape: ['N', cin, H, W] } },
    forward(ctx, { x }) {
      let h = x,
        c = cin,
        hh = H,
        ww = W;
      channels.forEach((co, i) => {
        h = ctx.scope(`block${i + 1}`, () => {
          let z = new Conv2d('conv', c, co, { kernel: 3, padding: 1, bias: false }).apply(ctx, h);
          z = new BatchNorm('bn', co).apply(ctx, z);
          z = op.relu(z, 'relu');
          return op.maxPool(z, { kernel: [2, 2], name: 'pool' })[0];
        });
        c = co;
        hh = Math.floor(hh / 2);
        ww = Math.floor(ww / 2);
      });
      h = op.flatten(h, 1, 'flatten');
      let f = c * hh * ww;
      if (o.hidden) {
        h = op.relu(new Linear('fc_hidden', f, o.hidden, { init: 'he' }).apply(ctx, h), 'relu_hidden');
        if (o.dropout) h = new Dropout('drop', o.dropout).apply(ctx, h);
        f = o.hidden;
      }
      return { logits: op.identity(new Linear('fc', f, classes).apply(ctx, h), 'logits') };
    },
  };
}

/** LeNet-5 (ReLU, max-pool variant) for 28×28 inputs; `half` halves every width (LeNet-5-half). */
export function lenet5(o: { half?: boolean; classes?: number; inputShape?: [number, number, number] } = {}): ModelDef {
  const k = o.half ? 0.5 : 1;
  const [cin, H] = o.inputShape ?? [1, 28, 28];
  const c1 = 6 * k,
    c2 = 16 * k,
    f1 = 120 * k,
    f2 = 84 * k;
  const s = Math.floor((Math.floor(H / 2) - 4) / 2);
  return {
    name: o.half ? 'lenet5-half' : 'lenet5',
    inputs: { x: { dtype: 'float32', shape: ['N', cin, H, H] } },
    forward(ctx, { x }) {
      let h = op.relu(new Conv2d('conv1', cin, c1, { kernel: 5, padding: 2 }).apply(ctx, x), 'relu1');
      h = op.maxPool(h, { kernel: [2, 2], name: 'pool1' })[0];
      h = op.relu(new Conv2d('conv2', c1, c2, { kernel: 5 }).apply(ctx, h), 'relu2');
      h = op.flatten(op.maxPool(h, { kernel: [2, 2], name: 'pool2' })[0], 1, 'flatten');
      h = op.relu(new Linear('fc1', c2 * s * s, f1, { init: 'he' }).apply(ctx, h), 'relu3');
      h = op.relu(new Linear('fc2', f1, f2, { init: 'he' }).apply(ctx, h), 'relu4');
      return { logits: op.identity(new Linear('fc3', f2, o.classes ?? 10).apply(ctx, h), 'logits') };
    },
  };
}
