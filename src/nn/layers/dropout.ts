import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import type { BuildContext } from '../context.js';
import { Module } from '../module.js';

/**
 * Inverted dropout. The mask comes from a per-step uniform-noise input filled from the run's seeded
 * stream, so each step draws a new mask and a resumed run draws the same masks as an uninterrupted one.
 * Eval mode is the identity (and vanishes from exported models).
 */
export class Dropout extends Module {
  constructor(
    name: string,
    readonly rate: number,
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    if (!ctx.training || this.rate === 0) return x;
    const keep = 1 - this.rate;
    const u = ctx.uniformNoise('noise', x.shape);
    const mask = op.cast(op.less(u, op.scalar(x.graph, keep)), 'float32');
    return op.mul(x, op.scale(mask, 1 / keep), 'out');
  }
}
