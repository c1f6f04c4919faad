// The knowledge catalog on Fashion-MNIST (not CI): the shipped ResNet-20 teacher (93.74% test,
// examples/teachers/fashion-resnet20.onnx), a small plain CNN student (cnn-8-16-32, 31× fewer parameters), every
// response, feature and relation method (each beside cross-entropy at its canonical weight, RepDistiller's protocol),
// the teacher-free self-distillation methods, and the student alone, over several seeds; mean ± std of test accuracy
// and of top-1 agreement with the teacher, plus validation accuracy. No tuning: every weight below is the published
// default (see docs/methods.md). The teacher's answers (logits and every feature node) are computed once into a
// teacher cache, so the runs pay for the student only.
// Usage: npx tsx bench/catalog.ts [--seeds 0,1,2] [--epochs 15] [--train-per-class 1000] [--methods kd,at]
//   [--out bench/results/catalog.json]
import '../src/node-setup.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { batches, stratifiedSplit } from '../src/data/index.js';
import { loadDataset } from '../src/data/node/index.js';
import { teacherOutputsOf, type LossTerm } from '../src/distill/loss.js';
import { TeacherCache } from '../src/distill/teachers/cache.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { prepareTeacher } from '../src/distill/teachers/prepare.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { Predictor } from '../src/runtime/inference.js';
import { WorkerTeacher } from '../src/runtime/node/worker-teacher.js';
import { meanStd } from '../src/report/seeds.js';
import { agreementRate, evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '15' },
    'train-per-class': { type: 'string', default: '1000' },
    teacher: { type: 'string', default: 'examples/teachers/fashion-resnet20.onnx' },
    methods: { type: 'string' },
    out: { type: 'string', default: 'bench/results/catalog.json' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number),
  epochs = Number(a.epochs),
  threads = Number(a.threads);
const TEACHER = 'resnet20',
  STUDENT = 'cnn-8-16-32';
const ce = { method: 'ce', weight: 1 };
const blocks = [1, 2, 3];
// Stage b of each model at the same resolution (28, 14, 7): the teacher's last residual block, the student's conv block
// before its pooling; `pre` is the same place before the ReLU (AB), `emb` the penultimate vector.
const T = { out: (b: number) => `layer${b}.2/out`, pre: (b: number) => `layer${b}.2/add`, emb: 'features' };
const S = { out: (b: number) => `block${b}/relu`, pre: (b: number) => `block${b}/bn/out`, emb: 'flatten' };
const at = (b: number) => ({ teacherNode: T.out(b), studentNode: S.out(b) });
const emb = { teacherNode: T.emb, studentNode: S.emb };
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
  fitnets: [ce, { method: 'fitnets', weight: 100, options: at(2) }],
  at: [ce, ...blocks.map((b) => ({ method: 'at', weight: 1000, options: at(b) }))],
  nst: [ce, ...blocks.map((b) => ({ method: 'nst', weight: 50, options: at(b) }))],
  ft: [ce, { method: 'ft', weight: 200, options: { ...at(3), paraphraserEpochs: 1 } }],
  ab: [
    ce,
    ...blocks.map((b) => ({
      method: 'ab',
      weight: 2 ** (b - 3),
      options: { teacherNode: T.pre(b), studentNode: S.pre(b), initEpochs: 1 },
    })),
  ],
  vid: [ce, ...blocks.map((b) => ({ method: 'vid', weight: 1, options: at(b) }))],
  crd: [ce, { method: 'crd', weight: 0.8, options: emb }],
  reviewkd: [
    ce,
    { method: 'reviewkd', weight: 1, options: { teacherNodes: blocks.map(T.out), studentNodes: blocks.map(S.out), hclLevels: [7, 1] } },
  ],
  sp: [ce, { method: 'sp', weight: 3000, options: at(3) }],
  rkd: [ce, { method: 'rkd', weight: 1, options: emb }],
  pkt: [ce, { method: 'pkt', weight: 30000, options: emb }],
  cc: [ce, { method: 'cc', weight: 0.02, options: emb }],
  irg: [
    ce,
    { method: 'irg', weight: 1, options: { teacherNodes: [T.out(2), T.out(3), 'logits'], studentNodes: [S.out(2), S.out(3), 'logits'] } },
  ],
  // Teacher-free: the same student taught by itself or by a hand-made distribution.
  tfkd: [{ method: 'tfkd', weight: 1 }],
  cskd: [ce, { method: 'cskd', weight: 1 }],
};
const names = a.methods ? a.methods.split(',') : Object.keys(METHODS);
for (const n of names) if (!METHODS[n]) throw new Error(`unknown bench method '${n}' (have ${Object.keys(METHODS).join(', ')})`);
// FSP matches C_lower × C_upper flow matrices, which needs equal channel counts; this pair halves every stage's width.
const NOT_APPLICABLE = { fsp: 'needs equal channel counts per layer (teacher 16/32/64, student 8/16/32), as for wrn-40-2 → wrn-40-1' };

const full = loadDataset('fashion-mnist', 'train'),
  test = loadDataset('fashion-mnist', 'test');
// The teacher's own split (seed 1000, 500 per class; examples/teachers/fashion-resnet20.yaml): validation is data the
// teacher never saw, and the students train on a fixed 1,000-per-class subset of the teacher's training images.
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

// Every node any method reads is answered once for the whole training subset; a node's answer does not depend on which
// other nodes a prepared teacher exposes, so all runs share one key (the teacher file's).
const cacheOpts = { key: onnxKey(tBytes), dir: '.cache/bench/catalog-answers' };
const needsTeacher = (terms: readonly LossTerm[]) => teacherOutputsOf(terms).length > 0;
const teacherTerms = names.flatMap((n) => METHODS[n]).filter((t) => needsTeacher([t]));
const cachedTeacher = async (terms: LossTerm[]) => {
  const prep = await prepareTeacher(tBytes, terms, 'teacher', train.sampleShape, 10);
  return { prep, teacher: new TeacherCache(await WorkerTeacher.start(prep.bytes, threads), cacheOpts) };
};
{
  const { prep, teacher } = await cachedTeacher(teacherTerms);
  const outs = Object.keys(prep.shapes);
  // The batcher's own float conversion, so the cached bytes are the ones training hashes.
  for (const b of batches(train, { batchSize: 256, shuffle: false })) await teacher.predictMany(b.x, b.shape, outs);
  log(`teacher cache: ${JSON.stringify(teacher.stats())} over ${outs.length} outputs`);
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
  const summary = {
    teacher: TEACHER,
    teacherFile: a.teacher,
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
    const cached = needsTeacher(loss) ? await cachedTeacher(loss) : undefined;
    try {
      await fitClassifier(student, train, {
        ...recipe,
        seed,
        // The cached teacher's worker only hashes and reads, so the student keeps both threads.
        threads,
        loss,
        teacher: cached?.teacher,
        teacherShapes: cached?.prep.shapes,
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
    log(
      `${name} seed ${seed}: test ${(r.test * 100).toFixed(2)}%, val ` +
        `${(r.val * 100).toFixed(2)}%, agreement ${(r.agree * 100).toFixed(2)}% (${r.seconds} s)`,
    );
  }
}

const ms = (xs: number[], sign = false) => {
  const { mean, std } = meanStd(xs);
  return `${sign && mean >= 0 ? '+' : ''}${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)}`;
};
const alone = results.filter((r) => r.method === 'baseline');
const aloneBy = new Map(alone.map((r) => [r.seed, r.test]));
console.log(
  `Teacher ${TEACHER} (${a.teacher}): test ${(tTest.accuracy * 100).toFixed(2)}%, validation ${(tVal.accuracy * 100).toFixed(2)}%. ` +
    `Student ${STUDENT}, ${train.n} training images, ${epochs} epochs, seeds ${seeds.join(', ')}.\n`,
);
// Runs of one seed share the student's initialisation and data order, so the difference to the student alone is
// taken per seed (paired); it is beyond noise when its mean exceeds the larger seed spread of the two rows (the
// rule of `kdistill run --seeds`).
console.log('| method | test accuracy % | Δ vs alone, paired % | beyond noise | validation % | agreement with teacher % |');
console.log('|---|---|---|---|---|---|');
for (const name of Object.keys(METHODS)) {
  const rs = results.filter((r) => r.method === name);
  if (!rs.length) continue;
  const paired = rs.filter((r) => aloneBy.has(r.seed)).map((r) => r.test - aloneBy.get(r.seed)!);
  const d = meanStd(paired),
    spread = Math.max(meanStd(rs.map((r) => r.test)).std, meanStd(alone.map((r) => r.test)).std);
  const verdict = name === 'baseline' || paired.length < 2 ? '' : Math.abs(d.mean) <= spread ? 'noise' : d.mean > 0 ? 'gain' : 'loss';
  console.log(
    `| ${name === 'baseline' ? 'student alone (ce)' : name} | ${ms(rs.map((r) => r.test))} ` +
      `| ${name === 'baseline' || !paired.length ? '' : ms(paired, true)} | ${verdict} ` +
      `| ${ms(rs.map((r) => r.val))} | ${ms(rs.map((r) => r.agree))} |`,
  );
}
for (const [m, why] of Object.entries(NOT_APPLICABLE)) console.log(`| ${m} | n/a: ${why} | | | | |`);
