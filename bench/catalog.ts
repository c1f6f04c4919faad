// The knowledge catalog on Fashion-MNIST (not CI): one CNN teacher, one smaller CNN student, every method
// (each beside cross-entropy, RepDistiller's protocol, canonical weights) against the student trained
// alone, over several seeds; mean ± std of test accuracy and of top-1 agreement with the teacher, plus
// validation accuracy. No tuning: every weight below is the published default (see docs/methods.md).
// Usage: npx tsx bench/catalog.ts [--seeds 0,1,2] [--epochs 8] [--train-per-class 1000] [--methods kd,at]
//   [--out bench/results/catalog.json]
import '../src/node-setup.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stratifiedSplit } from '../src/data/index.js';
import { loadDataset } from '../src/data/node/index.js';
import type { LossTerm } from '../src/distill/loss.js';
import { prepareTeacher } from '../src/distill/teachers/prepare.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { WorkerTeacher } from '../src/runtime/node/worker-teacher.js';
import { agreementRate, evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '8' },
    'train-per-class': { type: 'string', default: '1000' },
    methods: { type: 'string' },
    out: { type: 'string', default: 'bench/results/catalog.json' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number),
  epochs = Number(a.epochs),
  threads = Number(a.threads);
const TEACHER = 'cnn-32-64-128',
  STUDENT = 'cnn-8-16-32';
const ce = { method: 'ce', weight: 1 };
const pair = (n: string) => ({ teacherNode: n, studentNode: n });
const blocks = [1, 2, 3];
/** Each method beside ce at its canonical weight (RepDistiller's CIFAR scripts, mdistiller, or the paper); nodes by name. */
const METHODS: Record<string, LossTerm[]> = {
  baseline: [ce],
  kd: [
    { method: 'ce', weight: 0.1 },
    { method: 'kd', weight: 0.9, options: { temperature: 4 } },
  ],
  dkd: [ce, { method: 'dkd', weight: 1 }],
  dist: [ce, { method: 'dist', weight: 1, options: { beta: 2, gamma: 2, temperature: 4 } }],
  logit_mse: [ce, { method: 'logit_mse', weight: 1 }],
  fitnets: [ce, { method: 'fitnets', weight: 100, options: pair('block2/relu') }],
  at: [ce, ...blocks.map((b) => ({ method: 'at', weight: 1000, options: pair(`block${b}/relu`) }))],
  nst: [ce, ...blocks.map((b) => ({ method: 'nst', weight: 50, options: pair(`block${b}/relu`) }))],
  ft: [ce, { method: 'ft', weight: 200, options: { ...pair('block3/relu'), paraphraserEpochs: 1 } }],
  ab: [ce, ...blocks.map((b) => ({ method: 'ab', weight: 2 ** (b - 3), options: { ...pair(`block${b}/bn/out`), initEpochs: 1 } }))],
  vid: [ce, ...blocks.map((b) => ({ method: 'vid', weight: 1, options: pair(`block${b}/relu`) }))],
  crd: [ce, { method: 'crd', weight: 0.8, options: pair('flatten') }],
  reviewkd: [
    ce,
    {
      method: 'reviewkd',
      weight: 1,
      options: { teacherNodes: blocks.map((b) => `block${b}/relu`), studentNodes: blocks.map((b) => `block${b}/relu`), hclLevels: [7, 1] },
    },
  ],
  sp: [ce, { method: 'sp', weight: 3000, options: pair('block3/relu') }],
  rkd: [ce, { method: 'rkd', weight: 1, options: pair('flatten') }],
  pkt: [ce, { method: 'pkt', weight: 30000, options: pair('flatten') }],
  cc: [ce, { method: 'cc', weight: 0.02, options: pair('flatten') }],
  irg: [
    ce,
    {
      method: 'irg',
      weight: 1,
      options: { teacherNodes: ['block2/relu', 'block3/relu', 'logits'], studentNodes: ['block2/relu', 'block3/relu', 'logits'] },
    },
  ],
};
const names = a.methods ? a.methods.split(',') : Object.keys(METHODS);
for (const n of names) if (!METHODS[n]) throw new Error(`unknown bench method '${n}' (have ${Object.keys(METHODS).join(', ')})`);

const full = loadDataset('fashion-mnist', 'train'),
  test = loadDataset('fashion-mnist', 'test');
// A fixed stratified subset keeps 60 runs within an hour on 2 cores; validation is disjoint from it.
const rest = stratifiedSplit(full, { seed: 0, valPerClass: 200 });
const train = stratifiedSplit(rest.train, { seed: 0, valPerClass: Number(a['train-per-class']) }).val,
  val = rest.val;
const recipe = { epochs, batchSize: 128, lr: 2e-3, schedule: { kind: 'cosine' as const, total: epochs * Math.ceil(train.n / 128) } };
const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);

// The teacher is trained once (seed 1000) on the same subset, longer, and reused across invocations.
mkdirSync('.cache/bench', { recursive: true });
const tFile = `.cache/bench/catalog-teacher-${train.n}.onnx`;
if (!existsSync(tFile)) {
  const tm = new Model(zooModel(TEACHER, train.sampleShape, 10), 1000);
  await fitClassifier(tm, train, {
    ...recipe,
    epochs: 15,
    schedule: { kind: 'cosine', total: 15 * Math.ceil(train.n / 128) },
    seed: 1000,
    threads,
    augment: { crop: { padding: 2 }, flip: true },
  });
  writeFileSync(tFile, exportOnnx(tm));
}
const tBytes = new Uint8Array(readFileSync(tFile));
const tp = await Predictor.fromBytes(tBytes, { threads });
const tTest = await evaluateClassifier(tp, test),
  tVal = await evaluateClassifier(tp, val);
await tp.release();
log(`teacher ${TEACHER}: test ${(tTest.accuracy * 100).toFixed(2)}%, val ${(tVal.accuracy * 100).toFixed(2)}%`);

interface Result {
  method: string;
  seed: number;
  test: number;
  val: number;
  agree: number;
  seconds: number;
}
const results: Result[] = existsSync(a.out!)
  ? JSON.parse(readFileSync(a.out!, 'utf8')).results.filter((r: Result) => r.seed !== undefined)
  : [];
const save = () => {
  const summary = {
    teacher: TEACHER,
    student: STUDENT,
    trainSamples: train.n,
    epochs,
    teacherTest: tTest.accuracy,
    teacherVal: tVal.accuracy,
    results,
  };
  writeFileSync(a.out!, `${JSON.stringify(summary, null, 1)}\n`);
};
for (const name of names) {
  for (const seed of seeds) {
    if (results.some((r) => r.method === name && r.seed === seed)) continue;
    const t1 = Date.now();
    const loss = METHODS[name];
    const student = new Model(zooModel(STUDENT, train.sampleShape, 10), seed);
    const needsTeacher = name !== 'baseline';
    const prep = needsTeacher ? await prepareTeacher(tBytes, loss, 'teacher', train.sampleShape, 10) : undefined;
    const worker = prep ? await WorkerTeacher.start(prep.bytes, 1) : undefined;
    try {
      await fitClassifier(student, train, {
        ...recipe,
        seed,
        threads: needsTeacher ? Math.max(1, threads - 1) : threads,
        loss,
        teacher: worker,
        teacherShapes: prep?.shapes,
      });
    } finally {
      await worker?.release();
    }
    const ev = await evaluateClassifier(student, test, { threads }),
      ve = await evaluateClassifier(student, val, { threads });
    const r = {
      method: name,
      seed,
      test: ev.accuracy,
      val: ve.accuracy,
      agree: agreementRate(ev.predictions, tTest.predictions),
      seconds: Math.round((Date.now() - t1) / 1000),
    };
    results.push(r);
    save();
    log(
      `${name} seed ${seed}: test ${(r.test * 100).toFixed(2)}%, val ` +
        `${(r.val * 100).toFixed(2)}%, agreement ${(r.agree * 100).toFixed(2)}% (${r.seconds} s)`,
    );
  }
}

const ms = (xs: number[]) => {
  const m = xs.reduce((p, q) => p + q, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((p, q) => p + (q - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return `${(m * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)}`;
};
const alone = new Map(results.filter((r) => r.method === 'baseline').map((r) => [r.seed, r.test]));
console.log(
  `Teacher ${TEACHER}: test ${(tTest.accuracy * 100).toFixed(2)}%. Student ${STUDENT}, ` +
    `${train.n} training images, ${epochs} epochs, seeds ${seeds.join(', ')}.\n`,
);
// Runs of one seed share the student's initialisation and data order, so the difference to the student
// alone is taken per seed (paired), which removes most of the seed-to-seed spread.
console.log('| method | test accuracy % | Δ vs alone, paired % | validation % | agreement with teacher % |');
console.log('|---|---|---|---|---|');
for (const name of Object.keys(METHODS)) {
  const rs = results.filter((r) => r.method === name);
  if (!rs.length) continue;
  const paired = rs.filter((r) => alone.has(r.seed)).map((r) => r.test - alone.get(r.seed)!);
  console.log(
    `| ${name === 'baseline' ? 'student alone (ce)' : name} | ${ms(rs.map((r) => r.test))} ` +
      `| ${name === 'baseline' || !paired.length ? '' : ms(paired).replace(/^(\d)/, '+$1')} ` +
      `| ${ms(rs.map((r) => r.val))} | ${ms(rs.map((r) => r.agree))} |`,
  );
}
