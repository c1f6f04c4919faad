import { z } from 'zod';
import { optionIssues, synthesizer, synthesizerNames } from '../distill/datafree/index.js';
import { count, issue } from './fields.js';

/** Keys of `dataFree` every method has; the rest are the method's own options. */
const COMMON = ['method', 'n', 'range'];

/**
 * `dataFree: { method, n, range, ...options }`: the stage trains on `n` samples the method makes from its teacher
 * instead of the dataset's training split (which is then never read). The method's options are validated here,
 * against its own schema, so a typo fails at load with the field named.
 */
export const dataFreeSchema = z
  .looseObject({
    method: z.string().min(1),
    /** Samples to synthesise (ZSKD used 24,000 for MNIST; DAFL draws fresh ones every step). */
    n: count.default(10000),
    /** The range of a sample value the teacher was trained on: [0, 1] for images read from bytes. */
    range: z
      .tuple([z.number(), z.number()])
      .refine(([lo, hi]) => lo < hi, { error: 'range must be [low, high] with low < high' })
      .default([0, 1]),
  })
  .superRefine((v, ctx) => {
    if (!synthesizerNames().includes(v.method)) {
      issue(ctx, ['method'], `unknown dataFree method '${v.method}'; known: ${synthesizerNames().join(', ')}`);
      return;
    }
    const r = synthesizer(v.method).options.safeParse(optionsOf(v));
    if (!r.success) for (const e of optionIssues(v.method, r.error.issues)) issue(ctx, e.path, e.message);
  })
  .transform((v) => ({
    method: v.method,
    n: v.n,
    range: v.range as [number, number],
    options: synthesizer(v.method).options.parse(optionsOf(v)) as Record<string, unknown>,
  }));

const optionsOf = (v: Record<string, unknown>) => Object.fromEntries(Object.entries(v).filter(([k]) => !COMMON.includes(k)));

/** A resolved `dataFree`. */
export type DataFree = z.output<typeof dataFreeSchema>;
