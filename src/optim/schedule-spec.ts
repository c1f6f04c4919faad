/**
 * A learning-rate schedule as a user writes it (in a config, or to `Distiller`): lengths in steps or
 * in epochs, cosine's length implied by the run. `scheduleFrom` turns it into a concrete `Schedule`
 * once the run's steps per epoch and total steps are known.
 */
import { z } from 'zod';
import type { Schedule } from './schedule.js';

const issue = (ctx: z.RefinementCtx, path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });

/** A length given in steps or in epochs: exactly one of the two keys. */
function exactlyOne(ctx: z.RefinementCtx, o: Record<string, unknown>, a: string, b: string, what: string): void {
  if (o[a] === undefined && o[b] === undefined) issue(ctx, [], `needs ${what}: '${a}' (steps) or '${b}'`);
  else if (o[a] !== undefined && o[b] !== undefined) issue(ctx, [b], `give '${a}' or '${b}', not both`);
}

const constantSpec = z.strictObject({ kind: z.literal('constant') });
/** StepLR: multiply by `gamma` (default 0.1) every `stepSize` steps or `stepSizeEpochs` epochs. */
const stepSpec = z
  .strictObject({
    kind: z.literal('step'),
    stepSize: z.int().min(1).optional(),
    stepSizeEpochs: z.number().positive().optional(),
    gamma: z.number().positive().default(0.1),
  })
  .superRefine((s, ctx) => exactlyOne(ctx, s, 'stepSize', 'stepSizeEpochs', 'a step size'));
/** Cosine annealing to `min` (default 0) over the rest of the run. */
const cosineSpec = z.strictObject({ kind: z.literal('cosine'), min: z.number().min(0).default(0) });
/** Linear warm-up from `startFactor`·lr (default 1/3) over `steps` or `warmupEpochs`, then `then` (default constant). */
const warmupSpec = z
  .strictObject({
    kind: z.literal('warmup'),
    steps: z.int().min(0).optional(),
    warmupEpochs: z.number().positive().optional(),
    startFactor: z
      .number()
      .gt(0)
      .max(1)
      .default(1 / 3),
    // The annotation breaks the type's self-reference (zod's recipe for recursive schemas).
    get then(): z.ZodPrefault<typeof scheduleSpec> {
      return scheduleSpec.prefault({ kind: 'constant' });
    },
  })
  .superRefine((s, ctx) => exactlyOne(ctx, s, 'steps', 'warmupEpochs', 'a warm-up length'));

/** A schedule spec: defaults filled by parsing, lengths left as written (steps or epochs). */
export const scheduleSpec = z.discriminatedUnion('kind', [constantSpec, stepSpec, cosineSpec, warmupSpec]);
/** A parsed schedule spec, every default filled in. */
export type ScheduleSpec = z.output<typeof scheduleSpec>;
/** A schedule spec as written. */
export type ScheduleSpecInput = z.input<typeof scheduleSpec>;

/** What a spec needs to know of the run it schedules. */
export interface RunLength {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
}

/**
 * The concrete `Schedule` of a parsed spec for a run of known length: epoch counts become steps
 * (rounded, at least 1) and cosine decays over whatever is left of `totalSteps` after any warm-up.
 */
export function scheduleFrom(s: ScheduleSpec, run: RunLength): Schedule {
  const steps = (epochs: number) => Math.max(1, Math.round(epochs * run.stepsPerEpoch));
  switch (s.kind) {
    case 'constant':
      return { kind: 'constant' };
    case 'step':
      return { kind: 'step', stepSize: s.stepSize ?? steps(s.stepSizeEpochs!), gamma: s.gamma };
    case 'cosine':
      return { kind: 'cosine', total: Math.max(1, run.totalSteps), min: s.min };
    case 'warmup': {
      const w = s.steps ?? steps(s.warmupEpochs!);
      return {
        kind: 'warmup',
        steps: w,
        startFactor: s.startFactor,
        then: scheduleFrom(s.then, { ...run, totalSteps: run.totalSteps - w }),
      };
    }
  }
}
