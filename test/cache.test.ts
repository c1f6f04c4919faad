import assert from 'node:assert/strict';
import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import { batches, take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { fillCache, registerCache } from '../src/cli/cache.js';
import { TeacherCache } from '../src/distill/teachers/cache.js';
import { FunctionTeacher, type FunctionBatch } from '../src/distill/teachers/function.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { KeyIndex } from '../src/distill/teachers/node/key-index.js';
import type { Teacher } from '../src/runtime/teacher.js';
import { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { WorkerTeacher } from '../src/runtime/node/worker-teacher.js';
import { fitClassifier } from '../src/train/classifier.js';

const C = 5,
  PER = 6;
const tmp = () => mkdtempSync(join(tmpdir(), 'kd-cache-'));
/** A function teacher that records the batch sizes it was asked for; logits of a sample are its first value times 1..C. */
function counting(id = 't', extra = false) {
  const asked: number[] = [];
  const t = new FunctionTeacher(
    (b: FunctionBatch) => {
      asked.push(b.shape[0]);
      const logits = Array.from({ length: b.shape[0] }, (_, i) =>
        Array.from({ length: C }, (_, c) => Number(b.x[i * PER]) * (c + 1) + 0.123),
      );
      return extra ? { logits, feat: logits.map((r) => [r[0], -r[1]]) } : logits;
    },
    { id, classes: C },
  );
  return { t, asked };
}
/** n samples whose first values are `firsts`. */
const inputs = (...firsts: number[]) =>
  Float32Array.from({ length: firsts.length * PER }, (_, i) => (i % PER === 0 ? firsts[i / PER] : i % PER));
const ask = (s: Teacher, x: Float32Array, names = ['logits']) => s.predictMany(x, [x.length / PER, PER], names);

describe('TeacherCache', () => {
  it('answers repeated samples from disk, asks the teacher only for the missed ones, and survives a reopen', async () => {
    const dir = tmp(),
      { t, asked } = counting();
    const c = new TeacherCache(t, { dir });
    const first = (await ask(c, inputs(1, 2, 3, 4)))[0];
    assert.deepEqual(first, (await ask(t, inputs(1, 2, 3, 4)))[0]);
    asked.length = 0;
    assert.deepEqual((await ask(c, inputs(1, 2, 3, 4)))[0], first);
    assert.deepEqual(asked, [], 'a warm batch does not reach the teacher');
    const mixed = (await ask(c, inputs(9, 2, 8, 4)))[0];
    assert.deepEqual(asked, [2], 'only the two new samples are computed');
    assert.deepEqual(mixed, (await ask(t, inputs(9, 2, 8, 4)))[0]);
    assert.deepEqual(c.stats(), { hits: 6, misses: 6, dir: c.root });
    // No release: a killed process leaves its files as they are, and a new run reads them.
    const again = new TeacherCache(counting().t, { dir });
    assert.deepEqual((await ask(again, inputs(8, 9, 1)))[0], (await ask(t, inputs(8, 9, 1)))[0]);
    assert.deepEqual(again.stats().misses, 0);
    const other = new TeacherCache(counting('t2').t, { dir });
    await ask(other, inputs(1));
    assert.equal(other.stats().misses, 1, 'another teacher key reads another directory');
    assert.notEqual(other.root, c.root);
    await Promise.all([c.release(), again.release(), other.release()]);
  });

  it('caches several outputs, and stores float16 or top-k with the same values on a miss as on a later hit', async () => {
    const dir = tmp();
    const both = new TeacherCache(counting('two', true).t, { dir });
    const [l, f] = await ask(both, inputs(1, 2), ['logits', 'feat']);
    assert.deepEqual(await ask(both, inputs(1, 2), ['logits', 'feat']), [l, f]);
    assert.deepEqual((await ask(both, inputs(2), ['feat']))[0], f.subarray(2));
    assert.equal(both.stats().misses, 2);
    for (const o of [{ dtype: 'float16' as const }, { topk: 2 }]) {
      const c = new TeacherCache(counting('lossy').t, { dir, ...o });
      const miss = (await ask(c, inputs(0.7, 0.3)))[0];
      assert.deepEqual((await ask(c, inputs(0.7, 0.3)))[0], miss, JSON.stringify(o));
      assert.equal(c.stats().hits, 2);
    }
    assert.throws(
      () => new TeacherCache({ predictMany: async () => [], release: async () => {} }),
      /needs the teacher's content key: pass `key` \(onnxKey\(bytes\)/,
    );
  });

  it('ignores a torn index tail, a cut-off record and a damaged one: those samples are simply computed again', async () => {
    const dir = tmp(),
      { t } = counting();
    const c = new TeacherCache(t, { dir });
    for (const v of [1, 2, 3]) await ask(c, inputs(v));
    const store = join(c.root, 'logits.f32'),
      id = readdirSync(store)
        .find((f) => f.endsWith('.idx'))!
        .slice(0, -4);
    const bin = join(store, `${id}.bin`);
    appendFileSync(join(store, `${id}.idx`), Buffer.alloc(30, 7));
    truncateSync(bin, statSync(bin).size - 1);
    const b = readFileSync(bin);
    b[0] ^= 0xff;
    writeFileSync(bin, b);
    const { t: t2, asked } = counting();
    const again = new TeacherCache(t2, { dir });
    assert.deepEqual((await ask(again, inputs(1, 2, 3)))[0], (await ask(t, inputs(1, 2, 3)))[0]);
    assert.deepEqual(asked, [2], 'sample 1 (damaged) and 3 (cut off) are recomputed, sample 2 is read');
    assert.deepEqual(again.stats(), { hits: 1, misses: 2, dir: again.root });
  });
});

describe('distilling through teacher sources', () => {
  const ds = take(loadMnist('test'), 256);
  const loss = [
    { method: 'ce', weight: 0.5 },
    { method: 'kd', weight: 0.5, options: { temperature: 4 } },
  ];
  const fit = (teacher: Teacher) =>
    fitClassifier(new Model(mlp([784, 16, 10], { inputShape: [1, 28, 28] }), 3), ds, {
      epochs: 2,
      batchSize: 64,
      seed: 1,
      threads: 1,
      loss,
      teacher,
    });

  it('fitClassifier distils from a function teacher', async () => {
    const shapes: string[] = [];
    const t = new FunctionTeacher(
      (b) => {
        shapes.push(b.shape.join('x'));
        // A fixed "teacher": class c scores the mean brightness of the c-th band of rows.
        return Array.from({ length: b.shape[0] }, (_, i) =>
          Array.from(
            { length: 10 },
            (_, c) => Array.from(b.x.subarray(i * 784 + c * 78, i * 784 + c * 78 + 78), Number).reduce((s, v) => s + v, 0) / 10,
          ),
        );
      },
      { id: 'bands', classes: 10 },
    );
    const { losses } = await fit(t);
    assert.equal(losses.length, 8);
    assert.ok(losses.every(Number.isFinite));
    assert.deepEqual([...new Set(shapes)], ['64x1x28x28']);
  });

  it('a cached ONNX teacher gives the same losses as the live one, and its second epoch is all hits', async () => {
    const bytes = exportOnnx(new Model(mlp([784, 32, 10], { inputShape: [1, 28, 28] }), 7));
    const live = await WorkerTeacher.start(bytes, 1);
    const a = await fit(live);
    await live.release();
    const cached = new TeacherCache(await WorkerTeacher.start(bytes, 1), { key: onnxKey(bytes), dir: tmp() });
    const b = await fit(cached);
    assert.deepEqual(cached.stats(), { hits: 256, misses: 256, dir: cached.root });
    await cached.release();
    assert.deepEqual(b.losses, a.losses);
  });

  it('kdistill cache fill precomputes a split with worker threads, and a second fill finds everything cached', async () => {
    const dir = tmp(),
      file = join(dir, 't.onnx');
    const bytes = exportOnnx(new Model(mlp([784, 8, 10], { inputShape: [1, 28, 28] }), 2));
    writeFileSync(file, bytes);
    const o = { dataset: 'mnist', split: 'test', workers: '2', batch: '256', dir, outputs: 'logits', dtype: 'float32', quiet: true };
    assert.deepEqual(await fillCache(file, o), { hits: 0, misses: 10000 });
    // The command itself, in-process (a spawned tsx process takes seconds to start on a busy machine).
    const program = new Command().exitOverride();
    registerCache(program);
    const out: string[] = [],
      err: string[] = [];
    mock.method(console, 'log', (m: string) => out.push(m));
    mock.method(process.stderr, 'write', (m: string) => err.push(m));
    try {
      await program.parseAsync(['node', 'kdistill', 'cache', 'fill', file, '--split', 'test', '--workers', '2', '--dir', dir]);
    } finally {
      mock.restoreAll();
    }
    assert.match(out.join('\n'), /10000 mnist\/test samples, 10000 already cached, 0 computed with 2 worker\(s\)/);
    assert.match(err.join(''), /cache fill mnist\/test: 10000\/10000 \(100%\) hits 10000 misses 0/);
    const c = new TeacherCache(
      { predictMany: async () => assert.fail('all cached'), release: async () => {} },
      { key: onnxKey(bytes), dir },
    );
    for (const b of batches(take(loadMnist('test'), 1000), { batchSize: 500, shuffle: false }))
      await c.predictMany(b.x, b.shape, ['logits']);
    assert.deepEqual(c.stats().hits, 1000);
  });
});

describe('KeyIndex', () => {
  it('finds every key among 300,000 (collisions, growth, pages), forgets deleted ones, and takes them back', () => {
    const ix = new KeyIndex();
    const keys = Array.from({ length: 300_000 }, (_, i) => createHash('sha256').update(String(i)).digest('hex'));
    keys.forEach((k, i) => ix.set(k, i % 3, i * 40, 40, i));
    assert.equal(ix.live, keys.length);
    for (let i = 0; i < keys.length; i += 997)
      assert.deepEqual(ix.loc(ix.find(keys[i])), { shard: i % 3, offset: i * 40, length: 40, crc: i });
    assert.equal(ix.find(createHash('sha256').update('absent').digest('hex')), -1);
    ix.delete(ix.find(keys[5]));
    assert.equal(ix.find(keys[5]), -1);
    assert.equal(ix.live, keys.length - 1);
    assert.equal([...ix.entries(2)].length, keys.length / 3 - 1, 'key 5 was in shard 2');
    // Stored again (a recomputed sample): found again, in its new place; the later of two places wins.
    ix.set(keys[5], 7, 1, 40, 9);
    ix.set(keys[6], 8, 2, 40, 10);
    assert.deepEqual(ix.loc(ix.find(keys[5])), { shard: 7, offset: 1, length: 40, crc: 9 });
    assert.deepEqual(ix.loc(ix.find(keys[6])).shard, 8);
    assert.equal(ix.live, keys.length);
    const bytes = new Uint8Array([1, 2, 3]);
    ix.hold(ix.find(keys[7]), bytes, 0);
    assert.deepEqual(ix.loc(ix.find(keys[7])).bytes, bytes.subarray(0, 3));
    assert.deepEqual(new Set([...ix.entries()].map(([, k]) => k)), new Set(keys));
  });
});
