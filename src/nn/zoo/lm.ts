/**
 * Language models over int64 token ids [N, L] with any sequence length L up to `maxLen`: a causal transformer (GPT-style,
 * pre-norm) and a causal convolutional student. Both return `logits` [N, L, vocab], position t predicting token t + 1,
 * and attend or convolve over positions ≤ t only, so right padding never changes the logits of real tokens.
 */
import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { KdError } from '../../util/errors.js';
import type { BuildContext } from '../context.js';
import { gelu } from '../layers/activation.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { LayerNorm } from '../layers/norm.js';
import type { ModelDef } from '../model.js';

/** Width, depth, heads and head of a causal transformer language model. */
export interface LmOptions {
  readonly vocab: number;
  readonly dim?: number;
  readonly layers?: number;
  readonly heads?: number;
  /** MLP width (default 4 × dim). */
  readonly ffn?: number;
  /** Longest sequence (rows of the position table). */
  readonly maxLen?: number;
  /** The output head reuses the token embedding (default true, as GPT-2). */
  readonly tied?: boolean;
}

/** Positions 0…L−1 of each row of `ids`, computed from its run-time length (int64 [N, L]). */
function positions(ids: Value): Value {
  const g = ids.graph;
  const ones = op.add(op.mul(ids, g.initializer('zero_i64', op.i64([0], []))), g.initializer('one_i64', op.i64([1], [])));
  const cum = g.node('CumSum', [ones, g.initializer('pos_axis', op.i64([1], []))], {}, { name: 'positions' })[0];
  return op.sub(cum, g.initializer('one_i64_', op.i64([1], [])), 'pos_ids');
}

/** Additive causal mask [L, L] from the positions of one row: 0 where key ≤ query, −1e9 after (exp underflows to 0). */
function causalMask(pos: Value): Value {
  const g = pos.graph;
  const row = op.gather(pos, g.initializer('row0', op.i64([0], [])), 0); // [L]
  const later = op.greater(op.unsqueeze(row, [0]), op.unsqueeze(row, [1])); // [L(query), L(key)]: key after query
  return op.where(later, op.scalar(g, -1e9, 'masked'), op.scalar(g, 0), 'causal_mask');
}

/** A pre-norm block: masked multi-head self-attention and a GELU MLP, each with a residual. */
function block(ctx: BuildContext, x: Value, mask: Value, dim: number, heads: number, ffn: number): Value {
  const hd = dim / heads;
  const h = new LayerNorm('ln1', [dim]).apply(ctx, x);
  const split = (v: Value, name: string) => op.transpose(op.reshape(v, [0, 0, heads, hd]), [0, 2, 1, 3], name); // [N, H, L, hd]
  const q = split(new Linear('q', dim, dim).apply(ctx, h), 'q_heads');
  const k = split(new Linear('k', dim, dim).apply(ctx, h), 'k_heads');
  const v = split(new Linear('v', dim, dim).apply(ctx, h), 'v_heads');
  const scores = op.add(op.scale(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), mask, 'scores');
  const attn = op.softmax(scores, -1, 'attn');
  const merged = op.reshape(op.transpose(op.matmul(attn, v), [0, 2, 1, 3]), [0, 0, dim], 'attn_out');
  const x1 = op.add(x, new Linear('proj', dim, dim).apply(ctx, merged), 'res1');
  const h2 = new LayerNorm('ln2', [dim]).apply(ctx, x1);
  const m = new Linear('fc2', ffn, dim).apply(ctx, gelu(new Linear('fc1', dim, ffn, { init: 'he' }).apply(ctx, h2), 'gelu'));
  return op.add(x1, m, 'out');
}

/** A causal transformer language model (GPT-style): token + learned position embedding, `layers` pre-norm blocks, final LayerNorm. */
export function causalLm(o: LmOptions): ModelDef {
  const dim = o.dim ?? 64,
    layers = o.layers ?? 2,
    heads = o.heads ?? 4,
    ffn = o.ffn ?? 4 * dim,
    maxLen = o.maxLen ?? 256;
  if (dim % heads) throw new KdError('BAD_MODEL', `lm: dim ${dim} is not divisible by heads ${heads}`);
  return {
    name: `lm-${layers}x${dim}`,
    inputs: { ids: { dtype: 'int64', shape: ['N', 'L'] } },
    forward(ctx, { ids }) {
      // GPT-2's 0.02: with the head tied to it, N(0, 1) embeddings would start the logits at a scale of √dim.
      const embed = new Embedding('embed', o.vocab, dim, 0.02);
      const pos = positions(ids);
      const table = ctx.param('pos_embed', [maxLen, dim], { kind: 'normal', std: 0.02 });
      let x = op.add(embed.apply(ctx, ids), op.gather(table, pos, 0), 'embed_pos');
      const mask = causalMask(pos);
      for (let i = 0; i < layers; i++) x = ctx.scope(`block${i}`, () => block(ctx, x, mask, dim, heads, ffn));
      const h = new LayerNorm('ln_f', [dim]).apply(ctx, x);
      // Tied: logits against the embedding matrix itself (declared by the Embedding, read here by name).
      const logits =
        o.tied === false
          ? new Linear('head', dim, o.vocab, { bias: false }).apply(ctx, h)
          : op.matmul(h, op.transpose(ctx.g.value('embed/weight'), [1, 0]));
      return { logits: op.identity(logits, 'logits'), features: h };
    },
  };
}

/** Width, depth and kernel of a causal convolutional language model. */
export interface ConvLmOptions {
  readonly vocab: number;
  readonly dim?: number;
  readonly layers?: number;
  /** Kernel width of each causal convolution (it sees the current and kernel − 1 previous positions). */
  readonly kernel?: number;
}

/**
 * A causal convolutional language model (a small student): embedding, `layers` residual blocks of a causal 1-D
 * convolution (dilation doubling per layer, so the receptive field is 1 + (kernel − 1)(2^layers − 1) positions) and
 * GELU, then a linear head. Each tap of the convolution is the sequence shifted right by its offset (a Gather of
 * earlier positions, zero before the start) times a [dim, dim] matrix, so the model runs and trains at any length.
 * No position table.
 */
export function convLm(o: ConvLmOptions): ModelDef {
  const dim = o.dim ?? 64,
    layers = o.layers ?? 3,
    k = o.kernel ?? 3;
  return {
    name: `convlm-${layers}x${dim}`,
    inputs: { ids: { dtype: 'int64', shape: ['N', 'L'] } },
    forward(ctx, { ids }) {
      const g = ctx.g;
      const row = op.gather(positions(ids), g.initializer('row0', op.i64([0], [])), 0); // [L]
      let x = new Embedding('embed', o.vocab, dim, 0.02).apply(ctx, ids); // [N, L, D]
      for (let i = 0; i < layers; i++) {
        const d = 2 ** i;
        x = ctx.scope(`block${i}`, () => {
          let acc = new Linear('tap0', dim, dim).apply(ctx, x);
          for (let j = 1; j < k; j++) {
            const back = op.sub(row, g.initializer(`shift${j}`, op.i64([j * d], [])));
            const valid = op.cast(op.not(op.less(back, g.initializer('zero', op.i64([0], [])))), 'float32'); // [L]
            const clamped = op.max(back, g.initializer('zero_', op.i64([0], [])));
            const shifted = op.mul(op.gather(x, clamped, 1), op.unsqueeze(valid, [-1]), `shift${j}`);
            acc = op.add(acc, new Linear(`tap${j}`, dim, dim, { bias: false }).apply(ctx, shifted));
          }
          return op.add(x, gelu(acc, 'gelu'), 'out');
        });
      }
      const h = new LayerNorm('ln_f', [dim]).apply(ctx, x);
      return { logits: op.identity(new Linear('head', dim, o.vocab).apply(ctx, h), 'logits'), features: h };
    },
  };
}
