// Teacher cache (not CI): one KD epoch of MNIST train (ce 0.5 + kd 0.5, T = 4, batch 128, Adam) for each
// reference pair (MLP 1200-1200 → 800-800, CNN 32-64-128 → 8-16), timed three ways, interleaved:
//   plain  — cross-entropy alone, no teacher at all (the floor a cache can approach);
//   live   — the ONNX teacher in a worker thread answering ahead (as `kdistill run` does: 1 teacher
//            thread, the rest to the student);
//   cached — a warm TeacherCache (filled first as `cache fill` does, untimed), all threads to the student.
// Issue target: cached ≤ 1.1 × plain. Teachers are untrained: their cost does not depend on their weights.
// Times are "steady" (first to last training step, session building excluded) and "wall" (the whole fit call);
// "cpu" is the process's CPU seconds over the steady part (all its threads, the teacher worker's included),
// which a machine shared with other jobs disturbs far less than elapsed time.
// Usage: npx tsx bench/cache.ts [--pairs mlp,cnn] [--threads 2] [--reps 1]
import '../src/node-setup.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { batches, type Dataset } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { TeacherCache } from '../src/distill/teachers/cache.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { PoolTeacher } from '../src/distill/teachers/pool.js';
import type { Teacher } from '../src/runtime/teacher.js';
import { Model } from '../src/nn/model.js';
import { referencePairs } from '../src/nn/zoo/index.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { WorkerTeacher } from '../src/runtime/node/worker-teacher.js';
import { fitClassifier } from '../src/train/classifier.js';
import { median } from '../src/util/stats.js';

const { values: a } = parseArgs({
  options: {
    pairs: { type: 'string', default: 'mlp,cnn' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '1' },
  },
});
const pairs = a.pairs!.split(',') as (keyof typeof referencePairs)[],
  threads = Number(a.threads),
  reps = Number(a.reps);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const mnist = loadMnist('train');
const KD = [
  { method: 'ce', weight: 0.5 },
  { method: 'kd', weight: 0.5, options: { temperature: 4 } },
];
console.error(`MNIST train ${mnist.n} samples, ${threads} threads, load average at start ${load()}`);

interface Timing {
  steady: number;
  wall: number;
  cpu: number;
  loss: number;
}

/** One epoch; `steady` runs from the first reported step to the last, so session building is left out. */
async function epoch(student: () => Model, ds: Dataset, studentThreads: number, teacher?: Teacher): Promise<Timing> {
  const t0 = performance.now();
  let first = 0,
    last = 0,
    steps0 = 0,
    steps = 0,
    loss = 0,
    cpu0 = 0,
    cpu1 = 0;
  const cpuNow = () => ((u) => (u.user + u.system) / 1e6)(process.cpuUsage());
  await fitClassifier(student(), ds, {
    epochs: 1,
    batchSize: 128,
    lr: 1e-3,
    seed: 0,
    threads: studentThreads,
    loss: teacher ? KD : undefined,
    teacher,
    onStep: (s, out) => {
      const now = performance.now();
      if (!first) {
        first = now;
        steps0 = s + 1;
        cpu0 = cpuNow();
      }
      last = now;
      cpu1 = cpuNow();
      steps = s + 1;
      loss = out.loss;
    },
  });
  // Scaled to the whole epoch from the steps between the first and last report.
  const scale = steps / Math.max(1, steps - steps0);
  return { steady: ((last - first) / 1000) * scale, wall: (performance.now() - t0) / 1000, cpu: (cpu1 - cpu0) * scale, loss };
}

const dir = mkdtempSync(join(tmpdir(), 'kd-bench-cache-'));
const rows: string[] = [];
for (const pair of pairs) {
  const ref = referencePairs[pair];
  // The MLP pair reads flat vectors: the same bytes, seen as [784].
  const ds: Dataset = { ...mnist, sampleShape: [...ref.inputShape] };
  const bytes = exportOnnx(new Model(ref.teacher(), 1));
  // Filled as `kdistill cache fill` does (worker threads behind one cache), but on this pair's view of the data.
  const f0 = performance.now();
  const fill = new TeacherCache(new PoolTeacher(await Promise.all(Array.from({ length: threads }, () => WorkerTeacher.start(bytes, 1)))), {
    key: onnxKey(bytes),
    dir,
  });
  const inFlight = new Set<Promise<unknown>>();
  for (const b of batches(ds, { batchSize: 256, shuffle: false })) {
    const p: Promise<unknown> = fill.predictMany(b.x, b.shape, ['logits']).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 2 * threads) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const filled = fill.stats(),
    fillS = (performance.now() - f0) / 1000;
  await fill.release();
  console.error(`${pair}: cache filled in ${fillS.toFixed(1)} s (${filled.misses} computed), load ${load()}`);
  const runs: Record<'plain' | 'live' | 'cached', Timing[]> = { plain: [], live: [], cached: [] };
  let stats = { hits: 0, misses: 0 };
  for (let r = 0; r < reps; r++) {
    const student = () => new Model(ref.student(), 2);
    const modes = {
      plain: () => epoch(student, ds, threads),
      live: async () => {
        const live = await WorkerTeacher.start(bytes, 1);
        return epoch(student, ds, Math.max(1, threads - 1), live).finally(() => live.release());
      },
      cached: async () => {
        const cached = new TeacherCache(await WorkerTeacher.start(bytes, 1), { key: onnxKey(bytes), dir });
        return epoch(student, ds, threads, cached).finally(() => {
          stats = cached.stats();
          return cached.release();
        });
      },
    };
    // Odd repetitions run in reverse order, so a drift in the machine's load does not favour one mode.
    const order = (['plain', 'live', 'cached'] as const).slice();
    if (r % 2) order.reverse();
    for (const m of order) runs[m].push(await modes[m]());
    const show = (t: Timing) => `${t.steady.toFixed(1)} s (cpu ${t.cpu.toFixed(1)} s)`;
    console.error(
      `${pair} rep ${r + 1}/${reps}: plain ${show(runs.plain[r])}, live ${show(runs.live[r])}, ` +
        `cached ${show(runs.cached[r])} (hits ${stats.hits}, misses ${stats.misses}); load ${load()}`,
    );
  }
  const med = (k: keyof typeof runs, f: keyof Timing) => median(runs[k].map((t) => t[f]));
  const row = (f: 'steady' | 'cpu') => {
    const p = med('plain', f),
      l = med('live', f),
      c = med('cached', f);
    return (
      `${pair.padEnd(4)} ${f.padEnd(6)} ${p.toFixed(1).padStart(7)} ${l.toFixed(1).padStart(7)} ` +
      `${c.toFixed(1).padStart(7)}   ${(c / p).toFixed(2).padStart(12)} ${(l / p).toFixed(2).padStart(10)}`
    );
  };
  rows.push(row('steady'), row('cpu'));
}
rmSync(dir, { recursive: true, force: true });
console.log(`one MNIST-train epoch, seconds (median of ${reps}), ${threads} threads; load average at end ${load()}`);
console.log('pair what     plain    live  cached   cached/plain live/plain');
for (const r of rows) console.log(r);
