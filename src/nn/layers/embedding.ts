import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { KdError } from '../../util/errors.js';
import type { BuildContext } from '../context.js';
import { Module } from '../module.js';

/** Token embedding: int64 ids [N, L] → [N, L, dim], weights N(0, std²): std 1 as in PyTorch by default. */
export class Embedding extends Module {
  constructor(
    name: string,
    readonly vocab: number,
    readonly dim: number,
    readonly std = 1,
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, ids: Value): Value {
    if (ids.dtype !== 'int64') throw new KdError('BAD_INPUT', `Embedding '${ctx.fullName('')}' takes int64 token ids, got ${ids.dtype}`);
    const w = ctx.param('weight', [this.vocab, this.dim], { kind: 'normal', std: this.std });
    return op.gather(w, ids, 0, 'out');
  }
}
