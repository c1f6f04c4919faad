/**
 * An optimizer as a user writes it (in a config, or as data in a run record): PyTorch's defaults for
 * every hyper-parameter left out, and one builder from the parsed spec to the graph-level `Optimizer`.
 */
import { z } from 'zod';
import { adam, adamw } from './adam.js';
import type { Optimizer } from './optimizer.js';
import { sgd } from './sgd.js';

const positive = z.number().positive();
const nonNegative = z.number().min(0);
const beta = z.number().min(0).lt(1);

/** torch.optim.SGD; the learning rate has no default there either. */
const sgdSpec = z
  .strictObject({
    name: z.literal('sgd'),
    lr: positive,
    momentum: nonNegative.default(0),
    dampening: z.number().min(0).max(1).default(0),
    nesterov: z.boolean().default(false),
    weightDecay: nonNegative.default(0),
  })
  .superRefine((o, ctx) => {
    if (o.nesterov && (!(o.momentum > 0) || o.dampening !== 0))
      ctx.addIssue({ code: 'custom', path: ['nesterov'], message: 'Nesterov momentum needs momentum > 0 and dampening 0 (as in PyTorch)' });
  });

// AdamW's decoupled decay defaults to 0.01 as in PyTorch (and adam.ts); Adam's L2 decay to 0.
const adamSpec = <N extends 'adam' | 'adamw'>(name: N, weightDecay: number) =>
  z.strictObject({
    name: z.literal(name),
    lr: positive.default(1e-3),
    betas: z.tuple([beta, beta]).readonly().default([0.9, 0.999]),
    eps: positive.default(1e-8),
    weightDecay: nonNegative.default(weightDecay),
  });

/** An optimizer spec, told apart by `name`: sgd (needs `lr`), adam or adamw. */
export const optimizerSpec = z.discriminatedUnion('name', [sgdSpec, adamSpec('adam', 0), adamSpec('adamw', 0.01)]);
/** A parsed optimizer spec, every hyper-parameter explicit. */
export type OptimizerSpec = z.output<typeof optimizerSpec>;
/** An optimizer spec as written. */
export type OptimizerSpecInput = z.input<typeof optimizerSpec>;

/** The graph-level optimizer of a parsed spec (its `lr` is the base rate a schedule scales, so it is not used here). */
export function optimizerFrom(o: OptimizerSpec): Optimizer {
  if (o.name === 'sgd') return sgd({ momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov, weightDecay: o.weightDecay });
  const opts = { beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay };
  return o.name === 'adam' ? adam(opts) : adamw(opts);
}
