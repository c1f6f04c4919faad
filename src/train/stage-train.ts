import type { AugmentOptions, BatchState, Dataset } from '../data/index.js';
import type { TrainSession } from '../runtime/train-session.js';
import type { Combine } from '../distill/combine.js';
import { pretrainOf, type LossTerm } from '../distill/loss.js';
import type { OpenTeacher } from '../distill/teachers/open.js';
import type { Model } from '../nn/model.js';
import { runtime } from '../runtime/runtime.js';
import { readText, writeAtomic } from '../runtime/storage.js';
import { evaluateClassifier, fitClassifier, type FitOptions } from './classifier.js';
import type { Recipe } from './plan.js';
import { Progress } from './progress.js';
import type { RunDir } from './run-dir.js';
import { latestCheckpoint, pruneCheckpoints } from './stage-files.js';

/** Where a stage's training writes and how it reads its data; without a run directory nothing is written. */
export interface StageContext {
  readonly runDir?: RunDir;
  /** Continue from the stage's newest checkpoint in the run directory, if there is one. */
  readonly resume?: boolean;
  readonly seed: number;
  readonly augment?: AugmentOptions;
  readonly mean?: number | readonly number[];
  readonly std?: number | readonly number[];
  /** How the teachers' view of paired data is normalised, when it is another view than the stage's. */
  readonly teacherNorm?: { readonly mean?: readonly number[]; readonly std?: readonly number[] };
  readonly checkpointEvery: number;
  readonly keepCheckpoints: number;
  /** Threads for the per-epoch evaluation. */
  readonly threads: number;
  /** Progress on stderr (off in the library, where callbacks report instead). */
  readonly progress?: boolean;
  /** Lines for the user (a resumed stage says where it continues). */
  readonly log?: (line: string) => void;
  /** Awaited after each ORT run, once its checkpoint (if any) is written, so a paused run can be closed and resumed. */
  readonly pause?: () => Promise<void>;
}

/** One model's training in a stage: the model, its recipe and loss, its data and its running teachers. */
export interface StageTraining {
  readonly stage: string;
  readonly model: Model;
  readonly recipe: Recipe;
  readonly loss: readonly LossTerm[];
  /** The training set, and the set each epoch is evaluated on (the validation split, else the test set) with its name. */
  readonly data: {
    readonly train: Dataset;
    readonly val?: Dataset;
    readonly valName?: 'val' | 'test';
    /** The training set as the teachers see it, sample for sample, when that is another view of the data (cross-modal). */
    readonly teacherTrain?: Dataset;
  };
  readonly teachers: readonly OpenTeacher[];
  readonly combine: Combine;
  /** Intra-op threads for the student's step (default: every core). */
  readonly threads?: number;
  /** Library callbacks (`onStep`, `onRun`, ...) run beside the stage's own. */
  readonly hooks?: Pick<FitOptions, 'onStep' | 'onRun' | 'onPretrainStep' | 'maxSteps' | 'stepsPerRun'>;
}

/**
 * Trains one stage's model: every step logged, a checkpoint every `checkpointEvery` steps and at each epoch end
 * (the newest `keepCheckpoints` kept), each epoch evaluated on the validation data with the best checkpoint kept.
 * With `resume` it continues exactly from the newest checkpoint.
 */
export async function trainStage(t: StageTraining, ctx: StageContext): Promise<number[]> {
  const { recipe, stage } = t;
  const rd = ctx.runDir;
  const spe = Math.ceil(t.data.train.n / recipe.batchSize);
  const total = spe * recipe.epochs;
  const show = ctx.progress ?? !!rd;
  const progress = show ? new Progress(stage, total, recipe.batchSize) : undefined;
  const pre = pretrainOf(t.loss);
  const preProgress =
    show && pre ? new Progress(`${stage} (pre-training: ${pre.methods.join(', ')})`, spe * pre.epochs, recipe.batchSize) : undefined;
  // Where a front-end's progress bar learns the stage's length before its first epoch ends.
  rd?.log({ stage, event: 'start', epochs: recipe.epochs, stepsPerEpoch: spe, steps: total, trainSamples: t.data.train.n });
  const resume = rd && ctx.resume ? latestCheckpoint(rd.checkpoints, stage) : undefined;
  if (rd && resume) {
    rd.log({ stage, event: 'resumed', checkpoint: resume.file, step: resume.step });
    ctx.log?.(`${stage}: resuming from ${resume.file} (step ${resume.step} of ${total})`);
  }
  const best = rd ? new BestCheckpoint(rd, stage, !!resume) : undefined;
  const evalName = t.data.valName ?? 'val';
  const { losses } = await fitClassifier(t.model, t.data.train, {
    epochs: recipe.epochs,
    batchSize: recipe.batchSize,
    lr: recipe.lr,
    optimizer: recipe.optimizer,
    clipGradNorm: recipe.clipGradNorm,
    schedule: recipe.schedule({ stepsPerEpoch: spe, totalSteps: total }),
    seed: ctx.seed,
    threads: t.threads,
    loss: [...t.loss],
    teachers: t.teachers.map((o) => ({ ...o.slot, teacher: o.source, bytes: o.bytes })),
    teacherView: t.data.teacherTrain,
    teacherNorm: ctx.teacherNorm,
    combine: t.combine,
    augment: ctx.augment,
    mean: ctx.mean,
    std: ctx.std,
    resume: resume?.path,
    maxSteps: t.hooks?.maxSteps,
    stepsPerRun: t.hooks?.stepsPerRun,
    onStep: (step, out) => {
      rd?.log({ stage, step, ...out });
      progress?.step(step, out);
      t.hooks?.onStep?.(step, out);
    },
    onPretrainStep: (step, out) => {
      rd?.log({ stage, phase: 'pretrain', step, ...out });
      preProgress?.step(step, out);
      t.hooks?.onPretrainStep?.(step, out);
    },
    onRun: async (session, stepsDone, n, position) => {
      await t.hooks?.onRun?.(session, stepsDone, n, position);
      await checkpointAndEvaluate(session, stepsDone, n, position);
      await runtime().yieldToEvents?.();
      await ctx.pause?.();
    },
  });
  return losses;

  async function checkpointAndEvaluate(session: TrainSession, stepsDone: number, n: number, position: BatchState): Promise<void> {
    if (!rd) return;
    const epochEnded = Math.floor(stepsDone / spe) > Math.floor((stepsDone - n) / spe);
    const every =
      ctx.checkpointEvery > 0 && Math.floor(stepsDone / ctx.checkpointEvery) > Math.floor((stepsDone - n) / ctx.checkpointEvery);
    if (!epochEnded && !every) return;
    const meta = { stage, epoch: stepsDone / spe, batches: position };
    session.saveCheckpoint(`${rd.checkpoints}/${stage}-step${stepsDone}.ckpt`, meta);
    pruneCheckpoints(rd.checkpoints, stage, ctx.keepCheckpoints);
    if (!epochEnded || !t.data.val) return;
    session.syncToModel();
    const ev = await evaluateClassifier(t.model, t.data.val, { threads: ctx.threads, mean: ctx.mean, std: ctx.std });
    const event = {
      epoch: Math.floor(stepsDone / spe),
      [`${evalName}Accuracy`]: +ev.accuracy.toFixed(4),
      [`${evalName}Loss`]: +ev.loss.toFixed(4),
    };
    rd.log({ stage, event: 'epoch', ...event });
    progress?.note(event);
    best!.offer(ev.accuracy, stepsDone, evalName, (file) =>
      session.saveCheckpoint(file, { ...meta, [`${evalName}Accuracy`]: ev.accuracy }),
    );
  }
}

/** The best validation accuracy of a stage so far, and its checkpoint `<stage>-best.ckpt` (kept across a resume). */
class BestCheckpoint {
  private best: number;
  private readonly record: string;

  constructor(
    private readonly rd: RunDir,
    private readonly stage: string,
    resumed: boolean,
  ) {
    this.record = `${rd.checkpoints}/${stage}-best.json`;
    this.best = resumed ? readBest(this.record) : -Infinity;
  }

  /** Saves a new best checkpoint (through `save`) if `accuracy` beats the best so far. */
  offer(accuracy: number, step: number, on: string, save: (file: string) => void): void {
    if (!(accuracy > this.best)) return;
    this.best = accuracy;
    save(`${this.rd.checkpoints}/${this.stage}-best.ckpt`);
    writeAtomic(this.record, [JSON.stringify({ accuracy, on, step })]);
  }
}

/** The best validation accuracy a stage reached before an interruption (none: −∞). */
function readBest(file: string): number {
  try {
    return (JSON.parse(readText(file, 'best-checkpoint record')) as { accuracy: number }).accuracy;
  } catch {
    return -Infinity;
  }
}
