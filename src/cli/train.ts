import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadDataset, type DatasetName } from '../data/index.js';
import { Model } from '../nn/model.js';
import { zooModel } from '../nn/zoo/index.js';
import { adam } from '../optim/adam.js';
import { saveCheckpoint } from '../runtime/checkpoint.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { defaultThreads } from '../runtime/ort.js';
import { WorkerTeacher } from '../runtime/node/worker-teacher.js';
import { agreementRate, evaluateClassifier, fitClassifier, type Evaluation } from '../train/classifier.js';
import { KdError } from '../util/errors.js';
import { readInput } from '../runtime/storage.js';

interface Common {
  dataset: DatasetName;
  epochs: string;
  batch: string;
  lr: string;
  seed: string;
  threads?: string;
  out: string;
}

function datasets(name: DatasetName) {
  const train = loadDataset(name, 'train');
  return { train, test: loadDataset(name, 'test') };
}

function fraction(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new KdError('BAD_OPTION', `--${flag} must be a number from 0 to 1, got '${v}'`);
  return n;
}

function seedOf(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new KdError('BAD_OPTION', `--seed must be a non-negative integer, got '${v}'`);
  return n;
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new KdError('BAD_OPTION', `--${flag} must be a positive number, got '${v}'`);
  return n;
}

/** Trains a zoo model with cross-entropy, optionally distilling from a teacher; logs one line per epoch. */
async function trainOne(
  label: string,
  model: Model,
  o: Common,
  train: ReturnType<typeof datasets>['train'],
  test: ReturnType<typeof datasets>['test'],
  kd?: { teacher: Predictor | WorkerTeacher; T: number; alpha: number },
): Promise<Evaluation> {
  const loss = kd
    ? [
        { method: 'ce', weight: kd.alpha },
        { method: 'kd', weight: 1 - kd.alpha, options: { temperature: kd.T } },
      ]
    : undefined;
  const epochs = num(o.epochs, 'epochs'),
    bs = num(o.batch, 'batch');
  const steps = Math.ceil(train.n / bs);
  const t0 = Date.now();
  let seen = 0;
  await fitClassifier(model, train, {
    epochs,
    batchSize: bs,
    lr: num(o.lr, 'lr'),
    seed: seedOf(o.seed),
    threads: o.threads ? num(o.threads, 'threads') : undefined,
    optimizer: adam(),
    schedule: { kind: 'cosine', total: epochs * steps },
    loss,
    teacher: kd?.teacher,
    onStep: (s, out) => {
      seen += bs;
      if ((s + 1) % steps === 0)
        console.error(
          `[${label}] epoch ${(s + 1) / steps}/${epochs} loss ${out.loss.toFixed(4)} ${Math.round((seen / (Date.now() - t0)) * 1000)} img/s`,
        );
    },
  });
  return evaluateClassifier(model, test, { threads: o.threads ? Number(o.threads) : undefined });
}

function addCommon(c: Command, epochs: string): Command {
  return c
    .option('--dataset <name>', 'mnist | fashion-mnist', 'mnist')
    .option('--epochs <n>', 'training epochs', epochs)
    .option('--batch <n>', 'batch size', '128')
    .option('--lr <x>', 'peak learning rate (Adam, cosine decay)', '0.001')
    .option('--seed <n>', 'seed for initialisation, data order and dropout', '0')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--out <dir>', 'output directory', 'runs/latest');
}

/** `train` (a zoo model from scratch) and `distill` (teacher → baseline student → distilled student). */
export function registerTrain(program: Command): void {
  addCommon(
    program
      .command('train <model>')
      .description('train a model from the zoo (e.g. cnn-32-64-128, mlp-784-800-800-10, lenet5) and export it as ONNX'),
    '5',
  ).action(async (name: string, o: Common) => {
    const { train, test } = datasets(o.dataset);
    const model = new Model(zooModel(name, train.sampleShape, train.numClasses), seedOf(o.seed));
    const ev = await trainOne(name, model, o, train, test);
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, `${name}.onnx`), exportOnnx(model));
    saveCheckpoint(join(o.out, `${name}.ckpt`), { meta: { model: name, dataset: o.dataset, seed: seedOf(o.seed) }, tensors: model.values });
    console.log(
      JSON.stringify({
        model: name,
        dataset: o.dataset,
        testAccuracy: ev.accuracy,
        testLoss: ev.loss,
        parameters: model.parameterCount(),
        onnx: join(o.out, `${name}.onnx`),
      }),
    );
  });

  addCommon(
    program.command('distill').description('train (or load) a teacher, then a student without and with Hinton KD; print the comparison'),
    '5',
  )
    .option('--teacher <model|file.onnx>', 'zoo model to train as teacher, or an ONNX file', 'cnn-32-64-128')
    .option('--teacher-epochs <n>', 'epochs for training the teacher', '3')
    .option('--student <model>', 'zoo model of the student', 'cnn-4-8')
    .option('--temperature <T>', 'softmax temperature', '4')
    .option('--alpha <a>', 'weight of the hard-label cross-entropy (1 − alpha on the KD term)', '0.5')
    .action(async (o: Common & { teacher: string; teacherEpochs: string; student: string; temperature: string; alpha: string }) => {
      // Options are checked before anything trains.
      const T = num(o.temperature, 'temperature'),
        alpha = fraction(o.alpha, 'alpha');
      const { train, test } = datasets(o.dataset);
      mkdirSync(o.out, { recursive: true });
      const threads = o.threads ? Number(o.threads) : undefined;
      let teacherBytes: Uint8Array;
      let teacherParams: number | undefined;
      if (o.teacher.endsWith('.onnx')) teacherBytes = readInput(o.teacher, 'teacher');
      else {
        const t = new Model(zooModel(o.teacher, train.sampleShape, train.numClasses), seedOf(o.seed) + 1000);
        await trainOne(`teacher ${o.teacher}`, t, { ...o, epochs: o.teacherEpochs }, train, test);
        teacherBytes = exportOnnx(t);
        teacherParams = t.parameterCount();
      }
      writeFileSync(join(o.out, 'teacher.onnx'), teacherBytes);
      const teacher = await Predictor.fromBytes(teacherBytes, { threads }, o.teacher);
      const outs = teacher.session.outputNames;
      if (!outs.includes('logits')) {
        await teacher.release();
        throw new KdError(
          'NO_LOGITS',
          `teacher ${o.teacher} has no output named 'logits' (its outputs: ${outs.join(', ')}); export the teacher with its class scores named 'logits'`,
        );
      }
      const tEval = await evaluateClassifier(teacher, test).finally(() => teacher.release());
      const mk = () => new Model(zooModel(o.student, train.sampleShape, train.numClasses), seedOf(o.seed));
      const base = mk();
      const bEval = await trainOne(`baseline ${o.student}`, base, o, train, test);
      writeFileSync(join(o.out, 'baseline.onnx'), exportOnnx(base));
      const kdm = mk();
      // The teacher answers the next batch in a worker thread while the student trains on this one.
      const worker = await WorkerTeacher.start(teacherBytes, 1);
      const studentThreads = String(Math.max(1, (threads ?? defaultThreads()) - 1));
      const kEval = await trainOne(`distilled ${o.student}`, kdm, { ...o, threads: studentThreads }, train, test, {
        teacher: worker,
        T,
        alpha,
      }).finally(() => worker.release());
      writeFileSync(join(o.out, 'student.onnx'), exportOnnx(kdm));
      const row = (name: string, e: Evaluation, params: number | undefined, file: string) => ({
        name,
        accuracy: +e.accuracy.toFixed(4),
        loss: +e.loss.toFixed(4),
        agreementWithTeacher: +agreementRate(e.predictions, tEval.predictions).toFixed(4),
        parameters: params,
        fileBytes: statSync(join(o.out, file)).size,
      });
      const summary = {
        dataset: o.dataset,
        seed: seedOf(o.seed),
        temperature: T,
        alpha,
        rows: [
          row(`teacher ${o.teacher}`, tEval, teacherParams, 'teacher.onnx'),
          row(`baseline ${o.student}`, bEval, base.parameterCount(), 'baseline.onnx'),
          row(`distilled ${o.student}`, kEval, kdm.parameterCount(), 'student.onnx'),
        ],
      };
      writeFileSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
      console.log('model                              test acc   agree w/ teacher   params     file');
      for (const r of summary.rows)
        console.log(
          `${r.name.padEnd(34)} ${(r.accuracy * 100).toFixed(2).padStart(7)}%  ${(r.agreementWithTeacher * 100).toFixed(2).padStart(15)}%  ${String(r.parameters ?? '?').padStart(8)}  ${(r.fileBytes / 1024).toFixed(0).padStart(5)} KiB`,
        );
      console.log(`run directory: ${o.out}`);
    });
}
