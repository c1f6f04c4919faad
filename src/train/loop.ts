import {
  BatchIterator,
  batches,
  sampleSize,
  type AugmentOptions,
  type BatchState,
  type Dataset,
  type PartnerSampler,
} from '../data/index.js';
import { knownMask } from '../data/interactions.js';
import type { BoundaryAttack } from '../distill/adversarial/boundary-attack.js';
import type { BoundarySampling } from '../distill/method.js';
import type { Dim } from '../graph/types.js';
import { Rng } from '../util/rng.js';
import { BOUNDARY_INPUTS } from './classifier-step.js';
import { KdError } from '../util/errors.js';
import { lrAt, type Schedule } from '../optim/schedule.js';
import { Predictor } from '../runtime/inference.js';
import { ort } from '../runtime/ort.js';
import type { TrainSession } from '../runtime/train-session.js';
import type { Teacher } from '../runtime/teacher.js';

/** How the classifier step graph names its inputs: the model input, labels, teacher outputs, sample indices. */
export interface StepInputs {
  readonly input: string;
  /** Per teacher: the outputs to fetch (`logits`, feature node names), the step inputs receiving them and their shapes ([N, ...]). */
  readonly teachers: readonly {
    readonly names: readonly string[];
    readonly inputs: readonly string[];
    readonly shapes: readonly (readonly Dim[])[];
  }[];
  /** Whether the step takes the batch's dataset indices as 'sample_index'. */
  readonly sampleIndex: boolean;
  /** Whether the step takes each row's user's known items as 'known' [N, items] (interaction data). */
  readonly known?: boolean;
  /** Parameter groups of the step (extra models) with their own peak learning rate and schedule (default: the loop's). */
  readonly groups?: readonly { readonly name: string; readonly lr?: number; readonly schedule?: Schedule }[];
  /** Boundary samples the step reads for every batch (bss), and the factor their term takes by epoch. */
  readonly boundary?: BoundarySampling;
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
  /** Partnered batches (anchors, then a partner of each), for terms that read them (CS-KD's same-class pairs). */
  partners?: PartnerSampler;
  /** The runtime of each teacher in `StepInputs.teachers`, in the same order: an in-thread ONNX predictor or any source. */
  teachers?: readonly Teacher[];
  onStep?: (step: number, out: Record<string, number>) => void;
  /** After each ORT run; `position` is where the data stream stands after the steps done (for checkpoints). */
  onRun?: (session: TrainSession, stepsDone: number, stepsInRun: number, position: BatchState) => void | Promise<void>;
  /** Continue a data stream saved at a checkpoint (the session holds the matching step count). */
  resumeAt?: BatchState;
  /**
   * The teachers' view of the training set (cross-modal KD): the same samples in the same order as `ds`, which the
   * student sees. Batched in lockstep with `ds` (same seed, so the same shuffling and augmentation draws).
   */
  teacherView?: Dataset;
  /** How `teacherView` is normalised (default: `mean` and `std`); a view may hold other features than `ds`. */
  teacherNorm?: { readonly mean?: readonly number[]; readonly std?: readonly number[] };
  /** The attack through the first teacher that makes each batch's boundary samples, when `StepInputs.boundary` asks for them. */
  boundary?: BoundaryAttack;
}

/**
 * Trains `session` on `ds` for the budget in `o`, K steps per ORT run. Batches are copied into two
 * alternating groups of slots so the next group loads (and a worker teacher answers it) while the
 * current one trains. Stops on the first non-finite loss term. Returns the loss of every step.
 */
export async function trainLoop(session: TrainSession, name: string, ds: Dataset, io: StepInputs, o: LoopOptions): Promise<number[]> {
  const losses: number[] = [];
  const bo = { batchSize: o.batchSize, seed: o.seed, mean: o.mean, std: o.std, augment: o.augment, partners: o.partners };
  const it = o.resumeAt ? BatchIterator.restore(ds, bo, o.resumeAt) : batches(ds, bo);
  const tv = o.teacherView;
  if (tv && (tv.n !== ds.n || ds.kind === 'text' || tv.kind === 'text'))
    throw new KdError('BAD_CALL', `training '${name}': the teachers' view must hold the student's ${ds.n} samples, paired by index`);
  if (io.boundary && !o.boundary)
    throw new KdError('NO_TEACHER', `training '${name}': the loss moves samples through the teacher (bss), and no attack was given`);
  if (io.boundary && (tv || ds.kind === 'text'))
    throw new KdError(
      'BAD_LOSS',
      `training '${name}': bss moves the student's own inputs through the teacher, so it needs one view of non-text data`,
    );
  const bt = { ...bo, mean: o.teacherNorm?.mean ?? bo.mean, std: o.teacherNorm?.std ?? bo.std };
  const itT = tv ? (o.resumeAt ? BatchIterator.restore(tv, bt, o.resumeAt) : batches(tv, bt)) : undefined;
  const perT = tv ? sampleSize(tv) : 0;
  const inter = ds.interactions;
  if (io.known && !inter)
    throw new KdError(
      'BAD_LOSS',
      `training '${name}': the loss leaves each user's known items out (rd), which needs interaction data (dataset: { name: movielens })`,
    );
  const total = Math.min(o.maxSteps ?? Infinity, o.epochs * it.stepsPerEpoch);
  const K = Math.max(1, o.stepsPerRun);
  const per = sampleSize(ds);
  const teachers = io.teachers.map((t, k) => {
    const rt = o.teachers?.[k];
    if (!rt)
      throw new KdError('NO_TEACHER', `training '${name}' needs ${io.teachers.length} teacher(s) and got ${o.teachers?.length ?? 0}`);
    return { ...t, rt };
  });
  // Text and interaction datasets feed ids (int64: tokens, users), everything else float pixels/features.
  const text = ds.ids !== undefined;
  const slots = Array.from({ length: 2 * K }, () => ({
    x: text ? new BigInt64Array(it.capacity * per) : new Float32Array(it.capacity * per),
    y: new BigInt64Array(it.capacity),
    idx: io.sampleIndex ? new BigInt64Array(it.capacity) : undefined,
    known: io.known ? new Float32Array(it.capacity * inter!.items) : undefined,
    /** The batch in the teachers' view, when they see another one. */
    xt: itT ? new Float32Array(it.capacity * perT) : undefined,
    tshape: [] as number[],
    shape: [] as number[],
    size: 0,
  }));
  type Slot = (typeof slots)[number];
  // A resumed session has done `step` steps already: the budget, the schedule and step numbers continue from there.
  let done = o.resumeAt ? session.step : 0,
    loaded = done;
  /** Next up to K batches of equal size (an epoch's short last batch starts a group of its own). */
  const loadGroup = (half: number) => {
    const group: Slot[] = [];
    let epoch = -1;
    while (group.length < K && loaded < total) {
      // A group never spans an epoch boundary, so epoch-end evaluations and checkpoints land on it.
      if (group.length > 0 && (it.peekSize() !== group[0].size || it.epoch !== epoch)) break;
      const b = it.nextBatch(),
        sl = slots[half * K + group.length];
      if (itT) {
        const t = itT.nextBatch();
        // Same seed, same dataset size: the two streams draw the same samples; a mismatch would silently unpair them.
        if (t.indices[0] !== b.indices[0] || t.size !== b.size) throw new KdError('INTERNAL', `training '${name}': views out of step`);
        sl.xt!.set(t.x);
        sl.tshape = [...t.shape];
      }
      epoch = b.epoch;
      if (text) (sl.x as BigInt64Array).set(b.xIds!);
      else (sl.x as Float32Array).set(b.x);
      sl.y.set(b.y);
      if (sl.idx) for (let i = 0; i < b.size; i++) sl.idx[i] = BigInt(b.indices[i]);
      if (sl.known) knownMask(inter!, b.xIds!, b.size, sl.known);
      sl.shape = [...b.shape];
      sl.size = b.size;
      group.push(sl);
      loaded++;
    }
    return group;
  };
  const xTensor = (sl: Slot) =>
    text
      ? new ort.Tensor('int64', (sl.x as BigInt64Array).subarray(0, per * sl.size), sl.shape)
      : new ort.Tensor('float32', (sl.x as Float32Array).subarray(0, per * sl.size), sl.shape);
  // Teachers are asked for a group as soon as it is loaded, so they answer while the previous group trains; an
  // in-thread predictor is asked only when its answer is needed, since it would take the cores the student is using.
  const teacherX = (sl: Slot) => (sl.xt ? sl.xt.subarray(0, perT * sl.size) : sl.x.subarray(0, per * sl.size));
  const teacherShape = (sl: Slot) => (sl.xt ? sl.tshape : sl.shape);
  const ask = (g: Slot[]) =>
    teachers.map((t) =>
      t.rt instanceof Predictor ? undefined : g.map((sl) => (t.rt as Teacher).predictMany(teacherX(sl), teacherShape(sl), t.names)),
    );
  const answer = async (g: Slot[], asked: ReturnType<typeof ask>): Promise<ort.Tensor[][][]> =>
    Promise.all(
      teachers.map(async (t, k) => {
        const data = asked[k]
          ? await Promise.all(asked[k]!)
          : await Promise.all(
              g.map(async (sl) => {
                const x = sl.xt ? new ort.Tensor('float32', teacherX(sl) as Float32Array, sl.tshape) : xTensor(sl);
                const r = await (t.rt as Predictor).run(x, t.names as string[]);
                return t.names.map((n) => r[n].data as Float32Array);
              }),
            );
        return data.map((ds, j) => ds.map((d, i) => new ort.Tensor('float32', d, [g[j].size, ...(t.shapes[i].slice(1) as number[])])));
      }),
    );
  /**
   * Attacks each batch of a group through the first teacher (its logits answer the batch) and adds the step's boundary
   * inputs; the target classes are drawn from a stream keyed by the step, so a resumed run draws what it would have.
   */
  const boundaryFeeds = async (
    need: BoundarySampling,
    attack: BoundaryAttack,
    g: Slot[],
    feeds: Record<string, ort.Tensor>[],
    tl: ort.Tensor[][][],
    first: number,
  ) => {
    for (let k = 0; k < g.length; k++) {
      const sl = g[k];
      const b = await attack.run(
        (sl.x as Float32Array).subarray(0, per * sl.size),
        sl.shape,
        sl.y.subarray(0, sl.size),
        tl[0][k][0].data as Float32Array,
        new Rng(`${o.seed}:bss:${first + k}`),
      );
      const epoch = Math.floor((first + k) / it.stepsPerEpoch) + 1;
      Object.assign(feeds[k], {
        [BOUNDARY_INPUTS.x]: new ort.Tensor('float32', b.x, sl.shape),
        [BOUNDARY_INPUTS.logits]: new ort.Tensor('float32', b.logits, [sl.size, b.logits.length / sl.size]),
        [BOUNDARY_INPUTS.attacked]: new ort.Tensor('float32', b.attacked, [sl.size]),
        [BOUNDARY_INPUTS.weight]: new ort.Tensor('float32', Float32Array.of(need.weight(epoch, o.epochs)), []),
      });
    }
  };
  let half = 0;
  let group = loadGroup(half);
  let pending = ask(group);
  while (group.length > 0) {
    const tl = await answer(group, pending);
    // The stream's position after this group, taken before the next group is read ahead.
    const position = it.state();
    // Load (and, with a worker teacher, request) the next group before training on this one.
    const next = loadGroup(half ^ 1);
    pending = ask(next);
    const feeds = group.map((sl, k) => {
      const f: Record<string, ort.Tensor> = {
        [io.input]: xTensor(sl),
        labels: new ort.Tensor('int64', sl.y.subarray(0, sl.size), [sl.size]),
      };
      if (sl.idx) f.sample_index = new ort.Tensor('int64', sl.idx.subarray(0, sl.size), [sl.size]);
      if (sl.known) f.known = new ort.Tensor('float32', sl.known.subarray(0, sl.size * inter!.items), [sl.size, inter!.items]);
      teachers.forEach((t, j) => t.inputs.forEach((input, i) => (f[input] = tl[j][k][i])));
      return f;
    });
    if (io.boundary) await boundaryFeeds(io.boundary, o.boundary!, group, feeds, tl, done);
    const lrs = feeds.map((_, k) => lrAt(o.schedule, o.lr, done + k));
    const groupLrs = Object.fromEntries(
      (io.groups ?? []).map((gr) => [gr.name, feeds.map((_, k) => lrAt(gr.schedule ?? o.schedule, gr.lr ?? o.lr, done + k))]),
    );
    const outs =
      K > 1
        ? await session.runMany(feeds, lrs, groupLrs)
        : [await session.run(feeds[0], lrs[0], Object.fromEntries(Object.entries(groupLrs).map(([n, v]) => [n, v[0]])))];
    for (const out of outs) {
      // A non-finite loss term poisons every weight it touches: stop before anything is saved from it.
      const bad = Object.entries(out).find(([, v]) => !Number.isFinite(v));
      if (bad)
        throw new KdError(
          'NON_FINITE_LOSS',
          `training '${name}' stopped at step ${done + 1}: ${bad[0]} is ${bad[1]} (the last checkpoint ` +
            'written before it is kept); lower the learning rate or check the inputs for NaN/Inf',
        );
      losses.push(out.loss);
      o.onStep?.(done++, out);
    }
    await o.onRun?.(session, done, outs.length, position);
    group = next;
    half ^= 1;
  }
  return losses;
}
