import { z } from 'zod';
import { count } from './fields.js';

/**
 * `languageModel: { onPolicy, sequenceKd, topk }` for a language-model corpus run: how the distilled student's data is
 * made. `onPolicy` (GKD): this fraction of its batches are its own continuations of each window's first `prompt` tokens,
 * scored by the teacher. `sequenceKd` (Kim & Rush 2016): it trains on the teacher's continuations instead of the text.
 * `topk`: the teacher's top-k per position is computed once (a cache) and the teacher is not run while the student trains.
 */
export const languageModelSchema = z
  .strictObject({
    onPolicy: z
      .strictObject({
        fraction: z.number().gt(0).max(1),
        prompt: count.default(8),
        temperature: z.number().positive().default(1),
        /** Steps between refreshes of the student copy that samples (1 = every step, as GKD). */
        refreshEvery: count.default(10),
      })
      .optional(),
    sequenceKd: z.strictObject({ prompt: count.default(8), temperature: z.number().positive().default(1) }).optional(),
    topk: count.optional(),
  })
  .superRefine((l, ctx) => {
    if (l.topk !== undefined && l.onPolicy)
      ctx.addIssue({
        code: 'custom',
        path: ['topk'],
        message: "on-policy batches need the live teacher to score them; drop 'topk' or 'onPolicy'",
      });
  });
