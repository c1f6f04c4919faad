// Adversarial distillation on Fashion-MNIST (not CI): the shipped ResNet-20 teacher (93.74% test,
// examples/teachers/fashion-resnet20.onnx) and the student cnn-8-16-32 of bench/catalog.ts, on the same 1,000 images per
// class, validated on the teacher's 500 held-out images per class: the student alone, KD, KD with a discriminator
// (Xu et al. 2018, in turns with the student) and KD with boundary supporting samples (BSS, Heo et al. 2019) over
// several seeds; mean ± std of test accuracy, of the paired difference to the student alone, of agreement with the
// teacher, and of the time per run. The teacher's answers on the clean images are cached (.cache/bench/adversarial-
// answers); BSS's attack runs through the teacher in this thread for every batch (10 teacher passes and gradients on up to
// a batch of images per step), so its rows take several times as long as the others.
// Usage: npx tsx bench/adversarial.ts [--seeds 0,1,2] [--epochs 15] [--train-per-class 1000] [--methods kd,bss]
//   [--out bench/results/adversarial.json]
// A quick check that it runs: npx tsx bench/adversarial.ts --seeds 0 --epochs 1 --train-per-class 20 --out /tmp/adv.json
import '../src/node-setup.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { batches, stratifiedSplit } from '../src/data/index.js';
import { loadDataset } from '../src/data/node/index.js';
import { teacherOutputsOf, type LossTerm } from '../src/distill/loss.js';
import { TeacherCache } from '../src/distill/teachers/cache.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { prepareTeacher } from '../src/distill/teachers/prepare.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { meanStd } from '../src/report/seeds.js';
import { Predictor } from '../src/runtime/inference.js';
import { WorkerTeacher } from '../src/runtime/node/worker-teacher.js';
import { agreementRate, evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '15' },
    'train-per-class': { type: 'string', default: '1000' },
    teacher: { type: 'string', default: 'examples/teachers/fashion-resnet20.onnx' },
    methods: { type: 'string' },
    out: { type: 'string', default: 'bench/results/adversarial.json' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number),
  epochs = Number(a.epochs),
  threads = Number(a.threads);
const TEACHER = 'resnet20',
  STUDENT = 'cnn-8-16-32';
// KD as in bench/catalog.ts (RepDistiller's 0.1·CE + 0.9·KD at T = 4); each adversarial term is added to it at its
// canonical weight: the discriminator's at 1, BSS's at the official code's initial attack ratio 2.
const KD: LossTerm[] = [
  { method: 'ce', weight: 0.1 },
  { method: 'kd', weight: 0.9, options: { temperature: 4 } },
];
const METHODS: Record<string, LossTerm[]> = {
  baseline: [{ method: 'ce', weight: 1 }],
  kd: KD,
  discriminator: [...KD, { method: 'discriminator', weight: 1 }],
  // Both sides updated every step from the same forward pass: the student gets as many updates as under KD alone.
  discriminator_joint: [...KD, { method: 'discriminator', weight: 1, options: { alternate: null } }],
  bss: [...KD, { method: 'bss', weight: 2 }],
};
const LABELS: Record<string, string> = {
  baseline: 'student alone (ce)',
  kd: 'kd',
  discriminator: 'kd + discriminator (1:1 turns)',
  discriminator_joint: 'kd + discriminator (joint updates)',
  bss: 'kd + bss',
};
const names = a.methods ? a.methods.split(',') : Object.keys(METHODS);
for (const n of names) if (!METHODS[n]) throw new Error(`unknown bench method '${n}' (have ${Object.keys(METHODS).join(', ')})`);

const full = loadDataset('fashion-mnist', 'train'),
  test = loadDataset('fashion-mnist', 'test');
// The teacher's own split (seed 1000, 500 per class; examples/teachers/fashion-resnet20.yaml), as bench/catalog.ts.
const rest = stratifiedSplit(full, { seed: 1000, valPerClass: 500 });
const train = stratifiedSplit(rest.train, { seed: 0, valPerClass: Number(a['train-per-class']) }).val,
  val = rest.val;
const recipe = { epochs, batchSize: 128, lr: 2e-3, schedule: { kind: 'cosine' as const, total: epochs * Math.ceil(train.n / 128) } };
const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);

const tBytes = new Uint8Array(readFileSync(a.teacher!));
const tp = await Predictor.fromBytes(tBytes, { threads });
const tTest = await evaluateClassifier(tp, test),
  tVal = await evaluateClassifier(tp, val);
await tp.release();
log(`teacher ${TEACHER}: test ${(tTest.accuracy * 100).toFixed(2)}%, val ${(tVal.accuracy * 100).toFixed(2)}%`);

const cacheOpts = { key: onnxKey(tBytes), dir: '.cache/bench/adversarial-answers' };
const needsTeacher = (terms: readonly LossTerm[]) => teacherOutputsOf(terms).length > 0;
const cachedTeacher = async (terms: LossTerm[]) => {
  const prep = await prepareTeacher(tBytes, terms, 'teacher', train.sampleShape, 10);
  return { prep, teacher: new TeacherCache(await WorkerTeacher.start(prep.bytes, threads), cacheOpts) };
};
if (names.some((n) => needsTeacher(METHODS[n]))) {
  const { teacher } = await cachedTeacher(KD);
  for (const b of batches(train, { batchSize: 256, shuffle: false })) await teacher.predictMany(b.x, b.shape, ['logits']);
  log(`teacher cache: ${JSON.stringify(teacher.stats())}`);
  await teacher.release();
}

interface Result {
  method: string;
  seed: number;
  test: number;
  val: number;
  agree: number;
  seconds: number;
}
// Results of an earlier invocation are kept (a stopped run continues) only when made in the same setting.
const stored = existsSync(a.out!) ? JSON.parse(readFileSync(a.out!, 'utf8')) : undefined;
const sameSetting = stored?.teacherFile === a.teacher && stored?.epochs === epochs && stored?.trainSamples === train.n;
const results: Result[] = sameSetting ? stored.results : [];
const save = () => {
  mkdirSync(dirname(a.out!), { recursive: true });
  const summary = { teacher: TEACHER, teacherFile: a.teacher, student: STUDENT, trainSamples: train.n, epochs, methods: METHODS, results };
  writeFileSync(a.out!, `${JSON.stringify({ ...summary, teacherTest: tTest.accuracy, teacherVal: tVal.accuracy }, null, 1)}\n`);
};
for (const name of names) {
  for (const seed of seeds) {
    if (results.some((r) => r.method === name && r.seed === seed)) continue;
    const t1 = Date.now();
    const loss = METHODS[name];
    const student = new Model(zooModel(STUDENT, train.sampleShape, 10), seed);
    const cached = needsTeacher(loss) ? await cachedTeacher(loss) : undefined;
    try {
      await fitClassifier(student, train, {
        ...recipe,
        seed,
        threads,
        loss,
        teacher: cached?.teacher,
        teacherShapes: cached?.prep.shapes,
        // BSS differentiates through the teacher itself; the cache serves only its answers on the clean batches.
        teacherBytes: cached?.prep.bytes,
      });
    } finally {
      const st = cached?.teacher.stats();
      if (st?.misses) log(`${name} seed ${seed}: ${st.misses} teacher cache misses (expected 0)`);
      await cached?.teacher.release();
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
    log(`${name} seed ${seed}: test ${(r.test * 100).toFixed(2)}%, val ${(r.val * 100).toFixed(2)}% (${r.seconds} s)`);
  }
}

const pct = (xs: number[], sign = false) => {
  const { mean, std } = meanStd(xs);
  return `${sign && mean >= 0 ? '+' : ''}${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)}`;
};
const alone = results.filter((r) => r.method === 'baseline');
const aloneBy = new Map(alone.map((r) => [r.seed, r.test]));
console.log(
  `Teacher ${TEACHER} (${a.teacher}): test ${(tTest.accuracy * 100).toFixed(2)}%, validation ${(tVal.accuracy * 100).toFixed(2)}%. ` +
    `Student ${STUDENT}, ${train.n} training images, ${epochs} epochs, seeds ${seeds.join(', ')}.\n`,
);
// Paired differences to the student alone (same initialisation and data order per seed), judged as bench/catalog.ts does.
console.log(
  '| method | test accuracy % | Δ vs alone, paired % | beyond noise | validation % | agreement with teacher % | time per run s |',
);
console.log('|---|---|---|---|---|---|---|');
for (const name of Object.keys(METHODS)) {
  const rs = results.filter((r) => r.method === name);
  if (!rs.length) continue;
  const paired = rs.filter((r) => aloneBy.has(r.seed)).map((r) => r.test - aloneBy.get(r.seed)!);
  const d = meanStd(paired),
    spread = Math.max(meanStd(rs.map((r) => r.test)).std, meanStd(alone.map((r) => r.test)).std);
  const verdict = name === 'baseline' || paired.length < 2 ? '' : Math.abs(d.mean) <= spread ? 'noise' : d.mean > 0 ? 'gain' : 'loss';
  const time = meanStd(rs.map((r) => r.seconds));
  console.log(
    `| ${LABELS[name]} | ${pct(rs.map((r) => r.test))} | ${name === 'baseline' || !paired.length ? '' : pct(paired, true)} ` +
      `| ${verdict} | ${pct(rs.map((r) => r.val))} | ${pct(rs.map((r) => r.agree))} | ${time.mean.toFixed(0)} ± ${time.std.toFixed(0)} |`,
  );
}
console.log(
  '\nIn 1:1 turns the student updates on every other batch, so the discriminator row gives the student half the updates of ' +
    'the others in the same epochs.',
);
