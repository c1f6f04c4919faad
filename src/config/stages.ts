/**
 * Multi-stage pipelines in a config: stages trained one after another, each naming the earlier stages
 * (or ONNX files, or HTTP endpoints) that teach it and optionally one whose weights it starts from. A
 * classic config (teacher, student, loss) is the pipeline teacher → baseline → distilled.
 */
import { z } from 'zod';
import { teacherInputSchema, teacherOutputSchema } from '../distill/teachers/adapter-spec.js';
import { type DataFree, dataFreeSchema } from './data-free.js';
import { quantizeSchema } from './quantize.js';
import { count, issue, NAME, orNull, seedSchema, type LossTerm } from './fields.js';
import { inherit, recipeOverride, type Recipe } from './recipe.js';

export const COMBINE_MODES = ['mean', 'weights', 'confidence', 'concat'] as const;

/**
 * An HTTP teacher's endpoint and limits; absent limits take `HttpTeacher`'s defaults. The token is
 * read from `authEnv` at run time, never stored. `protocol: open-inference` speaks KServe v2 / Triton to
 * `model` on the server at `url`.
 */
const httpTeacher = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }),
    protocol: z.enum(['kdistill', 'open-inference']).default('kdistill'),
    version: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    inputName: z.string().min(1).optional(),
    outputName: z.string().min(1).optional(),
    binary: z.union([z.boolean(), z.literal('auto')]).optional(),
    outputKind: z.enum(['logits', 'probabilities']).optional(),
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
  })
  .superRefine((h, ctx) => {
    if (h.protocol === 'open-inference' && h.model === undefined)
      issue(ctx, ['model'], "protocol: open-inference needs the served model's name (model: ...)");
    if (h.protocol === 'kdistill')
      for (const k of ['model', 'inputName', 'outputName', 'binary', 'outputKind'] as const)
        if (h[k] !== undefined) issue(ctx, [k], `'${k}' belongs to the Open Inference protocol; add protocol: open-inference`);
  });

const classes = z.array(z.int().min(0)).min(1);
/** The loss of a trained stage that names none: cross-entropy with the labels. */
const labelsOnly = (): LossTerm[] => [{ method: 'ce', weight: 1, options: {} }];

/**
 * An ONNX student (`student: { file, freeze }`): the file's model trained from its own weights, the parameters
 * matching `freeze` (glob-like patterns on parameter or node names) kept fixed.
 */
export const studentFile = (path: StageParts['path']) => z.strictObject({ file: path, freeze: z.array(z.string().min(1)).default([]) });

/**
 * `init: { from, layers }`: start from the listed layers of an earlier stage (DistilBERT's every-other-layer
 * initialisation). A layer is a name prefix, the same in both models, `{ student, teacher }` prefixes, or a number:
 * the k-th number names the teacher layer the student's k-th layer starts from (`[0, 2, 4]`: every other one).
 */
export const initLayersSchema = z.strictObject({
  from: z.string().min(1),
  layers: z
    .array(z.union([z.int().min(0), z.string().min(1), z.strictObject({ student: z.string().min(1), teacher: z.string().min(1) })]))
    .min(1)
    .transform((ls) => ls.map((l) => (typeof l === 'string' ? { student: l, teacher: l } : l))),
});
/** Where a stage's init comes from: an earlier stage's name. */
export const initSource = (init: string | { from: string } | null): string | null =>
  typeof init === 'string' ? init : (init?.from ?? null);

/** The parts of the top level a stage reuses: zoo model names, the loss and input paths (resolved against the config's folder). */
export interface StageParts {
  readonly model: z.ZodType<string>;
  readonly loss: z.ZodType<LossTerm[], unknown>;
  readonly path: z.ZodType<string, string>;
}

/** A teacher file's input and output adapters (compiled into its graph when the plan reads it); left out: the file as it is. */
const adapters = { input: teacherInputSchema.optional(), output: teacherOutputSchema.optional() };
/** Refuses adapters on what is not an ONNX file: other teachers are adapted where they are served. */
function fileOnly(t: { input?: unknown; output?: unknown }, ctx: z.RefinementCtx, what: string) {
  for (const k of ['input', 'output'] as const)
    if (t[k] !== undefined) issue(ctx, [k], `'${k}' adapts an ONNX 'file' to the data; this ${what} has no file`);
}

// No transform here: a union member that transforms reports its problems as the union's, which would
// hide the stage-order checks of the list; `teacherOf` completes a teacher after them.
function teacherSchema(path: StageParts['path']) {
  return z
    .strictObject({
      stage: orNull(z.string().min(1)),
      file: orNull(path),
      /** A teacher behind an HTTP endpoint (kdistill's JSON batch protocol, see the README). */
      http: orNull(httpTeacher),
      /** Its weight with combine: weights. */
      weight: z.number().min(0).default(1),
      /** The classes it knows (combine: concat). */
      classes: orNull(classes),
      /** Keep its answers on disk so no input is asked twice (default: on for HTTP teachers, off for ONNX ones). */
      cache: z.boolean().optional(),
      ...adapters,
    })
    .superRefine((t, ctx) => {
      if ([t.stage, t.file, t.http].filter((x) => x !== null).length !== 1)
        issue(ctx, [], "a teacher names an earlier 'stage', an ONNX 'file' or an 'http' endpoint (exactly one)");
      else if (t.file === null) fileOnly(t, ctx, 'teacher');
      // The version is the cache key's only link to the model behind the URL.
      if (t.http && t.cache !== false && t.http.version === undefined)
        issue(
          ctx,
          ['http', 'version'],
          "a cached HTTP teacher needs a 'version' (bump it when the model behind the URL changes, so old answers are not reused), " +
            'or set cache: false',
        );
    });
}
/** A teacher as written (by stage name, or with its own keys) made complete: caching is on by default for HTTP teachers only. */
function teacherOf(t: string | z.output<ReturnType<typeof teacherSchema>>) {
  if (typeof t === 'string') return { stage: t, file: null, http: null, weight: 1, classes: null, cache: false };
  return { ...t, cache: t.cache ?? t.http !== null };
}
/** A teacher of a stage: an earlier stage, an ONNX file (absolute path) or an HTTP endpoint. */
type StageTeacher = ReturnType<typeof teacherOf>;

/**
 * The `stages` list: each stage with what it gives filled in (teachers by name become teachers by
 * stage); the recipe and seed it leaves out are the run's, filled in by `stageOf`.
 */
export function stagesSchema(parts: StageParts) {
  const stage = z
    .strictObject({
      name: z.string().regex(NAME, { error: "use letters, digits, '.', '_' and '-' (it names the stage's files)" }),
      model: orNull(parts.model),
      /** An ONNX student instead of a zoo model. */
      student: orNull(studentFile(parts.path)),
      /** Peers trained together (online distillation: dml, peer_ensemble); each is exported and reported on its own. */
      cohort: orNull(z.array(parts.model).min(2)),
      /** With a cohort: each peer keeps a stale copy refreshed every this many steps (codistillation, the `codistill` term). */
      refreshEvery: orNull(count),
      /** A given model (evaluated, usable as a teacher), not trained. */
      file: orNull(parts.path),
      /** An earlier stage whose trained weights this one starts from: all of them (same architecture), or some layers. */
      init: orNull(z.union([z.string().min(1), initLayersSchema])),
      teachers: orNull(z.array(z.union([z.string().min(1), teacherSchema(parts.path)])).min(1)),
      combine: z.enum(COMBINE_MODES).default('mean'),
      loss: orNull(parts.loss),
      /** Train (and validate) on samples of these classes only; null: all. */
      classes: orNull(classes),
      /** How the trained model is exported: `foldBatchNorm: false` keeps BatchNorm nodes (a teacher for DeepInversion). */
      export: z.strictObject({ foldBatchNorm: z.boolean().default(true) }).optional(),
      /** Train on samples a data-free method makes from the stage's teacher instead of the training split. */
      dataFree: orNull(dataFreeSchema),
      /** Train with fake quantisation (quantisation-aware training), so the int8 export computes what the model learned. */
      quantize: orNull(quantizeSchema),
      seed: orNull(seedSchema),
      /** A 'file' stage's adapters, as a file teacher's; a trained stage's `input` normalises its model's input (mean, std). */
      ...adapters,
      ...recipeOverride.shape,
    })
    .superRefine((s, ctx) => {
      if ([s.model, s.student, s.cohort, s.file].filter((x) => x !== null).length !== 1)
        issue(
          ctx,
          [],
          "a stage trains a zoo 'model', an ONNX 'student: { file }' (or a 'cohort' of peers) " +
            "or takes an ONNX 'file' as it is (exactly one)",
        );
      if (s.file === null) {
        // A trained stage's model reads the data's samples: only their normalisation applies (compiled into its graph).
        if (s.output !== undefined) issue(ctx, ['output'], "'output' adapts an ONNX 'file' stage; this stage trains a model");
        for (const k of ['name', 'size', 'layout', 'channels'] as const)
          if (s.input?.[k] !== undefined)
            issue(
              ctx,
              ['input', k],
              `'${k}' adapts an ONNX 'file' stage; a trained stage's model normalises its input with mean and std only`,
            );
      }
      if (s.cohort !== null && s.init !== null) issue(ctx, ['init'], 'a cohort starts from its own initialisation');
      if (s.quantize !== null && s.model === null)
        issue(ctx, ['quantize'], "quantisation-aware training applies to a zoo 'model' (whose Conv and Linear layers it quantises)");
      if (s.refreshEvery !== null && s.cohort === null)
        issue(
          ctx,
          ['refreshEvery'],
          "'refreshEvery' sets how often a cohort's peers refresh their stale copies (codistillation); this stage has no 'cohort'",
        );
      if (s.dataFree !== null) {
        const ts = s.teachers ?? [];
        if (ts.length !== 1 || (typeof ts[0] !== 'string' && ts[0].http !== undefined))
          issue(
            ctx,
            ['dataFree'],
            "a data-free stage synthesises its samples from one teacher's graph: " +
              "give it exactly one teacher, an ONNX 'file' or an earlier stage",
          );
        if (s.classes !== null) issue(ctx, ['classes'], "a data-free stage's samples are made for every class of its teacher");
      }
      if (s.file !== null)
        for (const k of [
          'init',
          'teachers',
          'loss',
          'classes',
          'dataFree',
          'export',
          'epochs',
          'optimizer',
          'schedule',
          'batchSize',
        ] as const)
          if (s[k] != null) issue(ctx, [k], `'${k}' applies to a trained stage; a 'file' stage is used as it is`);
    });
  return z
    .array(stage)
    .min(1)
    .superRefine((stages, ctx) => {
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
        if (s.init !== null) known(initSource(s.init)!, typeof s.init === 'string' ? ['init'] : ['init', 'from']);
        s.teachers?.forEach((t, j) => {
          if (typeof t === 'string') known(t, ['teachers', j]);
          else if (t.stage !== null) known(t.stage, ['teachers', j, 'stage']);
        });
        seen.push(s.name);
      });
    })
    .transform((stages) =>
      stages.map((s) => ({
        ...s,
        teachers: (s.teachers ?? []).map(teacherOf),
        loss: s.loss ?? labelsOnly(),
      })),
    );
}

/** One stage as written, with the run's recipe and seed where it gives none. */
export function stageOf(st: z.output<ReturnType<typeof stagesSchema>>[number], run: Recipe, seed: number) {
  // Taken apart so the recipe keys come last in one order, whichever of them the stage gave.
  const { epochs, batchSize, optimizer, schedule, clipGradNorm, ...rest } = st;
  return { ...rest, seed: rest.seed ?? seed, ...inherit(run, { epochs, batchSize, optimizer, schedule, clipGradNorm }) };
}
/** One resolved stage (before freezing). */
export type Stage = ReturnType<typeof stageOf>;

/** The teacher of a classic config: an ONNX file (absolute path), or a zoo model trained first with its own recipe. */
export const classicTeacher = {
  file: (file: string, a: Adapters = {}) => ({ file, ...defined(a) }),
  model: (model: string, train: Recipe) => ({ model, train }),
};
type Adapters = { input?: z.output<typeof adapters.input>; output?: z.output<typeof adapters.output> };
/** The adapters that were given (a teacher without them resolves to `{ file }` alone). */
const defined = (a: Adapters): Adapters => ({
  ...(a.input !== undefined ? { input: a.input } : {}),
  ...(a.output !== undefined ? { output: a.output } : {}),
});
type ClassicTeacher = ReturnType<(typeof classicTeacher)[keyof typeof classicTeacher]>;

/** The pipeline of a classic config: the teacher (trained first unless it is a file), the student alone, the student distilled. */
export function classicStages(
  teacher: ClassicTeacher,
  student: string | { file: string; freeze: string[] },
  loss: LossTerm[],
  baseline: boolean,
  seed: number,
  run: Recipe,
  studentInput?: Adapters['input'],
  studentInit?: z.output<typeof initLayersSchema>,
  dataFree: DataFree | null = null,
  quantize: z.output<typeof quantizeSchema> | null = null,
): Stage[] {
  const norm = studentInput ? { input: studentInput } : {};
  // The baseline starts where the distilled student does, so the comparison isolates the loss.
  const init = studentInit ? { init: studentInit } : {};
  const stage = (
    name: string,
    model: string | { file: string; freeze: string[] } | null,
    file: string | null,
    teachers: StageTeacher[],
    loss: LossTerm[],
    seed: number,
  ) => ({
    name,
    model: typeof model === 'string' ? model : null,
    student: model !== null && typeof model === 'object' ? model : null,
    cohort: null,
    refreshEvery: null,
    file,
    init: null as string | z.output<typeof initLayersSchema> | null,
    teachers,
    combine: 'mean' as const,
    loss,
    classes: null,
    dataFree: null as DataFree | null,
    quantize: null as z.output<typeof quantizeSchema> | null,
    seed,
  });
  const first =
    'file' in teacher
      ? { ...stage('teacher', null, teacher.file, [], [], seed), ...defined(teacher), ...run }
      : { ...stage('teacher', teacher.model, null, [], labelsOnly(), seed + 1000), ...teacher.train };
  return [
    first,
    ...(baseline ? [{ ...stage('baseline', student, null, [], labelsOnly(), seed), quantize, ...norm, ...init, ...run }] : []),
    { ...stage('distilled', student, null, [teacherOf('teacher')], loss, seed), dataFree, quantize, ...norm, ...init, ...run },
  ];
}
