import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { KdError } from '../../util/errors.js';
import type { BuildContext } from '../context.js';
import type { Init } from '../init.js';
import { Module } from '../module.js';
import { quantizeActivation } from '../quant/activation.js';
import { fakeQuantWeight } from '../quant/fake-quant.js';

/** Bias and weight initialisation of a `Linear` layer. */
export interface LinearOptions {
  bias?: boolean;
  /** Weight initialisation: 'glorot' (default) or 'he' for layers followed by ReLU. */
  init?: 'glorot' | 'he';
}

/** Dense layer y = x·W + b with W stored [in, out]; inputs of rank > 2 apply it to the last axis. */
export class Linear extends Module {
  constructor(
    name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly opts: LinearOptions = {},
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    const last = x.shape[x.rank - 1];
    if (last !== this.inFeatures)
      throw new KdError(
        'SHAPE_MISMATCH',
        `Linear '${ctx.fullName('')}' expects ${this.inFeatures} input features, got shape [${x.shape.join(', ')}]`,
      );
    const winit: Init =
      this.opts.init === 'he'
        ? { kind: 'he', fanIn: this.inFeatures }
        : { kind: 'glorot', fanIn: this.inFeatures, fanOut: this.outFeatures };
    const param = ctx.param('weight', [this.inFeatures, this.outFeatures], winit);
    // Under quantisation-aware training the layer reads its input and weight as the int8 export will hold them.
    const q = ctx.quant;
    if (q?.activations) x = quantizeActivation(ctx, x, q);
    if (q) ctx.quantLayers.push(ctx.fullName(''));
    const w = q ? fakeQuantWeight(param, 1, q.bits) : param;
    if (this.opts.bias === false) return op.matmul(x, w, 'out');
    const b = ctx.param('bias', [this.outFeatures], { kind: 'zeros' });
    // Gemm keeps MatMul+Add one kernel for 2-D inputs; batched inputs need MatMul's broadcasting.
    return x.rank === 2 ? op.gemm(x, w, b, { name: 'out' }) : op.add(op.matmul(x, w), b, 'out');
  }
}
