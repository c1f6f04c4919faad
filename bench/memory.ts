// Resident memory over a distillation run (not CI; ~2–4 min on 2 cores): does memory stay flat across
// epochs, and are ONNX Runtime sessions released?
//  1. A CNN teacher (conv 8-16) is trained for one epoch on an MNIST subset, then a CNN student (conv 4-8)
//     is distilled from it (0.5·CE + 0.5·KD at T = 4, teacher in its worker thread) for 10 epochs through
//     the library API (Distiller.fit with onRun). At every epoch end the student is evaluated on a test
//     subset (which creates and releases an inference session, as `kdistill run` does each epoch) and
//     process.memoryUsage() is sampled.
//  2. 50 inference sessions (Predictor) are created, run on one batch and released in a loop; RSS before, after 10 and after 50.
// Prints a table and one JSON line; `bench/results/memory.txt` holds a run's output.
// Usage: npx tsx --expose-gc bench/memory.ts [trainSamples=6000] [epochs=10] [sessions=50]
// (--expose-gc lets the script collect garbage before each sample, so RSS reflects what is still held.)
import '../src/node-setup.js';
import { take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { Distiller } from '../src/frontends/distiller.js';
import { Model } from '../src/nn/model.js';
import { cnn } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { ort } from '../src/runtime/ort.js';
import { evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const nTrain = Number(process.argv[2] ?? 6000),
  epochs = Number(process.argv[3] ?? 10),
  nSessions = Number(process.argv[4] ?? 50);
const MiB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
const t0 = Date.now();

interface Sample {
  label: string;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}
/** process.memoryUsage() in MiB, after a full collection when --expose-gc is on. */
function sample(label: string): Sample {
  gc?.();
  const m = process.memoryUsage();
  return { label, rss: m.rss / MiB, heapUsed: m.heapUsed / MiB, external: m.external / MiB, arrayBuffers: m.arrayBuffers / MiB };
}
const f1 = (x: number) => x.toFixed(1);
const row = (s: Sample, extra = '') =>
  `${s.label.padEnd(14)} ${f1(s.rss).padStart(8)} ${f1(s.heapUsed).padStart(9)} ` +
  `${f1(s.external).padStart(9)} ${f1(s.arrayBuffers).padStart(13)}  ${extra}`;
const memoryColumns = `${'rss MiB'.padStart(8)} ${'heap MiB'.padStart(9)} ${'ext MiB'.padStart(9)} ${'arrayBuf MiB'.padStart(13)}`;
const header = `${'point'.padEnd(14)} ${memoryColumns}`;

const train = take(loadMnist('train'), nTrain, `mnist-train[:${nTrain}]`);
const test = take(loadMnist('test'), 2000, 'mnist-test[:2000]');
const start = sample('data loaded');

const teacher = new Model(cnn([8, 16]), 1000);
await fitClassifier(teacher, train, { epochs: 1, batchSize: 128, lr: 2e-3, seed: 0 });
const tAcc = (await evaluateClassifier(teacher, test)).accuracy;
const afterTeacher = sample('teacher ready');

const batchSize = 128;
const spe = Math.ceil(train.n / batchSize);
const perEpoch: (Sample & { accuracy: number })[] = [];
let stepsDone = 0,
  lastRunEnd = 0;
const d = new Distiller({
  teacher,
  student: new Model(cnn([4, 8]), 0),
  loss: [
    { method: 'ce', weight: 0.5 },
    { method: 'kd', weight: 0.5, options: { temperature: 4 } },
  ],
});
await d.fit(train, {
  epochs,
  batchSize,
  lr: 2e-3,
  seed: 0,
  // Steps are counted here from onStep rather than taken from onRun's arguments, so the epoch arithmetic
  // only relies on onRun coming after the steps of its run.
  onStep: () => void stepsDone++,
  onRun: async (session) => {
    if (stepsDone === lastRunEnd) return;
    // Runs never span an epoch boundary, so an epoch ended exactly when the count crossed a multiple of spe.
    const ended = Math.floor(stepsDone / spe) > Math.floor(lastRunEnd / spe);
    lastRunEnd = stepsDone;
    if (!ended) return;
    session.syncToModel();
    const ev = await evaluateClassifier(d.student, test);
    perEpoch.push({ ...sample(`epoch ${stepsDone / spe}`), accuracy: ev.accuracy });
  },
});
const afterFit = sample('fit returned');

// Sessions: create, run one batch, release. A leak shows as RSS growing with the count.
const bytes = exportOnnx(d.student);
const x = new ort.Tensor('float32', new Float32Array(32 * 784), [32, 1, 28, 28]);
const sessionSamples: Sample[] = [sample('sessions: 0')];
for (let i = 1; i <= nSessions; i++) {
  const p = await Predictor.fromBytes(bytes, { threads: 1 });
  await p.run(x);
  await p.release();
  if (i === 10 || i === nSessions) sessionSamples.push(sample(`sessions: ${i}`));
}

console.log(
  `teacher cnn-8-16 (1 epoch): test accuracy ${(tAcc * 100).toFixed(2)}% on ${test.n}; ` +
    `student cnn-4-8 distilled ${epochs} epochs on ${train.n} samples (${spe} steps/epoch), ` +
    `gc ${gc ? 'forced before each sample' : 'not exposed (run with --expose-gc)'}`,
);
console.log(header);
for (const s of [start, afterTeacher]) console.log(row(s));
for (const s of perEpoch) console.log(row(s, `val acc ${(s.accuracy * 100).toFixed(2)}%`));
console.log(row(afterFit));
for (const s of sessionSamples) console.log(row(s));
const first = perEpoch[0],
  last = perEpoch[perEpoch.length - 1];
const s0 = sessionSamples[0],
  s10 = sessionSamples[1],
  sN = sessionSamples[sessionSamples.length - 1];
console.log(
  JSON.stringify({
    bench: 'memory',
    trainSamples: train.n,
    epochs,
    seconds: Math.round((Date.now() - t0) / 1000),
    gcExposed: !!gc,
    rssEpoch1MiB: +f1(first.rss),
    rssEpochLastMiB: +f1(last.rss),
    rssGrowthEpoch1ToLastMiB: +f1(last.rss - first.rss),
    // Epoch 1 → 2 holds the one-off warm-up (allocator pools, the worker's heap); from epoch 2 on, growth would be a leak.
    rssGrowthEpoch2ToLastMiB: +f1(last.rss - perEpoch[Math.min(1, perEpoch.length - 1)].rss),
    rssMaxOverEpochsMiB: +f1(Math.max(...perEpoch.map((s) => s.rss))),
    externalGrowthEpoch1ToLastMiB: +f1(last.external - first.external),
    arrayBuffersGrowthEpoch1ToLastMiB: +f1(last.arrayBuffers - first.arrayBuffers),
    sessions: nSessions,
    rssBeforeSessionsMiB: +f1(s0.rss),
    rssAfter10SessionsMiB: +f1(s10.rss),
    rssAfterSessionsMiB: +f1(sN.rss),
    rssGrowthPerSessionAfterWarmupKiB: +(((sN.rss - s10.rss) * 1024) / Math.max(1, nSessions - 10)).toFixed(1),
  }),
);
