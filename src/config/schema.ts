/**
 * The experiment config as one zod schema per load: it validates the YAML as written and resolves it
 * (every default filled in, every path absolute, a classic config turned into its stages), so
 * `z.input` of it is what a user writes and `z.output` what a run uses. Each layer owns the schema of
 * its own options: the optimizer and schedule specs come from `optim`, augmentation from `data/augment`.
 */
import { z } from 'zod';
import { normFields, teacherInputSchema, teacherOutputSchema } from '../distill/teachers/adapter-spec.js';
import { basename, dirname, join, resolve } from '../util/path.js';
import { dataFreeSchema } from './data-free.js';
import { quantizeSchema } from './quantize.js';
import { languageModelSchema } from './language-model.js';
import { datasetSchema } from './dataset.js';
import { federatedSchema } from './federated.js';
import { moduleModelName, parseModuleRef } from './module-ref.js';
import {
  type ConfigRegistry,
  count,
  issue,
  lossSchema,
  modelName,
  NAME,
  nonNegativeCount,
  pathString,
  seedSchema,
  type LossTerm,
} from './fields.js';
import { deepFreeze, type Frozen } from './freeze.js';
import { inherit, recipeOverride, runRecipe, type Recipe } from './recipe.js';
import { classicStages, classicTeacher, initLayersSchema, stageOf, stagesSchema, studentFile } from './stages.js';

export type { ConfigRegistry } from './fields.js';
export { DATASET_NAMES, type DatasetName } from './dataset.js';

/** What resolving a config needs to know of where it runs (the Node loader supplies the process's). */
export interface ConfigContext {
  /** The absolute folder relative outputs (`outDir`, `cacheDir`) are placed in, and a relative config file is found from. */
  readonly cwd: string;
  /** Threads a run uses when the config names none. */
  readonly threads: number;
  /** The absolute folder relative input paths start at; default: the config file's folder. */
  readonly dir?: string;
  /** What is at an input path, so a typo fails at load rather than after training; absent: inputs are not checked. */
  readonly checkFiles?: (path: string) => 'file' | 'directory' | 'other' | undefined;
}

/**
 * The schema of a config file, for the given methods and models, read from `file` in `context`.
 * Unknown keys are errors at every level; a zoo teacher and every stage train with the run's recipe
 * and seed where they give none.
 */
export function configSchema(registry: ConfigRegistry, file: string, context: ConfigContext) {
  const dir = context.dir ?? dirname(resolve(context.cwd, file));
  // Inputs belong to the experiment, so they are found from its folder; outputs go where the CLI runs, like every other output.
  const input = pathString.transform((p) => resolve(dir, p));
  const output = (p: string) => resolve(context.cwd, p);
  const model = modelName(registry);
  const teacher = z
    .strictObject({
      file: input.optional(),
      model: model.optional(),
      train: recipeOverride.optional(),
      /** Adapters compiled into a teacher file's graph: what its input expects, which output holds the class scores. */
      input: teacherInputSchema.optional(),
      output: teacherOutputSchema.optional(),
    })
    .superRefine((t, ctx) => {
      if (t.file !== undefined && t.model !== undefined)
        issue(ctx, ['model'], "give either 'file' (an ONNX teacher) or 'model' (a zoo model to train), not both");
      else if (t.file === undefined && t.model === undefined)
        issue(ctx, [], "needs 'file' (an ONNX teacher) or 'model' (a zoo model to train first)");
      if (t.file !== undefined && t.train !== undefined)
        issue(ctx, ['train'], "'train' applies to a zoo 'model' teacher; a teacher file is used as it is");
      for (const k of ['input', 'output'] as const)
        if (t.model !== undefined && t[k] !== undefined)
          issue(ctx, [k], `'${k}' adapts a teacher 'file' to the data; a zoo 'model' teacher is trained on the data as it is`);
    });
  return z
    .strictObject({
      name: z
        .string()
        .regex(NAME, { error: "use letters, digits, '.', '_' and '-' (it names the run directory), starting with a letter or digit" })
        .default(basename(file).replace(/\.ya?ml$/i, '')),
      seed: seedSchema.default(0),
      threads: count.default(context.threads),
      // Modules that register methods or zoo models; loaded (by loadPlugins) before this schema is built, so their names validate.
      plugins: z.array(input).optional(),
      outDir: pathString.optional(),
      dataset: datasetSchema(input),
      teacher: teacher.optional(),
      student: z
        .strictObject({
          model: model.optional(),
          ...studentFile(input).partial({ file: true }).shape,
          /** A model in code: `path#export` of a module exporting a ModelDef or a function of the data's shape returning one. */
          module: z
            .string()
            .min(1)
            .transform((ref) => {
              const { path, exportName } = parseModuleRef(ref);
              return `${resolve(dir, path)}#${exportName}`;
            })
            .optional(),
          /** The student normalises its own input (mean/std nodes in its graph, so its export takes the data as fed). */
          input: z.strictObject(normFields).optional(),
          /** Start from some of the teacher's layers (the baseline too): `{ from: teacher, layers: [...] }`. */
          init: initLayersSchema.optional(),
          /** Train the student (and the baseline) with fake quantisation, so its int8 export computes what it learned. */
          quantize: quantizeSchema.optional(),
        })
        .superRefine((s, ctx) => {
          if ([s.model, s.file, s.module].filter((x) => x !== undefined).length !== 1)
            issue(
              ctx,
              [],
              "give one of 'model' (a zoo model), 'file' (an ONNX student, trained from its weights) or 'module' (a model in code)",
            );
          else if (s.file === undefined && s.freeze.length) issue(ctx, ['freeze'], "'freeze' applies to an ONNX student 'file'");
          if (s.quantize && s.file !== undefined)
            issue(
              ctx,
              ['quantize'],
              "quantisation-aware training applies to a zoo 'model' or a 'module' (whose Conv and Linear layers it quantises)",
            );
          if (s.init && s.init.from !== 'teacher')
            issue(
              ctx,
              ['init', 'from'],
              `a classic config's student can start from 'teacher' only (the one earlier stage), not '${s.init.from}'`,
            );
          if (s.module !== undefined) {
            const { path, exportName } = parseModuleRef(s.module);
            if (!registry.models(moduleModelName(path, exportName)))
              issue(
                ctx,
                ['module'],
                `${path}#${exportName} is not loaded: \`kdistill run\` imports it before validating; in the library ` +
                  'call `await loadPlugins(configFile)` before loadConfig',
              );
          }
        })
        .optional(),
      loss: lossSchema(registry).optional(),
      /** The distilled student learns from samples a data-free method makes from the teacher (no training data read). */
      dataFree: dataFreeSchema.optional(),
      /** The training split dealt to parties that keep it, trained by a federated protocol (instead of teacher and student). */
      federated: federatedSchema(model).nullable().optional(),
      /** A language-model run's data choices for the distilled student (udhr-text): on-policy batches, sequence-level KD. */
      languageModel: languageModelSchema.nullable().optional(),
      stages: stagesSchema({ model, loss: lossSchema(registry), path: input }).optional(),
      report: z.strictObject({ subsets: z.record(z.string().regex(NAME), z.array(z.int().min(0)).min(1)).default({}) }).prefault({}),
      ...runRecipe.shape,
      baseline: z.boolean().optional(),
      checkpointEvery: nonNegativeCount.default(0),
      keepCheckpoints: count.default(2),
      cacheDir: pathString.default(join('.cache', 'kdistill', 'teachers')).transform(output),
    })
    .superRefine((c, ctx) => {
      const lmData = c.dataset.name === 'udhr-text';
      if (c.languageModel != null && !lmData)
        issue(ctx, ['languageModel'], "'languageModel' applies to a language-model corpus dataset (udhr-text)");
      if (lmData && (c.stages !== undefined || c.federated != null || c.dataFree !== undefined))
        issue(
          ctx,
          ['dataset'],
          'a language-model corpus (udhr-text) runs a classic teacher → student config: no stages, federated or dataFree',
        );
      if (c.federated != null) {
        for (const k of ['teacher', 'student', 'loss', 'baseline', 'dataFree', 'stages'] as const)
          if (c[k] !== undefined) issue(ctx, [k], `'${k}' does not apply to a federated run: its parties and protocol are in 'federated'`);
        return;
      }
      if (c.stages !== undefined) {
        for (const k of ['teacher', 'student', 'loss', 'baseline', 'dataFree'] as const)
          if (c[k] !== undefined)
            issue(ctx, [k], `'${k}' belongs to a single teacher → student run; with 'stages', each stage says what it trains`);
      } else
        for (const k of ['teacher', 'student', 'loss'] as const)
          if (c[k] === undefined) issue(ctx, [k], `'${k}' is required (or describe the run as 'stages')`);
      if (c.dataFree && c.baseline === true)
        issue(
          ctx,
          ['baseline'],
          'a data-free run reads no training data, so there is nothing to train a student alone on; remove baseline',
        );
      if (c.dataFree && c.teacher?.file === undefined && c.teacher?.model !== undefined)
        issue(
          ctx,
          ['dataFree'],
          "a data-free run distils from a given teacher: give 'teacher: { file }' (a zoo teacher would need the training data)",
        );
    })
    .transform((c) => {
      const run: Recipe = {
        epochs: c.epochs,
        batchSize: c.batchSize,
        optimizer: c.optimizer,
        schedule: c.schedule,
        clipGradNorm: c.clipGradNorm,
      };
      const t = c.teacher;
      const teacher = !t
        ? null
        : t.file !== undefined
          ? classicTeacher.file(t.file, { input: t.input, output: t.output })
          : classicTeacher.model(t.model!, inherit(run, t.train));
      const loss: LossTerm[] = c.loss ?? [];
      const baseline = c.stages || c.dataFree ? false : (c.baseline ?? true);
      const stages = c.federated
        ? []
        : c.stages
          ? c.stages.map((st) => stageOf(st, run, c.seed))
          : classicStages(
              teacher!,
              studentModelOf(c.student!),
              loss,
              baseline,
              c.seed,
              run,
              c.student!.input,
              c.student!.init,
              c.dataFree ?? null,
              c.student!.quantize ?? null,
            );
      const subsets: Record<string, number[]> = { ...c.report.subsets };
      // Stages trained on a class subset are also measured on it, unless the config names that subset already.
      for (const st of stages)
        if (st.classes && !Object.values(subsets).some((s) => s.join() === st.classes!.join())) subsets[`${st.name}-classes`] = st.classes;
      return deepFreeze({
        name: c.name,
        seed: c.seed,
        threads: c.threads,
        /** Modules registering methods or models, loaded before the config was validated (absolute paths). */
        plugins: c.plugins ?? [],
        outDir: output(c.outDir ?? join('runs', c.name)),
        dataset: c.dataset,
        /** The single teacher of a classic config; null when the run is given as `stages`. */
        teacher,
        student: c.student ? resolvedStudent(c.student) : null,
        /** The distilled student's loss (classic configs; empty with `stages`). */
        loss,
        ...run,
        /** Also train the student without a teacher, same seed and budget, for comparison (classic configs). */
        baseline,
        /** What the run trains, in order: a classic config becomes teacher → baseline → distilled (none when federated). */
        stages,
        /** A federated run's parties and protocol; null otherwise. */
        federated: c.federated ?? null,
        /** A language-model run's on-policy and sequence-level KD settings; null otherwise. */
        languageModel: c.languageModel ?? null,
        /** Class subsets every stage is also evaluated on, by name. */
        report: { subsets },
        /** Checkpoint every this many steps; 0 means at epoch ends only. */
        checkpointEvery: c.checkpointEvery,
        /** Step checkpoints kept per stage (newest first); the best one by validation accuracy is kept apart. */
        keepCheckpoints: c.keepCheckpoints,
        /** Where cached teachers keep their answers (shared between runs). */
        cacheDir: c.cacheDir,
      });
    });
}

/** The config schema's type (it is built per load). */
export type ConfigSchema = ReturnType<typeof configSchema>;
/** A config as a user writes it (YAML, or an object in code). */
export type ConfigInput = z.input<ConfigSchema>;
/** A config with every default filled in, every path absolute, frozen: what a run actually uses. */
export type ResolvedConfig = z.output<ConfigSchema>;
/** One resolved stage. A `file` stage is a given model (evaluated, usable as a teacher), not trained. */
export type StageConfig = ResolvedConfig['stages'][number];
/** A teacher of a stage: an earlier stage, an ONNX file or an HTTP endpoint, with its weight, classes and caching. */
export type StageTeacherConfig = StageConfig['teachers'][number];
/** How a model is trained: the run's own recipe, a zoo teacher's or a stage's. */
export type TrainConfig = Frozen<Recipe>;
/** A teacher read from an ONNX file (absolute path), or a zoo model trained first with its own recipe. */
export type TeacherConfig = NonNullable<ResolvedConfig['teacher']>;
/** A dataset with loader options filled in and its path (for own data) absolute. */
export type DatasetConfig = ResolvedConfig['dataset'];
/** One term of the student's loss: `weight · method(options)`. */
export type LossTermConfig = Frozen<LossTerm>;

/** The resolved student: a zoo model or an ONNX file (the other's keys absent), with its input normalisation if given. */
type StudentInit = { init?: z.output<typeof initLayersSchema>; quantize?: z.output<typeof quantizeSchema> };
type ResolvedStudent<N> = StudentInit &
  (
    | { model: string; file?: undefined; freeze?: undefined; module?: undefined; input?: N }
    | { model?: undefined; file: string; freeze: string[]; module?: undefined; input?: N }
    | { model?: undefined; file?: undefined; freeze?: undefined; module: string; input?: N }
  );

interface StudentAsWritten<N> {
  model?: string;
  file?: string;
  freeze: string[];
  module?: string;
  input?: N;
  init?: z.output<typeof initLayersSchema>;
  quantize?: z.output<typeof quantizeSchema>;
}

function resolvedStudent<N>(s: StudentAsWritten<N>): ResolvedStudent<N> {
  const norm = {
    ...(s.input === undefined ? {} : { input: s.input }),
    ...(s.init === undefined ? {} : { init: s.init }),
    ...(s.quantize === undefined ? {} : { quantize: s.quantize }),
  };
  if (s.module !== undefined) return { module: s.module, ...norm };
  return s.model !== undefined ? { model: s.model, ...norm } : { file: s.file!, freeze: s.freeze, ...norm };
}

/** What the classic stages train: a zoo (or module) model by name, or an ONNX file. */
function studentModelOf(s: StudentAsWritten<unknown>): string | { file: string; freeze: string[] } {
  if (s.module !== undefined) {
    const { path, exportName } = parseModuleRef(s.module);
    return moduleModelName(path, exportName);
  }
  return s.model ?? { file: s.file!, freeze: s.freeze };
}
