import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { KdError } from '../../util/errors.js';
import type { BuildContext } from '../context.js';
import { Module } from '../module.js';
import { quantizeActivation } from '../quant/activation.js';
import { fakeQuantWeight } from '../quant/fake-quant.js';

/** Kernel, stride, padding, dilation, groups and bias of a `Conv2d`. */
export interface Conv2dOptions {
  kernel: number | [number, number];
  stride?: number;
  /** Zero padding on every side, or 'same' for stride-1 convs that keep the spatial size. */
  padding?: number | 'same';
  dilation?: number;
  /** Channel groups; groups = in channels gives a depthwise conv. */
  groups?: number;
  bias?: boolean;
}

/** 2-D convolution over NCHW inputs with He-normal weights [out, in/groups, kh, kw]. */
export class Conv2d extends Module {
  constructor(
    name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly opts: Conv2dOptions,
  ) {
    super(name);
    const g = opts.groups ?? 1;
    if (inChannels % g || outChannels % g)
      throw new KdError('BAD_LAYER', `Conv2d '${name}': ${inChannels} in / ${outChannels} out channels are not divisible by groups=${g}`);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels)
      throw new KdError(
        'SHAPE_MISMATCH',
        `Conv2d '${ctx.fullName('')}' expects [N, ${this.inChannels}, H, W], got [${x.shape.join(', ')}]`,
      );
    const [kh, kw] = typeof this.opts.kernel === 'number' ? [this.opts.kernel, this.opts.kernel] : this.opts.kernel;
    const d = this.opts.dilation ?? 1,
      groups = this.opts.groups ?? 1;
    const p = this.opts.padding ?? 0;
    if (p === 'same' && (((kh - 1) * d) % 2 || ((kw - 1) * d) % 2 || (this.opts.stride ?? 1) !== 1))
      throw new KdError(
        'BAD_LAYER',
        `Conv2d '${this.name}': padding 'same' needs an odd (dilated) kernel and stride 1; give the padding as a number instead`,
      );
    const [ph, pw] = p === 'same' ? [((kh - 1) * d) >> 1, ((kw - 1) * d) >> 1] : [p, p];
    const fanIn = (this.inChannels / groups) * kh * kw;
    const param = ctx.param('weight', [this.outChannels, this.inChannels / groups, kh, kw], { kind: 'he', fanIn });
    // Under quantisation-aware training the layer reads its input and weight as the int8 export will hold them.
    const q = ctx.quant;
    if (q?.activations) x = quantizeActivation(ctx, x, q);
    if (q) ctx.quantLayers.push(ctx.fullName(''));
    const w = q ? fakeQuantWeight(param, 0, q.bits) : param;
    const b = this.opts.bias === false ? undefined : ctx.param('bias', [this.outChannels], { kind: 'zeros' });
    const s = this.opts.stride ?? 1;
    return op.conv(x, w, b, { strides: [s, s], pads: [ph, pw, ph, pw], dilations: [d, d], group: groups, name: 'out' });
  }
}
