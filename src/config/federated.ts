import { z } from 'zod';
import { FEDERATED_ALGORITHMS } from '../distill/federated/run.js';
import { count, issue } from './fields.js';

/**
 * `federated: { algorithm, parties, split, rounds, public, ... }`: the training split dealt to parties that keep it,
 * trained by one federated protocol; one summary row per party and one for the consensus.
 */
export function federatedSchema(model: z.ZodType<string>) {
  return z
    .strictObject({
      algorithm: z.enum(FEDERATED_ALGORITHMS),
      /** One entry per party (architectures may differ, except under fedavg), or `{ count, model }`. */
      // A resolved config lists the party models by name.
      parties: z.union([z.array(z.union([z.strictObject({ model }), model])).min(2), z.strictObject({ count: z.int().min(2), model })]),
      /** Non-IID private splits: `{ dirichlet: α }` per class over parties, or `{ classesPerParty: k }`. */
      split: z
        .union([z.strictObject({ dirichlet: z.number().positive() }), z.strictObject({ classesPerParty: count })])
        .default({ dirichlet: 0.5 }),
      rounds: count,
      /** FedMD's unlabeled transfer set: `n` images of another bundled dataset, or held out of the training split. */
      /**
       * `labelled: true`: the public set keeps its labels and every party first trains on it (`publicEpochs`), FedMD's
       * transfer-learning phase; public data is public, so this sends nothing.
       */
      public: z
        .strictObject({ n: count, dataset: z.enum(['mnist', 'fashion-mnist']).optional(), labelled: z.boolean().default(false) })
        .optional(),
      publicEpochs: count.default(1),
      localEpochs: count.default(1),
      initEpochs: count.default(1),
      digestEpochs: count.default(1),
      publicPerRound: count.default(5000),
      distillWeight: z.number().nonnegative().default(1),
      /** Parties that miss rounds: each with `probability` per round (seeded), and/or listed `[round, party]` pairs. */
      drop: z
        .strictObject({
          probability: z.number().min(0).lt(1).default(0),
          rounds: z.array(z.tuple([count, z.int().min(0)])).default([]),
        })
        .prefault({}),
    })
    .superRefine((f, ctx) => {
      const models = Array.isArray(f.parties) ? f.parties.map(modelOf) : [f.parties.model];
      if (f.algorithm === 'fedmd' && !f.public)
        issue(
          ctx,
          ['public'],
          'FedMD distils on a public unlabeled transfer set: give public: { n } (held out of the training split) or { dataset, n }',
        );
      if (f.algorithm === 'fedavg' && new Set(models).size > 1)
        issue(
          ctx,
          ['parties'],
          `fedavg averages parameters, so every party needs the same model; these have ${[...new Set(models)].join(', ')}`,
        );
      const n = Array.isArray(f.parties) ? f.parties.length : f.parties.count;
      f.drop.rounds.forEach(([r, p], i) => {
        if (r > f.rounds) issue(ctx, ['drop', 'rounds', i, 0], `round ${r} is past the last round (${f.rounds})`);
        if (p >= n) issue(ctx, ['drop', 'rounds', i, 1], `party ${p} does not exist (parties 0 … ${n - 1})`);
      });
    })
    .transform((f) => ({
      ...f,
      parties: Array.isArray(f.parties) ? f.parties.map(modelOf) : new Array<string>(f.parties.count).fill(f.parties.model),
    }));
}

const modelOf = (p: string | { model: string }) => (typeof p === 'string' ? p : p.model);

/** A resolved `federated`. */
export type FederatedConfig = z.output<ReturnType<typeof federatedSchema>>;
