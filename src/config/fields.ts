/**
 * Field schemas the parts of a config share: counts, names, paths, zoo model names and loss terms
 * (both checked against what the caller registered, since the config module must not import them).
 */
import { z } from 'zod';
import { didYouMean } from './suggest.js';

/**
 * What the config module needs to know but must not import: the registered loss methods with their
 * option schemas, and which model names the zoo builds. `modelExamples` feed suggestions and hints
 * for a misspelt model, since a predicate cannot list its names.
 */
export interface ConfigRegistry {
  readonly methods: ReadonlyMap<string, { readonly options: z.ZodType }>;
  readonly models: (name: string) => boolean;
  readonly modelExamples?: readonly string[];
}

/** Adds a problem at `path` (relative to the value being refined). */
export const issue = (ctx: z.RefinementCtx, path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });

export const count = z.int().min(1);
export const nonNegativeCount = z.int().min(0);
export const nonNegative = z.number().min(0);
export const pathString = z.string().min(1);
export const seedSchema = z
  .int()
  .min(0)
  .max(2 ** 32 - 1);
/** Run and stage names become file and directory names, so they stay to portable characters. */
export const NAME = /^[A-Za-z0-9][\w.-]*$/;

/** An optional field that resolves to null when left out, so later checks and defaults can see it was not given. */
export const orNull = <T extends z.ZodType>(s: T) => s.optional().transform((v) => v ?? null);

/** A zoo model name, checked against the registry. */
export function modelName(registry: ConfigRegistry) {
  const examples = registry.modelExamples ?? [];
  return z
    .string()
    .min(1)
    .superRefine((name, ctx) => {
      if (name === '' || registry.models(name)) return; // an empty name is already reported by min(1)
      const hint = didYouMean(name, examples) || (examples.length ? `; models look like ${examples.join(', ')}` : '');
      issue(ctx, [], `unknown model '${name}'${hint}`);
    });
}

// The type every registered term parses to: the union of the registry's terms has no static type.
const lossTerm = z.strictObject({
  method: z.string(),
  weight: nonNegative.default(1),
  options: z.record(z.string(), z.unknown()).prefault({}),
});
/** One term of a loss as parsed: `weight · method(options)`, options parsed (and defaulted) by the method's own schema. */
export type LossTerm = z.output<typeof lossTerm>;

/** A loss: one or more terms of registered methods, not all weighted 0. */
export function lossSchema(registry: ConfigRegistry) {
  const terms = [...registry.methods].map(([name, m]) => {
    // Unknown option keys must be errors like everywhere else, even if the method's schema strips them.
    const options = m.options instanceof z.ZodObject ? m.options.strict() : m.options;
    return z.strictObject({ method: z.literal(name), weight: lossTerm.shape.weight, options: options.prefault({}) });
  });
  if (terms.length === 0) throw new Error('config schema: the method registry is empty');
  const term = z.discriminatedUnion('method', terms as [(typeof terms)[0], ...typeof terms]) as unknown as typeof lossTerm;
  return z
    .array(term)
    .min(1)
    .superRefine((ts, ctx) => {
      if (ts.length > 0 && ts.every((t) => t.weight === 0))
        issue(ctx, [], 'every weight is 0; at least one term must have a positive weight');
    });
}
