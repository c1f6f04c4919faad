// Quantisation and distillation (not CI): on MNIST (teacher: the shipped LeNet-5, 99.04%) and Fashion-MNIST (teacher:
// the shipped ResNet-20, 93.74%), the student cnn-8-16-32 as fp32 alone and with KD, post-training int8 of the fp32
// student (today's `kdistill export --int8`: 512 calibration images; its 4-bit-weight variant), and quantisation-aware
// training alone and with KD at 8 and 4 bits; test accuracy over several seeds, file size and latency at batch 1 and 32.
// A QAT row's accuracy is its int8 file's (written from what training learned, no calibration), with the fake-quantised
// graph's beside it. Students train on 1,000 images per class, validated on 500 per class the teacher never saw.
// Usage: npx tsx bench/quantization.ts [--datasets mnist,fashion-mnist] [--seeds 0,1,2] [--epochs 8]
//   [--out bench/results/quantization.json]
import '../src/node-setup.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { batches, stratifiedSplit, type Dataset } from '../src/data/index.js';
import { loadDataset } from '../src/data/node/index.js';
import type { LossTerm } from '../src/distill/loss.js';
import { TeacherCache } from '../src/distill/teachers/cache.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { prepareTeacher } from '../src/distill/teachers/prepare.js';
import { Model } from '../src/nn/model.js';
import { withQuantization } from '../src/nn/quant/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { meanStd } from '../src/report/seeds.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { measureLatency } from '../src/runtime/latency.js';
import { WorkerTeacher } from '../src/runtime/node/worker-teacher.js';
import { quantizeInt8 } from '../src/runtime/quantize.js';
import { agreementRate, evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    datasets: { type: 'string', default: 'mnist,fashion-mnist' },
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '8' },
    'train-per-class': { type: 'string', default: '1000' },
    out: { type: 'string', default: 'bench/results/quantization.json' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number),
  epochs = Number(a.epochs),
  threads = Number(a.threads);
const STUDENT = 'cnn-8-16-32';
const TEACHERS: Record<string, string> = {
  mnist: 'examples/teachers/mnist-lenet5.onnx',
  'fashion-mnist': 'examples/teachers/fashion-resnet20.onnx',
};
const CE: LossTerm[] = [{ method: 'ce', weight: 1 }];
const KD: LossTerm[] = [
  { method: 'ce', weight: 0.5 },
  { method: 'kd', weight: 0.5, options: { temperature: 4 } },
];
/** The trained variants: fp32 or quantisation-aware at a bit width, on labels alone or with KD. */
const TRAINED = [
  { name: 'fp32', bits: 0, loss: CE },
  { name: 'fp32+kd', bits: 0, loss: KD },
  { name: 'qat8', bits: 8, loss: CE },
  { name: 'qat8+kd', bits: 8, loss: KD },
  { name: 'qat4', bits: 4, loss: CE },
  { name: 'qat4+kd', bits: 4, loss: KD },
] as const;

interface Row {
  dataset: string;
  row: string;
  seed: number;
  test: number;
  /** A QAT row: the fake-quantised graph's accuracy and its agreement with the int8 file. */
  fakeQuant?: number;
  agreeFake?: number;
  val: number;
  fileBytes: number;
  seconds: number;
}
const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);
const stored = existsSync(a.out!) ? JSON.parse(readFileSync(a.out!, 'utf8')) : undefined;
const same = stored?.epochs === epochs && stored?.trainPerClass === Number(a['train-per-class']);
const rows: Row[] = same ? stored.rows : [];
const latency: Record<string, unknown> = same ? (stored.latency ?? {}) : {};
const save = () =>
  writeFileSync(
    a.out!,
    `${JSON.stringify({ student: STUDENT, epochs, trainPerClass: Number(a['train-per-class']), rows, latency }, null, 1)}\n`,
  );
const files = '.cache/bench/quantization';
mkdirSync(files, { recursive: true });

/** The first 512 training images in a seeded order, as `kdistill export --int8` calibrates. */
function calibration(train: Dataset): Float32Array[] {
  const b = batches(train, { batchSize: 512, shuffle: true, seed: 0 })[Symbol.iterator]().next().value!;
  return [Float32Array.from(b.x)];
}

for (const dataset of a.datasets!.split(',')) {
  const full = loadDataset(dataset as 'mnist', 'train'),
    test = loadDataset(dataset as 'mnist', 'test');
  const rest = stratifiedSplit(full, { seed: 1000, valPerClass: 500 });
  const train = stratifiedSplit(rest.train, { seed: 0, valPerClass: Number(a['train-per-class']) }).val,
    val = rest.val;
  const tBytes = new Uint8Array(readFileSync(TEACHERS[dataset]));
  const cacheOpts = { key: onnxKey(tBytes), dir: `.cache/bench/quantization-answers-${dataset}` };
  const teacher = async () => {
    const prep = await prepareTeacher(tBytes, KD, 'teacher', train.sampleShape, 10);
    return { prep, teacher: new TeacherCache(await WorkerTeacher.start(prep.bytes, threads), cacheOpts) };
  };
  const recipe = { epochs, batchSize: 128, lr: 2e-3, schedule: { kind: 'cosine' as const, total: epochs * Math.ceil(train.n / 128) } };
  const score = async (bytes: Uint8Array) => {
    const p = await Predictor.fromBytes(bytes, { threads });
    try {
      return { test: await evaluateClassifier(p, test), val: await evaluateClassifier(p, val) };
    } finally {
      await p.release();
    }
  };
  const push = (r: Row, bytes: Uint8Array) => {
    rows.push(r);
    if (r.seed === seeds[0]) writeFileSync(`${files}/${dataset}-${r.row}.onnx`, bytes);
    save();
    const fq =
      r.fakeQuant !== undefined
        ? ` (fake-quantised ${(r.fakeQuant * 100).toFixed(2)}%, agreement ${(r.agreeFake! * 100).toFixed(2)}%)`
        : '';
    log(`${dataset} ${r.row} seed ${r.seed}: test ${(r.test * 100).toFixed(2)}%${fq}, ${r.fileBytes} B, ${r.seconds} s`);
  };
  for (const seed of seeds)
    for (const v of TRAINED) {
      if (rows.some((r) => r.dataset === dataset && r.row === v.name && r.seed === seed)) continue;
      const t1 = Date.now();
      const def = zooModel(STUDENT, train.sampleShape, 10);
      const model = new Model(
        v.bits
          ? withQuantization(def, { bits: v.bits, weights: 'per-channel', activations: true, ranges: 'minmax', observeSteps: 200 })
          : def,
        seed,
      );
      const kd = v.loss === KD ? await teacher() : undefined;
      try {
        await fitClassifier(model, train, {
          ...recipe,
          seed,
          threads,
          loss: [...v.loss],
          teacher: kd?.teacher,
          teacherShapes: kd?.prep.shapes,
        });
      } finally {
        await kd?.teacher.release();
      }
      const float = exportOnnx(model);
      const seconds = Math.round((Date.now() - t1) / 1000);
      if (!v.bits) {
        const s = await score(float);
        push({ dataset, row: v.name, seed, test: s.test.accuracy, val: s.val.accuracy, fileBytes: float.length, seconds }, float);
        // Post-training quantisation of the fp32 student alone, as `kdistill export --int8` does it.
        if (v.loss === CE)
          for (const bits of [8, 4] as const) {
            const q = await quantizeInt8(float, calibration(train), { threads, weightBits: bits });
            const sq = await score(q);
            push({ dataset, row: `ptq${bits}`, seed, test: sq.test.accuracy, val: sq.val.accuracy, fileBytes: q.length, seconds: 0 }, q);
          }
        continue;
      }
      const int8 = await quantizeInt8(float, [], { threads });
      const [sq, sf] = [await score(int8), await score(exportOnnx(model, { fakeQuant: true }))];
      push(
        {
          dataset,
          row: v.name,
          seed,
          test: sq.test.accuracy,
          fakeQuant: sf.test.accuracy,
          agreeFake: agreementRate(sq.test.predictions, sf.test.predictions),
          val: sq.val.accuracy,
          fileBytes: int8.length,
          seconds,
        },
        int8,
      );
    }
  // Latency of the first seed's files, measured after all training so no run shares the cores with it.
  for (const r of ['fp32', 'ptq8', 'ptq4', 'qat8', 'qat4']) {
    const p = await Predictor.fromBytes(new Uint8Array(readFileSync(`${files}/${dataset}-${r}.onnx`)), { threads });
    latency[`${dataset}/${r}`] = await measureLatency(p, test.sampleShape, [1, 32], 200);
    await p.release();
  }
  save();
}

const pct = (xs: number[]) => {
  const { mean, std } = meanStd(xs);
  return `${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)}`;
};
for (const dataset of a.datasets!.split(',')) {
  console.log(`\n${dataset}: ${STUDENT}, ${epochs} epochs on ${Number(a['train-per-class']) * 10} images, seeds ${seeds.join(', ')}`);
  console.log('| student | test accuracy % | fake-quantised % | file | latency b1 / b32 (ms, p50) |');
  console.log('|---|---|---|---|---|');
  for (const name of ['fp32', 'fp32+kd', 'ptq8', 'ptq4', 'qat8', 'qat8+kd', 'qat4', 'qat4+kd']) {
    const rs = rows.filter((r) => r.dataset === dataset && r.row === name);
    if (!rs.length) continue;
    const fq = rs[0].fakeQuant !== undefined ? pct(rs.map((r) => r.fakeQuant!)) : '';
    const lat = latency[`${dataset}/${name.replace('+kd', '')}`] as { batch: number; p50: number }[] | undefined;
    const l = lat ? lat.map((x) => x.p50.toFixed(3)).join(' / ') : '';
    console.log(`| ${name} | ${pct(rs.map((r) => r.test))} | ${fq} | ${(rs[0].fileBytes / 1024).toFixed(1)} KiB | ${l} |`);
  }
}
