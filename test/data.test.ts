import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { BatchIterator, batches, classCounts, stratifiedSplit, subset, take, type Batch, type Dataset } from '../src/data/index.js';
import { loadDataset, loadFashionMnist, loadMnist } from '../src/data/node/index.js';
import { mnistDataDir } from '../src/data/node/mnist.js';
import { fashionSplitIndices } from '../src/data/fashion-mnist.js';
import { fashionSource, readFashionCache, writeFashionCache } from '../src/data/node/fashion-mnist.js';
import { KdError } from '../src/util/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-data-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const memo = new Map<string, Dataset>();
function cached(key: string, load: () => Dataset): Dataset {
  if (!memo.has(key)) memo.set(key, load());
  return memo.get(key)!;
}
const mnistTrain = () => cached('mnist/train', () => loadMnist('train'));
const fashionTrain = () => cached('fashion/train', () => loadFashionMnist('train'));
const fashionTest = () => cached('fashion/test', () => loadFashionMnist('test'));

function meanPixel(ds: Dataset): number {
  let s = 0;
  for (let i = 0; i < ds.x.length; i++) s += ds.x[i];
  return s / ds.x.length / 255;
}

const isKd = (code: string, re?: RegExp) => (e: unknown) => e instanceof KdError && e.code === code && (!re || re.test(e.message));

describe('MNIST', () => {
  it('loads the official 60k/10k split as 28x28 uint8 digits', () => {
    const train = mnistTrain();
    const test = loadMnist('test');
    assert.equal(train.n, 60000);
    assert.equal(test.n, 10000);
    assert.deepEqual(train.sampleShape, [1, 28, 28]);
    assert.ok(train.x instanceof Uint8Array);
    assert.equal(train.x.length, 60000 * 784);
    assert.equal(train.y[0], 5);
    assert.equal(test.y[0], 7);
    assert.ok(classCounts(train).every((c) => c > 5000));
    assert.ok(train.y.every((v) => v >= 0 && v <= 9));
    // The well-known MNIST training mean (0.1307) catches an offset or endianness slip in the reader.
    assert.ok(Math.abs(meanPixel(train) - 0.1307) < 0.001);
  });

  it('names the file when the IDX data is missing or corrupt', () => {
    assert.throws(() => loadMnist('test', { dir: path.join(tmp, 'nowhere') }), isKd('DATASET_MISSING', /t10k-images-idx3-ubyte/));
    const dir = path.join(tmp, 'bad-mnist');
    const real = mnistDataDir();
    mkdirSync(dir);
    const img = readFileSync(path.join(real, 't10k-images-idx3-ubyte'));
    writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), img.subarray(0, img.length - 1));
    copyFileSync(path.join(real, 't10k-labels-idx1-ubyte'), path.join(dir, 't10k-labels-idx1-ubyte'));
    assert.throws(() => loadMnist('test', { dir }), isKd('DATASET_CORRUPT', /t10k-images-idx3-ubyte.*size/));
    const bad = Buffer.from(img);
    bad.writeUInt32BE(2049, 0);
    writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), bad);
    assert.throws(() => loadMnist('test', { dir }), isKd('DATASET_CORRUPT', /magic number 2049, expected 2051/));
  });
});

describe('Fashion-MNIST', () => {
  it('gives a 60k/10k split with 6000/1000 images per class', () => {
    const train = fashionTrain();
    const test = fashionTest();
    assert.equal(train.n, 60000);
    assert.equal(test.n, 10000);
    assert.deepEqual(train.sampleShape, [1, 28, 28]);
    assert.equal(train.classNames?.[9], 'Ankle boot');
    assert.deepEqual(classCounts(train), new Array(10).fill(6000));
    assert.deepEqual(classCounts(test), new Array(10).fill(1000));
    // Fashion-MNIST's published pixel mean is 0.2860; a random split stays close to it.
    assert.ok(Math.abs(meanPixel(train) - 0.286) < 0.003);
  });

  it('splits deterministically, without overlap, matching the documented definition', () => {
    const train = fashionTrain();
    const test = fashionTest();
    // The collection is class-ordered, 7000 per class, so the split can be recomputed from labels alone.
    const labels = Int32Array.from({ length: 70000 }, (_, i) => Math.floor(i / 7000));
    const want = fashionSplitIndices(labels);
    assert.deepEqual(train.sourceIndex, want.train);
    assert.deepEqual(test.sourceIndex, want.test);
    const again = loadFashionMnist('test');
    assert.deepEqual(again.sourceIndex, test.sourceIndex);
    assert.ok(Buffer.from(again.x).equals(Buffer.from(test.x)));
    const seen = new Uint8Array(70000);
    for (const ds of [train, test]) {
      for (let i = 0; i < ds.n; i++) {
        const s = ds.sourceIndex![i];
        seen[s]++;
        assert.equal(ds.y[i], Math.floor(s / 7000));
      }
    }
    assert.ok(seen.every((v) => v === 1));
    // Splits come mixed, so a prefix is not one class.
    assert.equal(new Set(train.y.subarray(0, 100)).size, 10);
  });

  it('rejects a damaged or stale cache file', () => {
    const src = fashionSource();
    const file = path.join(tmp, 'fm.bin');
    assert.ok(writeFashionCache(file, src, { train: fashionTrain(), test: fashionTest() }));
    const back = readFashionCache(file, src, 'test');
    assert.ok(back);
    assert.deepEqual(back.sourceIndex, fashionTest().sourceIndex);
    assert.equal(readFashionCache(file, { ...src, version: '0.0.0' }, 'test'), null);
    assert.equal(readFashionCache(file, { ...src, sizes: src.sizes.map((s) => s + 1) }, 'test'), null);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 1;
    const damaged = path.join(tmp, 'fm-damaged.bin');
    writeFileSync(damaged, bytes);
    assert.equal(readFashionCache(damaged, src, 'test'), null);
    truncateSync(damaged, bytes.length - 1000);
    assert.equal(readFashionCache(damaged, src, 'train'), null);
  });

  it('is reachable by name', () => {
    assert.equal(loadDataset('fashion-mnist', 'test').n, 10000);
    assert.throws(() => loadDataset('cifar' as 'mnist', 'test'), isKd('UNKNOWN_DATASET'));
  });
});

/** n samples of shape [1, 2, 2] with distinct pixel patterns and labels i % classes. */
function synth(n: number, classes = 5): Dataset {
  const x = Uint8Array.from({ length: n * 4 }, (_, k) => (k * 7) % 256);
  const y = Int32Array.from({ length: n }, (_, i) => i % classes);
  return { name: 'synth', x, y, n, sampleShape: [1, 2, 2], numClasses: classes };
}

interface Snap {
  x: number[];
  y: bigint[];
  indices: number[];
  epoch: number;
  step: number;
}
const snap = (b: Batch): Snap => ({ x: [...b.x], y: [...b.y], indices: [...b.indices], epoch: b.epoch, step: b.step });
const run = (it: BatchIterator, steps: number) => Array.from({ length: steps }, () => snap(it.nextBatch()));
const epochOrder = (it: BatchIterator) => [...it].flatMap((b) => [...b.indices]);

describe('batch iterator', () => {
  const ds = synth(103);

  it('covers every sample exactly once per epoch, with the right pixels and labels', () => {
    const it = batches(ds, { batchSize: 10, seed: 1 });
    assert.equal(it.stepsPerEpoch, 11);
    const got: number[] = [];
    const sizes: number[] = [];
    for (const b of it) {
      sizes.push(b.size);
      assert.deepEqual(b.shape, [b.size, 1, 2, 2]);
      assert.equal(b.x.length, b.size * 4);
      for (let k = 0; k < b.size; k++) {
        const i = b.indices[k];
        got.push(i);
        assert.equal(b.y[k], BigInt(ds.y[i]));
        for (let j = 0; j < 4; j++) assert.ok(Math.abs(b.x[k * 4 + j] - ds.x[i * 4 + j] / 255) < 1e-7);
      }
    }
    assert.deepEqual(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    assert.deepEqual(
      [...got].sort((a, b) => a - b),
      Array.from({ length: 103 }, (_, i) => i),
    );
    assert.notDeepEqual(
      got,
      Array.from({ length: 103 }, (_, i) => i),
    );

    const dl = batches(ds, { batchSize: 10, seed: 1, dropLast: true });
    const order = epochOrder(dl);
    assert.equal(order.length, 100);
    assert.equal(new Set(order).size, 100);
    assert.equal(dl.epoch, 1);
  });

  it('reshuffles each epoch, repeats for the same seed, and keeps order without shuffle', () => {
    const a = batches(ds, { batchSize: 16, seed: 42 });
    const b = batches(ds, { batchSize: 16, seed: 42 });
    const a0 = epochOrder(a);
    const a1 = epochOrder(a);
    assert.notDeepEqual(a0, a1);
    assert.deepEqual(
      [...a1].sort((p, q) => p - q),
      [...a0].sort((p, q) => p - q),
    );
    assert.deepEqual(epochOrder(b), a0);
    assert.deepEqual(epochOrder(b), a1);
    assert.notDeepEqual(epochOrder(batches(ds, { batchSize: 16, seed: 43 })), a0);
    const plain = batches(ds, { batchSize: 16, shuffle: false });
    assert.deepEqual(
      epochOrder(plain),
      Array.from({ length: 103 }, (_, i) => i),
    );
  });

  it('resumes from a saved state with exactly the following batches, across epoch boundaries', () => {
    const opts = { batchSize: 10, seed: 7 };
    for (const skip of [0, 7, 11, 25]) {
      const it = batches(ds, opts);
      run(it, skip);
      const state = JSON.parse(JSON.stringify(it.state()));
      const expected = run(it, 30);
      const resumed = BatchIterator.restore(ds, { ...opts, seed: 999 }, state);
      assert.deepEqual(run(resumed, 30), expected, `resume after ${skip} steps`);
    }
    const it = batches(ds, opts);
    run(it, 11);
    assert.deepEqual({ epoch: it.state().epoch, position: it.state().position }, { epoch: 1, position: 0 });
    const mid = batches(ds, opts);
    run(mid, 3);
    const resumed = BatchIterator.restore(ds, opts, mid.state());
    assert.equal(epochOrder(resumed).length, 103 - 30);
  });

  it('rejects a state from another dataset or shuffle setting', () => {
    const state = batches(ds, { batchSize: 10 }).state();
    assert.throws(() => BatchIterator.restore(synth(50), { batchSize: 10 }, state), isKd('BAD_STATE', /103/));
    assert.throws(() => BatchIterator.restore(ds, { batchSize: 10, shuffle: false }, state), isKd('BAD_STATE'));
    assert.throws(() => batches(synth(5), { batchSize: 10, dropLast: true }), isKd('BAD_ARGUMENT'));
  });

  it('reuses its output buffers between steps', () => {
    const it = batches(ds, { batchSize: 10, seed: 3 });
    const first = it.nextBatch();
    const second = it.nextBatch();
    assert.equal(second.x, first.x);
    assert.equal(second.y, first.y);
    let last = second;
    for (let i = 2; i < 11; i++) last = it.nextBatch();
    assert.equal(last.size, 3);
    assert.equal(last.x.buffer, first.x.buffer);
    assert.equal(last.y.buffer, first.y.buffer);
    run(it, 11);
    assert.equal(it.nextBatch().x, first.x);
  });

  it('normalises with per-channel mean and std', () => {
    const it = batches(ds, { batchSize: 8, shuffle: false, mean: [0.5], std: 0.25 });
    const b = it.nextBatch();
    for (let j = 0; j < b.x.length; j++) assert.ok(Math.abs(b.x[j] - (ds.x[j] / 255 - 0.5) / 0.25) < 1e-6);
    assert.throws(() => batches(ds, { batchSize: 8, mean: [0.1, 0.2] }), isKd('BAD_ARGUMENT'));
    assert.throws(() => batches(ds, { batchSize: 8, std: 0 }), isKd('BAD_ARGUMENT'));
  });

  it('feeds MNIST as float32 [B, 1, 28, 28] with int64 labels', () => {
    const b = batches(mnistTrain(), { batchSize: 64, shuffle: false }).nextBatch();
    assert.deepEqual(b.shape, [64, 1, 28, 28]);
    assert.ok(b.x instanceof Float32Array && b.y instanceof BigInt64Array);
    assert.equal(b.y[0], 5n);
    assert.ok(b.x.every((v) => v >= 0 && v <= 1));
  });
});

describe('dataset helpers', () => {
  const ds = synth(103);

  it('splits stratified and reproducibly', () => {
    const a = stratifiedSplit(ds, { valPerClass: 3, seed: 5 });
    const b = stratifiedSplit(ds, { valPerClass: 3, seed: 5 });
    const c = stratifiedSplit(ds, { valPerClass: 3, seed: 6 });
    assert.deepEqual(classCounts(a.val), [3, 3, 3, 3, 3]);
    assert.equal(a.train.n, 103 - 15);
    assert.deepEqual(a.val.sourceIndex, b.val.sourceIndex);
    assert.notDeepEqual(a.val.sourceIndex, c.val.sourceIndex);
    const all = [...a.train.sourceIndex!, ...a.val.sourceIndex!].sort((p, q) => p - q);
    assert.deepEqual(
      all,
      Array.from({ length: 103 }, (_, i) => i),
    );
    const f = stratifiedSplit(ds, { valFraction: 0.1, seed: 5 });
    assert.deepEqual(classCounts(f.val), [2, 2, 2, 2, 2]);
    assert.throws(() => stratifiedSplit(ds, { valPerClass: 30, seed: 1 }), isKd('BAD_ARGUMENT'));
  });

  it('takes a class-balanced prefix and subsets with provenance', () => {
    const t = take(ds, 12);
    assert.deepEqual(classCounts(t), [3, 3, 2, 2, 2]);
    assert.deepEqual([...t.sourceIndex!], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const s = subset(subset(ds, [10, 20, 30]), [2, 0]);
    assert.deepEqual([...s.sourceIndex!], [30, 10]);
    assert.deepEqual([...s.x], [...ds.x.subarray(120, 124), ...ds.x.subarray(40, 44)]);
    assert.throws(() => subset(ds, [103]), isKd('INDEX_OUT_OF_RANGE'));
  });
});

describe('batch iterator state guards', () => {
  it('refuses to resume with another batch size or dropLast setting', async () => {
    const { batches, BatchIterator, take } = await import('../src/data/index.js');
    const { loadMnist } = await import('../src/data/node/index.js');
    const ds = take(loadMnist('test'), 100);
    const it = batches(ds, { batchSize: 10, seed: 1 });
    it.nextBatch();
    const st = it.state();
    assert.throws(() => BatchIterator.restore(ds, { batchSize: 20 }, st), /saved with batch size 10, resuming with 20/);
    assert.throws(() => BatchIterator.restore(ds, { batchSize: 10, dropLast: true }, st), /resuming with 10 \(dropLast\)/);
    assert.equal(BatchIterator.restore(ds, { batchSize: 10 }, st).nextBatch().indices[0], it.nextBatch().indices[0]);
  });
});
