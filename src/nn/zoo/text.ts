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
}

/** One pre-norm transformer encoder block (multi-head self-attention + GELU MLP) with a mean-pooled classifier. */
export function transformerClassifier(o: TransformerOptions): ModelDef {
  const dim = o.dim ?? 32,
    heads = o.heads ?? 4,
    ffn = o.ffn ?? dim * 4,
    L = o.seqLen;
  if (dim % heads) throw new KdError('BAD_MODEL', `transformer dim ${dim} is not divisible by heads ${heads}`);
  const hd = dim / heads;
  return {
    name: 'transformer',
    inputs: { ids: { dtype: 'int64', shape: ['N', L] } },
    forward(ctx, { ids }) {
      const pos = ctx.param('pos_embed', [L, dim], { kind: 'normal', std: 0.02 });
      let x = op.add(new Embedding('embed', o.vocab, dim).apply(ctx, ids), pos, 'embed_pos');
      x = ctx.scope('block', () => encoderBlock(ctx, x, dim, heads, hd, ffn, L));
      const f = op.reduceMean(new LayerNorm('ln_f', [dim]).apply(ctx, x), [1], false, 'pool');
      return { logits: op.identity(new Linear('head', dim, o.classes).apply(ctx, f), 'logits'), features: f };
    },
  };
}

function encoderBlock(ctx: BuildContext, x: Value, dim: number, heads: number, hd: number, ffn: number, L: number): Value {
  const h = new LayerNorm('ln1', [dim]).apply(ctx, x);
  const split = (v: Value, name: string) => op.transpose(op.reshape(v, [0, L, heads, hd]), [0, 2, 1, 3], name); // [N, H, L, hd]
  const q = split(new Linear('q', dim, dim).apply(ctx, h), 'q_heads');
  const k = split(new Linear('k', dim, dim).apply(ctx, h), 'k_heads');
  const v = split(new Linear('v', dim, dim).apply(ctx, h), 'v_heads');
  const scores = op.scale(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd), 'scores');
  const attn = op.softmax(scores, -1, 'attn');
  const ctxv = op.reshape(op.transpose(op.matmul(attn, v), [0, 2, 1, 3]), [0, L, dim], 'attn_out');
  const x1 = op.add(x, new Linear('proj', dim, dim).apply(ctx, ctxv), 'res1');
  const h2 = new LayerNorm('ln2', [dim]).apply(ctx, x1);
  const m = new Linear('fc2', ffn, dim).apply(ctx, gelu(new Linear('fc1', dim, ffn).apply(ctx, h2), 'gelu'));
  return op.add(x1, m, 'out');
}
