/**
 * How a model is trained (epochs, batch size, optimizer, schedule, clipping): the run's recipe with
 * its defaults, and the partial recipes (a zoo teacher's `train`, a stage's keys) that fall back on it.
 */
import { z } from 'zod';
import { optimizerSpec, scheduleSpec } from '../optim/index.js';
import { count } from './fields.js';

/** Rescale the gradient to this global L2 norm when it is larger; null: no clipping. */
const clipGradNorm = z.number().gt(0).nullable();

/** The run's recipe (top-level keys of a config): Adam, a cosine schedule and batches of 128 unless given. */
export const runRecipe = z.strictObject({
  epochs: count,
  batchSize: count.default(128),
  optimizer: optimizerSpec.prefault({ name: 'adam' }),
  schedule: scheduleSpec.prefault({ kind: 'cosine' }),
  clipGradNorm: clipGradNorm.default(null),
});
/** A recipe with every value explicit. */
export type Recipe = z.output<typeof runRecipe>;

/** A recipe over the run's: every key left out is the run's. */
export const recipeOverride = z.strictObject({
  epochs: count.optional(),
  batchSize: count.optional(),
  optimizer: optimizerSpec.optional(),
  schedule: scheduleSpec.optional(),
  clipGradNorm: clipGradNorm.optional(),
});

/** The recipe `r` gives, the run's where it gives none (a null `clipGradNorm` is given: no clipping). */
export function inherit(run: Recipe, r: z.output<typeof recipeOverride> | undefined): Recipe {
  return {
    epochs: r?.epochs ?? run.epochs,
    batchSize: r?.batchSize ?? run.batchSize,
    optimizer: r?.optimizer ?? run.optimizer,
    schedule: r?.schedule ?? run.schedule,
    clipGradNorm: r?.clipGradNorm !== undefined ? r.clipGradNorm : run.clipGradNorm,
  };
}
