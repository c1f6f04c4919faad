import { z } from 'zod';
import type { Value } from '../../../graph/graph.js';
import * as op from '../../../graph/ops.js';
import { A } from '../../../graph/types.js';
import type { BuildContext } from '../../../nn/context.js';
import { Conv2d } from '../../../nn/layers/conv.js';
import { BatchNorm } from '../../../nn/layers/norm.js';
import { l2Normalize } from '../../../nn/losses.js';
import type { MethodInputs } from '../../method.js';
import { nodePair, pairMethod, requireAux, requireSameSpatial } from './node-options.js';

const options = z
  .object({
    ...nodePair,
    /** Factor channels as a fraction of the teacher's (the paper's and RepDistiller's k = 0.5). */
    rate: z.number().positive().max(4).default(0.5),
    /** Epochs of paraphraser pre-training on teacher features (RepDistiller: 30 of 240); 0 leaves it at its initialisation. */
    paraphraserEpochs: z.number().int().min(0).default(1),
    /** Exponent of the factor's channel pooling (p1) and of the factor distance (p2: 1 = L1, the paper's). */
    p1: z.number().positive().default(2),
    p2: z.union([z.literal(1), z.literal(2)]).default(1),
  })
  .strict();
type Options = z.infer<typeof options>;

const leaky = (x: Value) => x.graph.node('LeakyRelu', [x], { alpha: A.f(0.1) })[0];

/** A 3×3 ConvTranspose with bias (stride 1, padding 1), weights [in, out, 3, 3] as PyTorch stores them. */
function convT(ctx: BuildContext, name: string, cin: number, cout: number, x: Value, frozen: boolean): Value {
  return ctx.scope(name, () => {
    const decl = frozen ? ctx.buffer.bind(ctx) : ctx.param.bind(ctx);
    const w = decl('weight', [cin, cout, 3, 3], { kind: 'he', fanIn: cin * 9 });
    const b = decl('bias', [cout], { kind: 'zeros' });
    return op.add(op.convTranspose(x, w, { pads: [1, 1, 1, 1] }), op.reshape(b, [1, cout, 1, 1]));
  });
}

/** A 3×3 conv with bias; frozen weights are declared as buffers, so they keep a pre-trained value and get no update. */
function conv(ctx: BuildContext, name: string, cin: number, cout: number, x: Value, frozen: boolean): Value {
  if (!frozen) return new Conv2d(name, cin, cout, { kernel: 3, padding: 1 }).apply(ctx, x);
  return ctx.scope(name, () =>
    op.conv(x, ctx.buffer('weight', [cout, cin, 3, 3], { kind: 'he', fanIn: cin * 9 }), ctx.buffer('bias', [cout], { kind: 'zeros' }), {
      pads: [1, 1, 1, 1],
    }),
  );
}

/** RepDistiller's Paraphraser encoder (no BatchNorm): teacher feature → factor. */
function encode(aux: BuildContext, t: Value, cf: number, frozen: boolean): Value {
  const ct = t.shape[1] as number;
  return aux.scope('paraphraser', () => {
    let h = leaky(conv(aux, 'enc1', ct, ct, t, frozen));
    h = leaky(conv(aux, 'enc2', ct, cf, h, frozen));
    return leaky(conv(aux, 'enc3', cf, cf, h, frozen));
  });
}

const factorChannels = (t: Value, o: Options) => Math.max(1, Math.floor((t.shape[1] as number) * o.rate));

/** Paraphraser pre-training: reconstruct the teacher feature through the factor bottleneck (MSE). */
function reconstruction({ teacher, aux }: MethodInputs, o: Options): Value {
  const a = requireAux('ft', 'a paraphraser and a translator', aux);
  const t = teacher[o.teacherNode],
    ct = t.shape[1] as number,
    cf = factorChannels(t, o);
  const f = encode(a, t, cf, false);
  const rec = a.scope('paraphraser', () => {
    let h = leaky(convT(a, 'dec1', cf, cf, f, false));
    h = leaky(convT(a, 'dec2', cf, ct, h, false));
    return leaky(convT(a, 'dec3', ct, ct, h, false));
  });
  const d = op.sub(rec, t);
  return op.reduceMean(op.mul(d, d), undefined, false, 'ft_reconstruction');
}

/** Channel-pooled, flattened, L2-normalised factor (RepDistiller's `FactorTransfer.factor`). */
function factor(f: Value, p1: number): Value {
  const pw = p1 === 2 ? op.mul(f, f) : op.pow(f, op.scalar(f.graph, p1));
  return l2Normalize(op.reshape(op.reduceMean(pw, [1]), [0, -1]), 1);
}

/**
 * Factor transfer (Kim, Park, Kwak, NeurIPS 2018), as RepDistiller implements it: a paraphraser
 * (conv autoencoder on the teacher feature, pre-trained on reconstruction for `paraphraserEpochs`, then
 * frozen) gives the teacher factor; a trainable translator (3 conv + BN + LeakyReLU) gives the student
 * factor; the loss is the mean |difference| of their normalised channel-pooled maps. The paper's β = 200
 * is the term's weight. Both modules are adapters, absent from the exported student. Same spatial size
 * required (RepDistiller pools the larger map; pick nodes of one resolution instead).
 */
export const ft = pairMethod<Options>({
  name: 'ft',
  kind: 'feature',
  description: 'Kim et al. 2018: factor transfer through a pre-trained paraphraser (teacher) and a translator (student), both adapters',
  options,
  loss({ student, teacher, aux: maybeAux }, o) {
    const aux = requireAux('ft', 'a paraphraser and a translator', maybeAux);
    const s = student[o.studentNode],
      t = teacher[o.teacherNode];
    requireSameSpatial('ft', o, s, t);
    const cs = s.shape[1] as number,
      cf = factorChannels(t, o);
    const ft_ = encode(aux, t, cf, true);
    const fs = aux.scope('translator', () => {
      const block = (name: string, cin: number, cout: number, x: Value) =>
        leaky(new BatchNorm(`${name}_bn`, cout).apply(aux, conv(aux, name, cin, cout, x, false)));
      return block('enc3', cf, cf, block('enc2', cs, cf, block('enc1', cs, cs, s)));
    });
    const d = op.sub(factor(fs, o.p1), factor(ft_, o.p1));
    return op.reduceMean(o.p2 === 1 ? op.abs(d) : op.mul(d, d), undefined, false, 'ft');
  },
  pretrain: (o) => ({ epochs: o.paraphraserEpochs, trains: 'adapters', loss: reconstruction }),
});
