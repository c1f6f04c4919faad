import { BatchIterator, batches, sampleSize, type AugmentOptions, type BatchState, type Dataset } from '../data/index.js';
import type { Dim } from '../graph/types.js';
import { KdError } from '../util/errors.js';
import { lrAt, type Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort } from '../runtime/ort.js';
import type { TrainSession } from '../runtime/train-session.js';
import { WorkerTeacher } from '../runtime/teacher-worker.js';

/** How the classifier step graph names its inputs: the model input, labels, teacher outputs, sample indices. */
export interface StepInputs {
  readonly input: string;
  /** Teacher outputs the step reads (`logits`, feature node names), in feed order. */
  readonly teacherNames: readonly string[];
  /** Full shapes ([N, ...]) of those teacher outputs. */
  readonly teacherShapes: Readonly<Record<string, readonly Dim[]>>;
  /** Step input that receives a teacher output. */
  inputOf(name: string): string;
  /** Whether the step takes the batch's dataset indices as 'sample_index'. */
  readonly sampleIndex: boolean;
}

/** One pass of training: data, budget, schedule and callbacks (see `FitOptions` for each field's meaning). */
export interface LoopOptions {
  epochs: number;
  maxSteps?: number;
  batchSize: number;
  seed: number;
  lr: number;
  schedule: Schedule;
  stepsPerRun: number;
  mean?: number | readonly number[];
  std?: number | readonly number[];
  augment?: AugmentOptions;
  teacher?: Predictor | WorkerTeacher;
  onStep?: (step: number, out: Record<string, number>) => void;
  /** After each ORT run; `position` is where the data stream stands after the steps done (for checkpoints). */
  onRun?: (session: TrainSession, stepsDone: number, stepsInRun: number, position: BatchState) => void | Promise<void>;
  /** Continue a data stream saved at a checkpoint (the session holds the matching step count). */
  resumeAt?: BatchState;
}

/**
 * Trains `session` on `ds` for the budget in `o`, K steps per ORT run. Batches are copied into two
 * alternating groups of slots so the next group loads (and a worker teacher answers it) while the
 * current one trains. Stops on the first non-finite loss term. Returns the loss of every step.
 */
export async function trainLoop(session: TrainSession, name: string, ds: Dataset, io: StepInputs, o: LoopOptions): Promise<number[]> {
  const losses: number[] = [];
  const bo = { batchSize: o.batchSize, seed: o.seed, mean: o.mean, std: o.std, augment: o.augment };
  const it = o.resumeAt ? BatchIterator.restore(ds, bo, o.resumeAt) : batches(ds, bo);
  const total = Math.min(o.maxSteps ?? Infinity, o.epochs * it.stepsPerEpoch);
  const K = Math.max(1, o.stepsPerRun);
  const per = sampleSize(ds);
  const teacher = io.teacherNames.length ? o.teacher : undefined;
  // Text datasets feed token ids (int64), everything else float pixels/features.
  const text = ds.kind === 'text';
  const slots = Array.from({ length: 2 * K }, () => ({
    x: text ? new BigInt64Array(it.batchSize * per) : new Float32Array(it.batchSize * per),
    y: new BigInt64Array(it.batchSize),
    idx: io.sampleIndex ? new BigInt64Array(it.batchSize) : undefined,
    shape: [] as number[],
    size: 0,
  }));
  type Slot = (typeof slots)[number];
  // A resumed session has done `step` steps already: the budget, the schedule and step numbers continue from there.
  let done = o.resumeAt ? session.step : 0, loaded = done;
  /** Next up to K batches of equal size (an epoch's short last batch starts a group of its own). */
  const loadGroup = (half: number) => {
    const group: Slot[] = [];
    let epoch = -1;
    while (group.length < K && loaded < total) {
      // A group never spans an epoch boundary, so epoch-end evaluations and checkpoints land on it.
      if (group.length > 0 && (it.peekSize() !== group[0].size || it.epoch !== epoch)) break;
      const b = it.nextBatch(), sl = slots[half * K + group.length];
      epoch = b.epoch;
      if (text) (sl.x as BigInt64Array).set(b.xIds!);
      else (sl.x as Float32Array).set(b.x);
      sl.y.set(b.y);
      if (sl.idx) for (let i = 0; i < b.size; i++) sl.idx[i] = BigInt(b.indices[i]);
      sl.shape = [...b.shape];
      sl.size = b.size;
      group.push(sl);
      loaded++;
    }
    return group;
  };
  const xTensor = (sl: Slot) =>
    text ? new ort.Tensor('int64', (sl.x as BigInt64Array).subarray(0, per * sl.size), sl.shape) : new ort.Tensor('float32', (sl.x as Float32Array).subarray(0, per * sl.size), sl.shape);
  const ask = (g: Slot[]) => (teacher instanceof WorkerTeacher ? g.map((sl) => teacher.predictMany(sl.x.subarray(0, per * sl.size), sl.shape, io.teacherNames as string[])) : undefined);
  const asTensors = (sl: Slot, data: Float32Array[]) => data.map((d, i) => new ort.Tensor('float32', d, [sl.size, ...(io.teacherShapes[io.teacherNames[i]].slice(1) as number[])]));
  let half = 0;
  let group = loadGroup(half);
  let pending = ask(group);
  while (group.length > 0) {
    let tl: ort.Tensor[][] | undefined;
    if (pending) tl = (await Promise.all(pending)).map((d, k) => asTensors(group[k], d));
    else if (teacher instanceof Predictor)
      tl = await Promise.all(group.map(async (sl) => {
        const r = await teacher.run(xTensor(sl), io.teacherNames as string[]);
        return io.teacherNames.map((n) => r[n]);
      }));
    // The stream's position after this group, taken before the next group is read ahead.
    const position = it.state();
    // Load (and, with a worker teacher, request) the next group before training on this one.
    const next = loadGroup(half ^ 1);
    pending = ask(next);
    const feeds = group.map((sl, k) => {
      const f: Record<string, ort.Tensor> = { [io.input]: xTensor(sl), labels: new ort.Tensor('int64', sl.y.subarray(0, sl.size), [sl.size]) };
      if (sl.idx) f.sample_index = new ort.Tensor('int64', sl.idx.subarray(0, sl.size), [sl.size]);
      if (tl) io.teacherNames.forEach((n, i) => (f[io.inputOf(n)] = tl![k][i]));
      return f;
    });
    const lrs = feeds.map((_, k) => lrAt(o.schedule, o.lr, done + k));
    const outs = K > 1 ? await session.runMany(feeds, lrs) : [await session.run(feeds[0], lrs[0])];
    for (const out of outs) {
      // A non-finite loss term poisons every weight it touches: stop before anything is saved from it.
      const bad = Object.entries(out).find(([, v]) => !Number.isFinite(v));
      if (bad) throw new KdError('NON_FINITE_LOSS', `training '${name}' stopped at step ${done + 1}: ${bad[0]} is ${bad[1]} (the last checkpoint written before it is kept); lower the learning rate or check the inputs for NaN/Inf`);
      losses.push(out.loss);
      o.onStep?.(done++, out);
    }
    await o.onRun?.(session, done, outs.length, position);
    group = next;
    half ^= 1;
  }
  return losses;
}
