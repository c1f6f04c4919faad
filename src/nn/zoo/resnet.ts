import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import type { BuildContext } from '../context.js';
import { Conv2d } from '../layers/conv.js';
import { Linear } from '../layers/linear.js';
import { BatchNorm } from '../layers/norm.js';
import { asQuantized } from '../quant/activation.js';
import type { ModelDef } from '../model.js';
import { KdError } from '../../util/errors.js';

/** Basic residual block (two 3×3 convs); a 1×1 conv + BN projects the shortcut when shape changes. */
function basicBlock(ctx: BuildContext, x: Value, cin: number, cout: number, stride: number): Value {
  let h = new Conv2d('conv1', cin, cout, { kernel: 3, stride, padding: 1, bias: false }).apply(ctx, x);
  h = op.relu(new BatchNorm('bn1', cout).apply(ctx, h), 'relu1');
  h = new Conv2d('conv2', cout, cout, { kernel: 3, padding: 1, bias: false }).apply(ctx, h);
  h = new BatchNorm('bn2', cout).apply(ctx, h);
  let sc = x;
  if (stride !== 1 || cin !== cout) {
    sc = new Conv2d('proj', cin, cout, { kernel: 1, stride, bias: false }).apply(ctx, x);
    sc = new BatchNorm('proj_bn', cout).apply(ctx, sc);
  }
  // The int8 model adds two uint8 tensors (QLinearAdd): quantisation-aware training reads both as it will.
  return op.relu(op.add(asQuantized(ctx, h, 'add_a'), asQuantized(ctx, sc, 'add_b'), 'add'), 'out');
}

export interface ResnetOptions {
  /** 6n + 2 (8, 20, 32, ...). */
  depth: number;
  inputShape?: [number, number, number];
  classes?: number;
  /** Channels of the first stage (16 in He et al.'s CIFAR ResNets); stages double it. */
  width?: number;
}

/** CIFAR-style ResNet (He et al. 2016, §4.2) for 28×28 or 32×32 inputs: three stages of n basic blocks. */
export function resnet(o: ResnetOptions): ModelDef {
  if ((o.depth - 2) % 6 !== 0 || o.depth < 8) throw new KdError('BAD_MODEL', `resnet depth must be 6n+2 (8, 20, 32, ...), got ${o.depth}`);
  const n = (o.depth - 2) / 6;
  const [cin, H, W] = o.inputShape ?? [3, 32, 32];
  const w = o.width ?? 16;
  return {
    name: `resnet${o.depth}`,
    inputs: { x: { dtype: 'float32', shape: ['N', cin, H, W] } },
    forward(ctx, { x }) {
      let h = new Conv2d('stem', cin, w, { kernel: 3, padding: 1, bias: false }).apply(ctx, x);
      h = op.relu(new BatchNorm('stem_bn', w).apply(ctx, h), 'stem_relu');
      let c = w;
      for (let s = 0; s < 3; s++) {
        const co = w << s;
        for (let b = 0; b < n; b++) {
          const stride = s > 0 && b === 0 ? 2 : 1;
          const cc = c;
          h = ctx.scope(`layer${s + 1}.${b}`, () => basicBlock(ctx, h, cc, co, stride));
          c = co;
        }
      }
      const f = op.flatten(op.globalAvgPool(asQuantized(ctx, h, 'gap_in'), 'gap'), 1, 'features');
      return { logits: op.identity(new Linear('fc', c, o.classes ?? 10).apply(ctx, f), 'logits'), features: f };
    },
  };
}
