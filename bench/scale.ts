// Past one machine (not CI): the inputs of docs/scale.md, measured here.
//   1. `kdistill cache fill` of a split three ways, each a fresh CLI process into an empty cache: one process with one
//      worker thread, one process with two, and `--shards 2 --local` (two processes, one worker each); wall seconds
//      including process start, samples/s.
//   2. What the cache holds per sample on disk (records + index), and how fast a warm cache answers (samples/s, in
//      batches of 128, sha256 of every sample included).
//   3. What an open cache costs: the memory (JS heap and typed arrays) per indexed sample and the time to open a store of `--index-entries`
//      (1,000,000) random keys (every index is read into a Map at open; run with --expose-gc for exact heap numbers).
//   4. The student's speed: inference (batch 128) and one KD epoch from the warm cache (ce 0.5 + kd 0.5, T = 4,
//      Adam, batch 128), images/s; and the teacher's inference alone in this process.
// Defaults: the shipped ResNet-20 teacher on Fashion-MNIST train (60,000 images), student cnn-8-16-32, 2 threads.
// Usage: node --expose-gc --import tsx bench/scale.ts [--teacher f.onnx] [--dataset fashion-mnist] [--split train] [--student cnn-8-16-32]
import '../src/node-setup.js';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { batches, type Dataset, type Split } from '../src/data/index.js';
import { loadDataset, type DatasetName } from '../src/data/node/index.js';
import { TeacherCache } from '../src/distill/teachers/cache.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { ShardStore } from '../src/distill/teachers/node/store.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { Predictor } from '../src/runtime/inference.js';
import { fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    teacher: { type: 'string', default: 'examples/teachers/fashion-resnet20.onnx' },
    dataset: { type: 'string', default: 'fashion-mnist' },
    split: { type: 'string', default: 'train' },
    student: { type: 'string', default: 'cnn-8-16-32' },
    threads: { type: 'string', default: '2' },
    'index-entries': { type: 'string', default: '1000000' },
    // MACs per image, counted by hand (docs/scale.md): ResNet-20 on 28×28 and cnn-8-16-32.
    'teacher-macs': { type: 'string', default: '31.0e6' },
    'student-macs': { type: 'string', default: '0.51e6' },
  },
});
const threads = Number(a.threads);
const ds: Dataset = loadDataset(a.dataset as DatasetName, a.split as Split);
const bytes = new Uint8Array(readFileSync(a.teacher!));
const du = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce(
    (s, e) => s + (e.isDirectory() ? du(join(dir, e.name)) : statSync(join(dir, e.name)).size),
    0,
  );

/** One `cache fill` as a fresh process: the wall seconds, process start included. */
function fill(extra: string[]): { seconds: number; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kd-scale-'));
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'cache',
      'fill',
      a.teacher!,
      '--dataset',
      a.dataset!,
      '--split',
      a.split!,
      '--dir',
      dir,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`cache fill ${extra.join(' ')} failed: ${r.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, dir };
}

const load0 = loadavg()[0];
const rows: { how: string; seconds: number; perSec: number }[] = [];
let warmDir = '';
for (const [how, extra] of [
  ['1 process, 1 worker', ['--workers', '1']],
  ['1 process, 2 workers', ['--workers', '2']],
  ['--shards 2 --local (1 worker each)', ['--shards', '2', '--local', '--workers', '2']],
] as const) {
  const r = fill([...extra]);
  rows.push({ how, seconds: r.seconds, perSec: ds.n / r.seconds });
  if (!warmDir) warmDir = r.dir;
  else rmSync(r.dir, { recursive: true, force: true });
  console.error(`${how}: ${r.seconds.toFixed(1)} s`);
}

const cacheBytes = du(warmDir);
// A warm cache in this process: every sample a hit.
const cache = new TeacherCache(
  { predictMany: () => Promise.reject(new Error('all cached')), release: async () => {} },
  {
    key: onnxKey(bytes),
    dir: warmDir,
  },
);
let t0 = performance.now();
for (const b of batches(ds, { batchSize: 128, shuffle: false })) await cache.predictMany(b.x, b.shape, ['logits']);
const warmPerSec = ds.n / ((performance.now() - t0) / 1000);

const speed = async (p: Predictor) => {
  const n = Math.min(ds.n, 10_000);
  const t = performance.now();
  for (const b of batches(ds, { batchSize: 128, shuffle: false })) {
    if (b.step * 128 >= n) break;
    await p.predictMany(b.x, b.shape, ['logits']);
  }
  return n / ((performance.now() - t) / 1000);
};
const teacherP = await Predictor.fromBytes(bytes, { threads });
const teacherPerSec = await speed(teacherP);
await teacherP.release();
const student = new Model(zooModel(a.student!, ds.sampleShape, ds.numClasses), 1);
const studentP = await Predictor.fromModel(student, { threads });
const studentInferPerSec = await speed(studentP);
await studentP.release();
t0 = performance.now();
await fitClassifier(new Model(zooModel(a.student!, ds.sampleShape, ds.numClasses), 1), ds, {
  epochs: 1,
  batchSize: 128,
  seed: 1,
  threads,
  teacher: cache,
  loss: [
    { method: 'ce', weight: 0.5 },
    { method: 'kd', weight: 0.5, options: { temperature: 4 } },
  ],
});
const studentTrainPerSec = ds.n / ((performance.now() - t0) / 1000);
await cache.release();
rmSync(warmDir, { recursive: true, force: true });

/** Heap bytes per indexed sample and seconds to open a store of `n` entries (records held on disk only). */
function indexCost(n: number): { bytesPerEntry: number; openSeconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'kd-scale-index-'));
  const w = new ShardStore(dir, 'logits', { dtype: 'float32' });
  for (let b = 0; b < n; b += 10_000) {
    const keys = Array.from({ length: Math.min(10_000, n - b) }, () => randomBytes(32).toString('hex'));
    w.put(
      keys,
      keys.map(() => new Float32Array(10)),
    );
  }
  w.close();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // The index lives in typed arrays, outside the JS heap: both count.
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const h0 = used(),
    t = performance.now();
  const r = new ShardStore(dir, 'logits', { dtype: 'float32' }, 1 << 30, 0);
  const openSeconds = (performance.now() - t) / 1000;
  gc?.();
  const bytesPerEntry = (used() - h0) / r.entries;
  r.close();
  rmSync(dir, { recursive: true, force: true });
  return { bytesPerEntry: Math.round(bytesPerEntry), openSeconds: Number(openSeconds.toFixed(2)) };
}
const index = indexCost(Number(a['index-entries']));

const out = {
  teacher: a.teacher,
  dataset: `${a.dataset}/${a.split}`,
  samples: ds.n,
  threads,
  loadAverageAtStart: Number(load0.toFixed(2)),
  loadAverageAtEnd: Number(loadavg()[0].toFixed(2)),
  fill: rows.map((r) => ({ ...r, seconds: Number(r.seconds.toFixed(2)), perSec: Math.round(r.perSec) })),
  shards2VsOneWorker: Number((rows[0].seconds / rows[2].seconds).toFixed(2)),
  shards2VsTwoWorkers: Number((rows[1].seconds / rows[2].seconds).toFixed(2)),
  cacheBytesPerSample: Number((cacheBytes / ds.n).toFixed(1)),
  warmCachePerSec: Math.round(warmPerSec),
  indexEntries: Number(a['index-entries']),
  indexHeapBytesPerEntry: index.bytesPerEntry,
  indexOpenSeconds: index.openSeconds,
  teacherInferPerSec: Math.round(teacherPerSec),
  student: a.student,
  studentParams: student.parameterCount(),
  studentInferPerSec: Math.round(studentInferPerSec),
  studentKdEpochPerSec: Math.round(studentTrainPerSec),
};
// docs/scale.md's estimate: 100 M samples, 10 epochs, a teacher of 100× the student's MACs computing at the
// measured teacher's MACs per core-second (its one-worker fill), the student as measured.
const N = 1e8,
  epochs = 10,
  macRate = Number(a['teacher-macs']) * out.fill[0].perSec,
  teacherSec = (100 * Number(a['student-macs'])) / macRate;
const estimate = {
  teacherMacsPerCoreSecond: Math.round(macRate / 1e9) * 1e9,
  teacherMsPerSample: Number((teacherSec * 1000).toFixed(3)),
  teacherCoreHoursOnce: Number(((N * teacherSec) / 3600).toFixed(1)),
  teacherCoreHoursLive: Number(((epochs * N * teacherSec) / 3600).toFixed(1)),
  studentHoursPerEpoch: Number((N / out.studentKdEpochPerSec / 3600).toFixed(2)),
  cacheReadMinutesPerEpoch: Number((N / out.warmCachePerSec / 60).toFixed(1)),
  cacheReadShareOfEpoch: Number((out.studentKdEpochPerSec / out.warmCachePerSec).toFixed(3)),
  workersToKeepUp: Number((teacherSec * out.studentKdEpochPerSec).toFixed(2)),
  indexGigabytes: Number(((N * out.indexHeapBytesPerEntry) / 1e9).toFixed(1)),
  indexOpenSeconds: Math.round((N / out.indexEntries) * out.indexOpenSeconds),
};
console.log(JSON.stringify({ ...out, estimate100M: estimate }, null, 1));
