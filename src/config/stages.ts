/**
 * Multi-stage pipelines in a config: stages trained one after another, each naming the earlier stages
 * (or ONNX files) that teach it and optionally one whose weights it starts from. A classic config
 * (teacher, student, loss) is the pipeline teacher → baseline → distilled.
 */
import { z } from 'zod';
import type { LossTermConfig, TrainConfig } from './schema.js';

export const COMBINE_MODES = ['mean', 'weights', 'confidence', 'concat'] as const;

/** A teacher of a stage: an earlier stage or an ONNX file, its weight (combine: weights) and the classes it knows (combine: concat). */
export interface StageTeacherConfig {
  readonly stage: string | null;
  readonly file: string | null;
  /** A teacher behind an HTTP endpoint (kdistill's JSON batch protocol, see the README). */
  readonly http: HttpTeacherConfig | null;
  readonly weight: number;
  readonly classes: readonly number[] | null;
  /** Keep its answers on disk so no input is asked twice (default: on for HTTP teachers, off for ONNX ones). */
  readonly cache: boolean;
}

/** An HTTP teacher's endpoint and limits; absent limits take `HttpTeacher`'s defaults. The token is read from `authEnv` at run time, never stored. */
export interface HttpTeacherConfig {
  readonly url: string;
  readonly version?: string;
  readonly maxBatch?: number;
  readonly concurrency?: number;
  readonly rateLimit?: number;
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly maxCalls?: number;
  readonly authEnv?: string;
}

/** One resolved stage. A `file` stage is a given model (evaluated, usable as a teacher), not trained. */
export interface StageConfig extends TrainConfig {
  readonly name: string;
  readonly model: string | null;
  /** Peers trained together (online distillation: dml, peer_ensemble); each is exported and reported on its own. */
  readonly cohort: readonly string[] | null;
  /** With a cohort: each peer keeps a stale copy refreshed every this many steps (codistillation, the `codistill` term); null: none. */
  readonly refreshEvery: number | null;
  readonly file: string | null;
  /** An earlier stage whose trained weights this one starts from (same architecture). */
  readonly init: string | null;
  readonly teachers: readonly StageTeacherConfig[];
  readonly combine: (typeof COMBINE_MODES)[number];
  readonly loss: readonly LossTermConfig[];
  /** Train (and validate) on samples of these classes only; null: all. */
  readonly classes: readonly number[] | null;
  readonly seed: number;
}

/** The fields of a stage as written that the checks read (the recipe keys vary with the caller). */
interface Written {
  name: string;
  model?: string;
  cohort?: string[];
  refreshEvery?: number;
  file?: string;
  init?: string;
  teachers?: (string | { stage?: string })[];
}

const NAME = /^[A-Za-z0-9][\w.-]*$/;
const issue = (ctx: z.RefinementCtx, path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });

/** The `stages` list schema, built from the top level's model, loss, path and recipe schemas. */
export function stagesSchema<L extends z.ZodType, R extends z.ZodRawShape>(parts: {
  model: z.ZodType<string>;
  loss: L;
  path: z.ZodType<string>;
  recipe: R;
}) {
  const classes = z.array(z.int().min(0)).min(1);
  const count = z.int().min(1);
  const http = z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    version: z.string().min(1).optional(),
    maxBatch: count.optional(),
    concurrency: count.optional(),
    rateLimit: z.number().positive().optional(),
    timeoutMs: count.optional(),
    retries: z.int().min(0).optional(),
    maxCalls: count.optional(),
    authEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'the name of an environment variable (the token itself never goes in a config)' })
      .optional(),
  });
  const teacher = z.union([
    z.string().min(1),
    z
      .strictObject({
        stage: z.string().min(1).optional(),
        file: parts.path.optional(),
        http: http.optional(),
        weight: z.number().min(0).optional(),
        classes: classes.optional(),
        cache: z.boolean().optional(),
      })
      .superRefine((t, ctx) => {
        if ([t.stage, t.file, t.http].filter((x) => x !== undefined).length !== 1)
          issue(ctx, [], "a teacher names an earlier 'stage', an ONNX 'file' or an 'http' endpoint (exactly one)");
        // The version is the cache key's only link to the model behind the URL.
        if (t.http && t.cache !== false && t.http.version === undefined)
          issue(
            ctx,
            ['http', 'version'],
            "a cached HTTP teacher needs a 'version' (bump it when the model behind the URL changes, so old answers are not reused), or set cache: false",
          );
      }),
  ]);
  const stage = z
    .strictObject({
      name: z.string().regex(NAME, { error: "use letters, digits, '.', '_' and '-' (it names the stage's files)" }),
      model: parts.model.optional(),
      cohort: z.array(parts.model).min(2).optional(),
      refreshEvery: count.optional(),
      file: parts.path.optional(),
      init: z.string().min(1).optional(),
      teachers: z.array(teacher).min(1).optional(),
      combine: z.enum(COMBINE_MODES).optional(),
      loss: parts.loss.optional(),
      classes: classes.optional(),
      seed: z
        .int()
        .min(0)
        .max(2 ** 32 - 1)
        .optional(),
      ...parts.recipe,
    })
    .superRefine((written, ctx) => {
      const s = written as unknown as Written;
      if ([s.model, s.cohort, s.file].filter((x) => x !== undefined).length !== 1)
        issue(ctx, [], "a stage trains a zoo 'model' (or a 'cohort' of peers) or takes an ONNX 'file' as it is (exactly one)");
      if (s.cohort !== undefined && s.init !== undefined) issue(ctx, ['init'], 'a cohort starts from its own initialisation');
      if (s.refreshEvery !== undefined && s.cohort === undefined)
        issue(
          ctx,
          ['refreshEvery'],
          "'refreshEvery' sets how often a cohort's peers refresh their stale copies (codistillation); this stage has no 'cohort'",
        );
      const given = written as Record<string, unknown>;
      if (s.file !== undefined)
        for (const k of ['init', 'teachers', 'loss', 'classes', 'epochs', 'optimizer', 'schedule', 'batchSize'] as const)
          if (given[k] !== undefined) issue(ctx, [k], `'${k}' applies to a trained stage; a 'file' stage is used as it is`);
    });
  return z
    .array(stage)
    .min(1)
    .superRefine((written, ctx) => {
      const stages = written as unknown as Written[];
      const seen: string[] = [];
      stages.forEach((s, i) => {
        if (seen.includes(s.name)) issue(ctx, [i, 'name'], `stage name '${s.name}' is used twice`);
        const known = (ref: string, path: PropertyKey[]) => {
          if (!seen.includes(ref))
            issue(
              ctx,
              [i, ...path],
              `no earlier stage named '${ref}'${seen.length ? ` (earlier stages: ${seen.join(', ')})` : ' (this is the first stage)'}`,
            );
        };
        if (s.init !== undefined) known(s.init, ['init']);
        s.teachers?.forEach((t, j) => {
          const ref = typeof t === 'string' ? t : t.stage;
          if (ref !== undefined) known(ref, ['teachers', j, ...(typeof t === 'string' ? [] : ['stage'])]);
        });
        seen.push(s.name);
      });
    });
}
