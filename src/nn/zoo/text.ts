import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { Conv2d } from '../layers/conv.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { LayerNorm } from '../layers/norm.js';
import { gelu } from '../layers/activation.js';
import type { BuildContext } from '../context.js';
import type { ModelDef } from '../model.js';
import { KdError } from '../../util/errors.js';

export interface TextOptions {
  vocab: number;
  seqLen: number;
  classes: number;
  dim?: number;
  /** 'meanpool': embedding bag; 'conv': a width-3 convolution over tokens, then max over time. */
  kind?: 'meanpool' | 'conv';
  channels?: number;
}

/** A small text classifier over int64 token ids [N, seqLen] (id 0 may be padding; it is embedded like any id). */
export function textClassifier(o: TextOptions): ModelDef {
  const dim = o.dim ?? 32;
  return {
    name: `text-${o.kind ?? 'meanpool'}`,
    inputs: { ids: { dtype: 'int64', shape: ['N', o.seqLen] } },
    forward(ctx, { ids }) {
      const e = new Embedding('embed', o.vocab, dim).apply(ctx, ids); // [N, L, D]
      let f: Value;
      let width = dim;
      if ((o.kind ?? 'meanpool') === 'meanpool') f = op.reduceMean(e, [1], false, 'pool');
      else {
        // Tokens as a 1×L image with D channels, so the 2-D conv kernels and gradients serve text too.
        const img = op.unsqueeze(op.transpose(e, [0, 2, 1]), [2]); // [N, D, 1, L]
        width = o.channels ?? 64;
        const c = op.relu(new Conv2d('conv', dim, width, { kernel: [1, 3], padding: 0 }).apply(ctx, op.identity(img)), 'relu');
        f = op.reduceMax(op.reshape(c, [0, 0, -1]), [2], false, 'pool');
      }
      return { logits: op.identity(new Linear('fc', width, o.classes).apply(ctx, f), 'logits'), features: f };
    },
  };
}

export interface TransformerOptions extends Omit<TextOptions, 'kind' | 'channels'> {
  heads?: number;
  ffn?: number;
  /** Encoder blocks (default 1); one block keeps the scope `block`, more are `block1`, `block2`, ... */
  layers?: number;
}

/**
 * Pre-norm transformer encoder blocks (multi-head self-attention + GELU MLP) with a mean-pooled classifier. Padding
 * (id 0) is masked: no position attends to it and the pooled mean is over real tokens only, so a text's prediction does
 * not depend on how much padding follows it.
 */
export function transformerClassifier(o: TransformerOptions): ModelDef {
  const dim = o.dim ?? 32,
    heads = o.heads ?? 4,
    ffn = o.ffn ?? dim * 4,
    L = o.seqLen;
  if (dim % heads) throw new KdError('BAD_MODEL', `transformer dim ${dim} is not divisible by heads ${heads}`);
  const hd = dim / heads;
  const layers = o.layers ?? 1;
  if (!Number.isInteger(layers) || layers < 1)
    throw new KdError('BAD_MODEL', `transformer layers must be a positive integer, got ${layers}`);
  return {
    name: layers === 1 ? 'transformer' : `transformer-${layers}x${dim}`,
    inputs: { ids: { dtype: 'int64', shape: ['N', L] } },
    forward(ctx, { ids }) {
      const pos = ctx.param('pos_embed', [L, dim], { kind: 'normal', std: 0.02 });
      let x = op.add(new Embedding('embed', o.vocab, dim).apply(ctx, ids), pos, 'embed_pos');
      const g = ctx.g;
      const pad = op.equal(ids, g.initializer('pad_id', op.i64([0], [])));
      // Additive key mask [N, 1, 1, L]: −1e9 (exp underflows to 0) on padding keys.
      const keyMask = op.unsqueeze(op.where(pad, op.scalar(g, -1e9, 'masked'), op.scalar(g, 0)), [1, 2], 'key_mask');
      for (let b = 1; b <= layers; b++)
        x = ctx.scope(layers === 1 ? 'block' : `block${b}`, () => encoderBlock(ctx, x, keyMask, dim, heads, hd, ffn, L));
      const real = op.unsqueeze(op.cast(op.not(pad), 'float32'), [2]); // [N, L, 1]
      const summed = op.reduceSum(op.mul(new LayerNorm('ln_f', [dim]).apply(ctx, x), real), [1], false);
      const f = op.div(summed, op.max(op.reduceSum(real, [1], false), op.scalar(g, 1)), 'pool');
      return { logits: op.identity(new Linear('head', dim, o.classes).apply(ctx, f), 'logits'), features: f };
    },
  };
}

function encoderBlock(ctx: BuildContext, x: Value, keyMask: Value, dim: number, heads: number, hd: number, ffn: number, L: number): Value {
  const h = new LayerNorm('ln1', [dim]).apply(ctx, x);
  const split = (v: Value, name: string) => op.transpose(op.reshape(v, [0, L, heads, hd]), [0, 2, 1, 3], name); // [N, H, L, hd]
  const q = split(new Linear('q', dim, dim).apply(ctx, h), 'q_heads');
  const k = split(new Linear('k', dim, dim).apply(ctx, h), 'k_heads');
  const v = split(new Linear('v', dim, dim).apply(ctx, h), 'v_heads');
  const scores = op.add(op.scale(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), keyMask, 'scores');
  const attn = op.softmax(scores, -1, 'attn');
  const ctxv = op.reshape(op.transpose(op.matmul(attn, v), [0, 2, 1, 3]), [0, L, dim], 'attn_out');
  const x1 = op.add(x, new Linear('proj', dim, dim).apply(ctx, ctxv), 'res1');
  const h2 = new LayerNorm('ln2', [dim]).apply(ctx, x1);
  const m = new Linear('fc2', ffn, dim).apply(ctx, gelu(new Linear('fc1', dim, ffn).apply(ctx, h2), 'gelu'));
  return op.add(x1, m, 'out');
}
