import type { Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { A } from '../../graph/types.js';
import { KdError } from '../../util/errors.js';
import type { BuildContext } from '../context.js';
import type { Init } from '../init.js';
import { Module } from '../module.js';

/** Epsilon and running-average momentum of a `BatchNorm` layer. */
export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average (PyTorch convention). */
  momentum?: number;
}

/**
 * Batch normalisation over axis 1 of [N, C] or [N, C, H, W]. Train mode normalises with batch
 * statistics and updates running mean / unbiased variance buffers; eval mode uses the buffers
 * through the BatchNormalization op, which exporters fold into the preceding conv/linear.
 */
export class BatchNorm extends Module {
  constructor(
    name: string,
    readonly channels: number,
    readonly opts: BatchNormOptions = {},
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    return batchNorm(ctx, x, { channels: this.channels, eps: this.opts.eps, momentum: this.opts.momentum });
  }
}

/** Where {@link batchNorm} declares its parameters and buffers and how it names its nodes. */
export interface BatchNormNames {
  /** Local names (under the context's scope) of scale, shift, running mean and running variance. */
  readonly weight: string;
  readonly bias: string;
  readonly mean: string;
  readonly var: string;
  /** Name of the node giving the normalised output. */
  readonly out: string;
  /** Name of that output value (default: the node's name). */
  readonly outValue?: string;
  /** Graph scope of the statistics' nodes (default: the current scope). */
  readonly inner?: string;
}

const LAYER_NAMES: BatchNormNames = { weight: 'weight', bias: 'bias', mean: 'running_mean', var: 'running_var', out: 'out' };

/**
 * The BatchNorm layer's computation with its names given, shared by the layer (names under its scope) and
 * imported ONNX models (the file's initializer and node names). `frozen` declares scale and shift as buffers
 * and normalises with the running statistics in every mode (a frozen part of a model does not adapt).
 */
export function batchNorm(
  ctx: BuildContext,
  x: Value,
  o: BatchNormOptions & {
    channels: number;
    names?: BatchNormNames;
    /** Initial values (an imported model's); default the layer's ones and zeros. */
    init?: Partial<Record<'weight' | 'bias' | 'mean' | 'var', Init>>;
    frozen?: boolean;
  },
): Value {
  const names = o.names ?? LAYER_NAMES;
  if (x.shape[1] !== o.channels)
    throw new KdError(
      'SHAPE_MISMATCH',
      `BatchNorm '${ctx.fullName(names === LAYER_NAMES ? '' : names.out)}' expects ${o.channels} channels on axis 1, ` +
        `got [${x.shape.join(', ')}]`,
    );
  const C = o.channels,
    eps = o.eps ?? 1e-5,
    m = o.momentum ?? 0.1;
  const declare = o.frozen ? ctx.buffer.bind(ctx) : ctx.param.bind(ctx);
  const gamma = declare(names.weight, [C], o.init?.weight ?? { kind: 'ones' });
  const beta = declare(names.bias, [C], o.init?.bias ?? { kind: 'zeros' });
  const rm = ctx.buffer(names.mean, [C], o.init?.mean ?? { kind: 'zeros' });
  const rv = ctx.buffer(names.var, [C], o.init?.var ?? { kind: 'ones' });
  if (!ctx.training || o.frozen)
    return x.graph.node(
      'BatchNormalization',
      [x, gamma, beta, rm, rv],
      { epsilon: { kind: 'float', value: eps } },
      { name: names.out, outNames: names.outValue === undefined ? undefined : [names.outValue] },
    )[0];

  const g = x.graph;
  const inner = <T>(fn: () => T): T => (names.inner === undefined ? fn() : g.scoped(names.inner, fn));
  const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
  const bshape = [1, C, ...x.shape.slice(2).map(() => 1)];
  // Elements per channel, known only at run time (symbolic batch).
  const n = inner(() => op.div(op.cast(g.node('Size', [x])[0], 'float32'), op.scalar(g, C)));
  let mean!: Value, varB!: Value, xc!: Value, inv!: Value;
  const gammaB = inner(() => op.reshape(gamma, bshape));
  // ORT's inference BatchNormalization kernel is a per-channel affine map in one pass over the tensor, where a Mul
  // and an Add broadcasting [1, C, 1, …] vectors are two; the forward and the backward both use it that way.
  const affine = (v: Value, scale: Value, shift: Value, mu: Value, sigma2: Value, epsilon: number, name?: string) =>
    g.node(
      'BatchNormalization',
      [v, scale, shift, mu, sigma2],
      { epsilon: A.f(epsilon) },
      {
        name,
        outNames: name === names.out && names.outValue !== undefined ? [names.outValue] : undefined,
      },
    )[0];
  const y = g.customGradient(
    [x, gamma, beta],
    () => {
      inner(() => {
        mean = op.reduceMean(x, axes, true, 'mean');
        xc = op.sub(x, mean);
        varB = op.reduceMean(op.mul(xc, xc), axes, true, 'var');
        inv = op.reciprocal(op.sqrt(op.addScalar(varB, eps)));
      });
      return affine(x, gamma, beta, op.reshape(mean, [C]), op.reshape(varB, [C]), eps, names.out);
    },
    // Closed form (Ioffe & Szegedy): with x̂ = xc·inv, dβ = Σdy, dγ = Σdy·x̂ and
    // dx = γ·inv·(dy − dβ/n − x̂·dγ/n) = dy·a + xc·b + c per channel; about half the passes of differentiating the
    // primitives. xc·b + c is the affine kernel with mean 0, variance 1 and ε = 0, which divides by exactly 1.
    (dy) => {
      const sumDy = op.reduceSum(dy, axes, true);
      const sumDyXc = op.reduceSum(op.mul(dy, xc), axes, true);
      const dBeta = op.reshape(sumDy, [C]);
      const dGamma = op.reshape(op.mul(sumDyXc, inv), [C]);
      const invN = op.reciprocal(n);
      const a = op.mul(inv, gammaB);
      const b = op.neg(op.mul(a, op.mul(op.mul(inv, inv), op.mul(sumDyXc, invN))));
      const c = op.neg(op.mul(a, op.mul(sumDy, invN)));
      const zeros = op.zerosLike(dBeta);
      const dx = op.add(op.mul(dy, a), affine(xc, op.reshape(b, [C]), op.reshape(c, [C]), zeros, op.addScalar(zeros, 1), 0));
      return [dx, dGamma, dBeta];
    },
  );

  // Running variance is unbiased (n/(n-1)).
  inner(() => {
    const unbias = op.div(n, op.addScalar(n, -1));
    const meanC = op.reshape(mean, [C]),
      varC = op.reshape(varB, [C]);
    ctx.updateBuffer(names.mean, op.add(op.scale(rm, 1 - m), op.scale(meanC, m)));
    ctx.updateBuffer(names.var, op.add(op.scale(rv, 1 - m), op.mul(op.scale(varC, m), unbias)));
  });
  return y;
}

/** Layer normalisation over the trailing `shape` axes, with learnable scale and bias. */
export class LayerNorm extends Module {
  constructor(
    name: string,
    readonly normalizedShape: number[],
    readonly eps = 1e-5,
  ) {
    super(name);
  }
  protected forward(ctx: BuildContext, x: Value): Value {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.rank - k);
    if (tail.some((d, i) => d !== this.normalizedShape[i]))
      throw new KdError(
        'SHAPE_MISMATCH',
        `LayerNorm '${ctx.fullName('')}' normalises [${this.normalizedShape}], got input [${x.shape.join(', ')}]`,
      );
    const gamma = ctx.param('weight', this.normalizedShape, { kind: 'ones' });
    const beta = ctx.param('bias', this.normalizedShape, { kind: 'zeros' });
    if (!ctx.training)
      return x.graph.node(
        'LayerNormalization',
        [x, gamma, beta],
        { axis: { kind: 'int', value: -k }, epsilon: { kind: 'float', value: this.eps } },
        { name: 'out' },
      )[0];
    // Train mode uses primitives so the autodiff needs no fused LayerNorm rule on the hot path.
    const axes = this.normalizedShape.map((_, i) => x.rank - k + i);
    const mean = op.reduceMean(x, axes, true);
    const xc = op.sub(x, mean);
    const v = op.reduceMean(op.mul(xc, xc), axes, true);
    const xh = op.mul(xc, op.reciprocal(op.sqrt(op.addScalar(v, this.eps))));
    return op.add(op.mul(xh, gamma), beta, 'out');
  }
}
