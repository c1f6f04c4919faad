import { distillationLoss } from '../distill/loss.js';
import { accuracy } from '../nn/losses.js';
import { Model } from '../nn/model.js';
import { referencePairs } from '../nn/zoo/index.js';
import { adam } from '../optim/adam.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { ort } from '../runtime/ort.js';
import { runtime } from '../runtime/runtime.js';
import { TrainSession } from '../runtime/train-session.js';
import { KdError } from '../util/errors.js';
import { randomBatch } from './random-batch.js';
import { median } from '../util/stats.js';

/** One timed measurement of a reference pair's KD step: the median step time, images/s and where the time went. */
export interface KdStepResult {
  engine: string;
  /**
   * 'sequential': teacher then student on one thread pool; 'pipelined': teacher (worker thread) on the next batches
   * overlaps the student steps.
   */
  mode: 'sequential' | 'pipelined';
  /** Training steps per ORT run (an ONNX Loop when > 1). */
  stepsPerRun: number;
  pair: 'mlp' | 'cnn';
  threads: number;
  batch: number;
  steps: number;
  stepMsMedian: number;
  imgPerSec: number;
  teacherFwdMs: number;
  studentStepMs: number;
  loss: number;
}

/**
 * Times the full KD step of a reference pair exactly as the PyTorch peer does: teacher forward in
 * eval mode (its own session, BN folded) + student forward/backward + Adam, loss 0.5·CE + 0.5·T²·KL, T = 4.
 */
export async function benchKdStep(
  pair: 'mlp' | 'cnn',
  threads: number,
  steps = 32,
  batch = 128,
  mode: 'sequential' | 'pipelined' = 'sequential',
  stepsPerRun = 8,
  /** Write ONNX Runtime's per-node profile of the student's step under this prefix (bench/profile.ts). */
  profile?: string,
): Promise<KdStepResult> {
  const ref = referencePairs[pair];
  const teacher = new Model(ref.teacher(), 1);
  const student = new Model(ref.student(), 2);
  const T = 4;
  const K = stepsPerRun;
  // Pipelined: the thread budget is split, half to the teacher's worker, the rest to the student.
  const teacherThreads = mode === 'pipelined' ? Math.max(1, threads >> 1) : threads;
  const studentThreads = mode === 'pipelined' ? Math.max(1, threads - teacherThreads) : threads;
  const tp = await Predictor.fromModel(teacher, { threads: teacherThreads });
  const rt = runtime();
  if (mode === 'pipelined' && !rt.startWorkerTeacher)
    throw new KdError(
      'NO_WORKERS',
      `the pipelined KD step needs a teacher in a worker thread, which the ${rt.name} runtime does not offer`,
    );
  const tw = mode === 'pipelined' ? await rt.startWorkerTeacher!(exportOnnx(teacher), teacherThreads) : undefined;
  const train = await TrainSession.create(
    {
      model: student,
      optimizer: adam(),
      extraInputs: { labels: { dtype: 'int64', shape: ['N'] }, teacher_logits: { dtype: 'float32', shape: ['N', 10] } },
      loss: (out, inp) => ({
        ...distillationLoss(
          [
            { method: 'ce', weight: 0.5 },
            { method: 'kd', weight: 0.5, options: { temperature: T } },
          ],
          { student: out, teacher: { logits: inp.teacher_logits }, labels: inp.labels },
        ),
        metrics: { acc: accuracy(out.logits, inp.labels) },
      }),
    },
    { threads: studentThreads, multiStep: K > 1, profile },
  );
  const { x, labels } = randomBatch(batch, ref.inputShape);
  const lrs = new Array(K).fill(1e-3);
  // One group = K steps: the teacher answers each of the K batches, then one run trains on all of them.
  const teacherGroup = async () => {
    const out: ort.Tensor[] = [];
    for (let k = 0; k < K; k++) out.push((await tp.run(x, ['logits'])).logits);
    return out;
  };
  const requestGroup = () =>
    Array.from({ length: K }, async () => (await tw!.predictMany(x.data as Float32Array, [...x.dims], ['logits']))[0]);
  let pending = tw ? requestGroup() : undefined;
  const group = async (): Promise<Record<string, number>> => {
    let tl: ort.Tensor[];
    if (!tw) tl = await teacherGroup();
    else {
      // The teacher's answers for this group were requested during the previous group; ask for the next.
      tl = (await Promise.all(pending!)).map((d) => new ort.Tensor('float32', d, [batch, 10]));
      pending = requestGroup();
    }
    const feeds = tl.map((t) => ({ x, labels, teacher_logits: t }));
    const res = K > 1 ? await train.runMany(feeds, lrs) : [await train.run(feeds[0], 1e-3)];
    return res[res.length - 1];
  };
  await group();
  const full: number[] = [];
  let last = { loss: 0 } as Record<string, number>;
  for (let i = 0; i < Math.max(1, Math.round(steps / K)); i++) {
    const t0 = performance.now();
    last = await group();
    full.push((performance.now() - t0) / K);
  }
  const tcache = (await tp.run(x, ['logits'])).logits;
  const cached = Array.from({ length: K }, () => ({ x, labels, teacher_logits: tcache }));
  const tOnly: number[] = [],
    sOnly: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t0 = performance.now();
    await tp.run(x, ['logits']);
    tOnly.push(performance.now() - t0);
    t0 = performance.now();
    if (K > 1) await train.runMany(cached, lrs);
    else await train.run(cached[0], 1e-3);
    sOnly.push((performance.now() - t0) / K);
  }
  if (pending) await Promise.all(pending);
  await tw?.release();
  await tp.release();
  await train.release();
  const ms = median(full);
  return {
    engine: `kdistill (onnxruntime-${rt.name} ${ort.env.versions.common})`,
    mode,
    stepsPerRun: K,
    pair,
    threads,
    batch,
    steps,
    stepMsMedian: +ms.toFixed(2),
    imgPerSec: Math.round((batch / ms) * 1000),
    teacherFwdMs: +median(tOnly).toFixed(2),
    studentStepMs: +median(sOnly).toFixed(2),
    loss: +last.loss.toFixed(4),
  };
}
