/**
 * Declarative experiment configs for `kdistill run config.yaml`: load and validate the YAML, fill in
 * every default, and turn step counts written in epochs into a concrete schedule once the data is known.
 */
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Schedule } from '../optim/schedule.js';
import { ConfigError, formatPath, parseConfigText, readConfigFile, type ConfigProblem, type SourcePositions } from './load.js';
import type {
  Config,
  ConfigRegistry,
  DatasetConfig,
  LossTermConfig,
  OptimizerConfig,
  OptimizerInput,
  ResolvedConfig,
  ScheduleConfig,
  ScheduleInput,
  StageConfig,
  TeacherConfig,
  TrainConfig,
} from './schema.js';

export {
  ConfigError,
  formatPath,
  parseConfigText,
  readConfigFile,
  SourcePositions,
  type ConfigProblem,
  type ParsedConfig,
} from './load.js';
export { configToYaml } from './to-yaml.js';
export { configSchema, DATASET_NAMES } from './schema.js';
export type * from './schema.js';
export { closest, didYouMean, editDistance } from './suggest.js';

/** Options for loading: where outputs go and whether input files must already exist. */
export interface LoadOptions {
  /** The folder a relative `outDir` (and the default `runs/<name>`) is placed in; default the working directory. */
  readonly cwd?: string;
  /** Check that `dataset.path` and `teacher.file` exist, so a typo fails now rather than after training; default true. */
  readonly checkFiles?: boolean;
}

/** Reads, validates and resolves a config file; every problem is reported at once in a ConfigError (code BAD_CONFIG). */
export function loadConfig(file: string, registry: ConfigRegistry, options: LoadOptions = {}): ResolvedConfig {
  return parseConfig(readConfigFile(file), file, registry, options);
}

/** `loadConfig` for text already in hand (`file` names it in messages and anchors its relative paths). */
export function parseConfig(text: string, file: string, registry: ConfigRegistry, options: LoadOptions = {}): ResolvedConfig {
  const { config, positions } = parseConfigText(text, file, registry);
  const resolved = resolveConfig(config, file, options);
  if (options.checkFiles ?? true) checkInputs(resolved, file, positions);
  return resolved;
}

const ADAM = { betas: [0.9, 0.999] as const, eps: 1e-8, lr: 1e-3 };

function resolveOptimizer(o: OptimizerInput | undefined): OptimizerConfig {
  if (!o) return { name: 'adam', lr: ADAM.lr, betas: ADAM.betas, eps: ADAM.eps, weightDecay: 0 };
  if (o.name === 'sgd')
    return {
      name: 'sgd',
      lr: o.lr,
      momentum: o.momentum ?? 0,
      dampening: o.dampening ?? 0,
      nesterov: o.nesterov ?? false,
      weightDecay: o.weightDecay ?? 0,
    };
  // AdamW's decoupled decay defaults to 0.01 as in PyTorch (and optim/adam.ts).
  const weightDecay = o.weightDecay ?? (o.name === 'adamw' ? 0.01 : 0);
  return { name: o.name, lr: o.lr ?? ADAM.lr, betas: o.betas ? [o.betas[0], o.betas[1]] : ADAM.betas, eps: o.eps ?? ADAM.eps, weightDecay };
}

function resolveSchedule(s: ScheduleInput): ScheduleConfig {
  switch (s.kind) {
    case 'constant':
      return { kind: 'constant' };
    case 'step': {
      const length = s.stepSize !== undefined ? { stepSize: s.stepSize } : { stepSizeEpochs: s.stepSizeEpochs! };
      return { kind: 'step', ...length, gamma: s.gamma ?? 0.1 };
    }
    case 'cosine':
      return { kind: 'cosine', min: s.min ?? 0 };
    case 'warmup': {
      const length = s.steps !== undefined ? { steps: s.steps } : { warmupEpochs: s.warmupEpochs! };
      return { kind: 'warmup', ...length, startFactor: s.startFactor ?? 1 / 3, then: resolveSchedule(s.then ?? { kind: 'constant' }) };
    }
  }
}

function resolveDataset(d: Config['dataset'], dir: string): DatasetConfig {
  const v = d.validation;
  const a = d.augment;
  const common = {
    validation: v ? (v.perClass !== undefined ? { perClass: v.perClass } : { fraction: v.fraction! }) : null,
    augment: {
      crop: { padding: a?.crop?.padding ?? 0 },
      flip: a?.flip ?? false,
      jitter: { pixels: a?.jitter?.pixels ?? 0 },
      noise: { std: a?.noise?.std ?? 0 },
    },
    trainPerClass: d.trainPerClass ?? null,
  };
  switch (d.name) {
    case 'mnist':
    case 'fashion-mnist':
      return { name: d.name, ...common, options: {} };
    case 'image-folder': {
      const { size, channels } = d.options ?? {};
      const options = {
        ...(size !== undefined && { size: typeof size === 'number' ? ([size, size] as const) : ([size[0], size[1]] as const) }),
        ...(channels !== undefined && { channels }),
      };
      return { name: d.name, path: path.resolve(dir, d.path), ...common, options };
    }
    case 'csv': {
      const o = d.options ?? {};
      return {
        name: d.name,
        path: path.resolve(dir, d.path),
        ...common,
        options: {
          ...(o.label !== undefined && { label: o.label }),
          features: o.features ?? null,
          delimiter: o.delimiter ?? ',',
          header: o.header ?? true,
        },
      };
    }
    case 'jsonl': {
      const o = d.options ?? {};
      const options = {
        textField: o.textField ?? 'text',
        labelField: o.labelField ?? 'label',
        seqLen: o.seqLen ?? 64,
        tokenizer: o.tokenizer ?? 'word',
        vocab: o.vocab ?? 4096,
      };
      return { name: d.name, path: path.resolve(dir, d.path), ...common, options };
    }
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * Fills in every default of a validated config and makes its paths absolute: inputs relative to the
 * config file's folder (they belong to the experiment), `outDir` relative to `cwd` (like every other
 * output of the CLI). A zoo teacher trains with the run's recipe unless `teacher.train` says otherwise.
 */
export function resolveConfig(raw: Config, file: string, options: Pick<LoadOptions, 'cwd'> = {}): ResolvedConfig {
  const dir = path.dirname(path.resolve(file));
  const name = raw.name ?? path.basename(file).replace(/\.ya?ml$/i, '');
  const seed = raw.seed ?? 0;
  const run: TrainConfig = {
    epochs: raw.epochs,
    batchSize: raw.batchSize ?? 128,
    optimizer: resolveOptimizer(raw.optimizer),
    schedule: resolveSchedule(raw.schedule ?? { kind: 'cosine' }),
    clipGradNorm: raw.clipGradNorm ?? null,
  };
  /** A recipe as written over the run's: every key left out is the run's. */
  const recipeOf = (r: RecipeInput | undefined): TrainConfig => ({
    epochs: r?.epochs ?? run.epochs,
    batchSize: r?.batchSize ?? run.batchSize,
    optimizer: r?.optimizer ? resolveOptimizer(r.optimizer) : run.optimizer,
    schedule: r?.schedule ? resolveSchedule(r.schedule) : run.schedule,
    clipGradNorm: r?.clipGradNorm !== undefined ? r.clipGradNorm : run.clipGradNorm,
  });
  const t = raw.teacher;
  const teacher: TeacherConfig | null = !t
    ? null
    : t.file !== undefined
      ? { file: path.resolve(dir, t.file) }
      : { model: t.model!, train: recipeOf(t.train) };
  const loss = (raw.loss ?? []).map((l) => ({ method: l.method, weight: l.weight ?? 1, options: l.options }));
  const baseline = raw.stages ? false : (raw.baseline ?? true);
  const stages = raw.stages
    ? raw.stages.map((st) => resolveStage(st, dir, seed, recipeOf))
    : classicStages(teacher!, raw.student!.model, loss, baseline, seed, run);
  const subsets: Record<string, readonly number[]> = { ...(raw.report?.subsets ?? {}) };
  // Stages trained on a class subset are also measured on it, unless the config names that subset already.
  for (const st of stages)
    if (st.classes && !Object.values(subsets).some((c) => c.join() === st.classes!.join())) subsets[`${st.name}-classes`] = st.classes;
  return deepFreeze<ResolvedConfig>({
    name,
    seed,
    threads: raw.threads ?? os.availableParallelism(),
    outDir: path.resolve(options.cwd ?? process.cwd(), raw.outDir ?? path.join('runs', name)),
    dataset: resolveDataset(raw.dataset, dir),
    teacher,
    student: raw.student ? { model: raw.student.model } : null,
    loss,
    ...run,
    baseline,
    stages,
    report: { subsets },
    checkpointEvery: raw.checkpointEvery ?? 0,
    keepCheckpoints: raw.keepCheckpoints ?? 2,
    cacheDir: path.resolve(options.cwd ?? process.cwd(), raw.cacheDir ?? path.join('.cache', 'kdistill', 'teachers')),
  });
}

type RecipeInput = Partial<Pick<NonNullable<Config['teacher']>, 'train'>>['train'];
type StageInput = NonNullable<Config['stages']>[number];

/** One stage as written, with the run's recipe and seed where it gives none. */
function resolveStage(st: StageInput, dir: string, seed: number, recipeOf: (r: RecipeInput) => TrainConfig): StageConfig {
  return {
    name: st.name,
    model: st.model ?? null,
    cohort: st.cohort ?? null,
    refreshEvery: st.refreshEvery ?? null,
    file: st.file !== undefined ? path.resolve(dir, st.file) : null,
    init: st.init ?? null,
    teachers: (st.teachers ?? []).map((x) =>
      typeof x === 'string'
        ? { stage: x, file: null, http: null, weight: 1, classes: null, cache: false }
        : {
            stage: x.stage ?? null,
            file: x.file !== undefined ? path.resolve(dir, x.file) : null,
            http: x.http ?? null,
            weight: x.weight ?? 1,
            classes: x.classes ?? null,
            cache: x.cache ?? x.http !== undefined,
          },
    ),
    combine: st.combine ?? 'mean',
    loss: (st.loss ?? [{ method: 'ce', options: {} }]).map((l) => ({ method: l.method, weight: l.weight ?? 1, options: l.options })),
    classes: st.classes ?? null,
    seed: st.seed ?? seed,
    ...recipeOf(st),
  };
}

/** The pipeline of a classic config: the teacher (trained first unless it is a file), the student alone, the student distilled. */
function classicStages(
  teacher: TeacherConfig,
  student: string,
  loss: LossTermConfig[],
  baseline: boolean,
  seed: number,
  run: TrainConfig,
): StageConfig[] {
  const common = { init: null, combine: 'mean' as const, classes: null };
  const ce = [{ method: 'ce', weight: 1, options: {} }];
  const first: StageConfig =
    'file' in teacher
      ? {
          name: 'teacher',
          model: null,
          cohort: null,
          refreshEvery: null,
          file: teacher.file,
          teachers: [],
          loss: [],
          seed,
          ...common,
          ...run,
        }
      : {
          name: 'teacher',
          model: teacher.model,
          cohort: null,
          refreshEvery: null,
          file: null,
          teachers: [],
          loss: ce,
          seed: seed + 1000,
          ...common,
          ...teacher.train,
        };
  const taught = [{ stage: 'teacher', file: null, http: null, weight: 1, classes: null, cache: false }];
  return [
    first,
    ...(baseline
      ? [
          {
            name: 'baseline',
            model: student,
            cohort: null,
            refreshEvery: null,
            file: null,
            teachers: [],
            loss: ce,
            seed,
            ...common,
            ...run,
          },
        ]
      : []),
    { name: 'distilled', model: student, cohort: null, refreshEvery: null, file: null, teachers: taught, loss, seed, ...common, ...run },
  ];
}

/**
 * The `optim` Schedule for a resolved schedule, once steps per epoch are known: epoch counts become
 * steps (rounded, at least 1) and cosine decays over whatever is left of `totalSteps`.
 */
export function toSchedule(s: ScheduleConfig, run: { readonly stepsPerEpoch: number; readonly totalSteps: number }): Schedule {
  const steps = (epochs: number) => Math.max(1, Math.round(epochs * run.stepsPerEpoch));
  switch (s.kind) {
    case 'constant':
      return { kind: 'constant' };
    case 'step':
      return { kind: 'step', stepSize: 'stepSize' in s ? s.stepSize : steps(s.stepSizeEpochs), gamma: s.gamma };
    case 'cosine':
      return { kind: 'cosine', total: Math.max(1, run.totalSteps), min: s.min };
    case 'warmup': {
      const w = 'steps' in s ? s.steps : steps(s.warmupEpochs);
      return { kind: 'warmup', steps: w, startFactor: s.startFactor, then: toSchedule(s.then, { ...run, totalSteps: run.totalSteps - w }) };
    }
  }
}

function checkInputs(c: ResolvedConfig, file: string, positions: SourcePositions): void {
  const problems: ConfigProblem[] = [];
  const need = (p: string, kind: 'file' | 'directory', where: PropertyKey[]) => {
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(p);
    } catch {
      st = undefined;
    }
    if (st && (kind === 'file' ? st.isFile() : st.isDirectory())) return;
    const message = st ? `${p} is not a ${kind}` : `no such ${kind}: ${p} (relative paths start at the config file's folder)`;
    problems.push({ file, ...positions.position(where), path: formatPath(where), message });
  };
  if ('path' in c.dataset) need(c.dataset.path, c.dataset.name === 'image-folder' ? 'directory' : 'file', ['dataset', 'path']);
  if (c.teacher && 'file' in c.teacher) need(c.teacher.file, 'file', ['teacher', 'file']);
  else if (!c.teacher)
    c.stages.forEach((st, i) => {
      if (st.file) need(st.file, 'file', ['stages', i, 'file']);
      st.teachers.forEach((t, j) => t.file && need(t.file, 'file', ['stages', i, 'teachers', j, 'file']));
    });
  if (problems.length) throw new ConfigError(file, problems);
}
