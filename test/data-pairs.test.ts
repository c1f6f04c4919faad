import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchIterator, batches, type Batch, type Dataset } from '../src/data/index.js';
import { classPairs } from '../src/distill/samplers/class-pairs.js';
import { KdError } from '../src/util/errors.js';

// 23 samples of 4 classes; class 3 has one sample. Every pixel of sample i is i, so a row names its sample.
const n = 23,
  S = 4;
const y = Int32Array.from({ length: n }, (_, i) => (i === 22 ? 3 : i % 3));
const ds: Dataset = {
  name: 'tiny',
  x: Uint8Array.from({ length: n * S }, (_, j) => Math.floor(j / S)),
  y,
  n,
  sampleShape: [1, 2, 2],
  numClasses: 4,
};

/** The dataset indices, labels and pixel-derived sample ids of a batch (copied: batch views are reused). */
const read = (b: Batch) => ({
  idx: Array.from(b.indices),
  y: Array.from(b.y, Number),
  rows: Array.from({ length: b.size }, (_, k) => Math.round(b.x[k * S] * 255)),
});

describe('paired batches (CS-KD sampler)', () => {
  it('each batch is anchors, then a same-class other sample of each, in order; an epoch visits every sample once as anchor', () => {
    const it = batches(ds, { batchSize: 5, seed: 3, partners: classPairs });
    assert.equal(it.capacity, 10);
    assert.equal(it.stepsPerEpoch, 5);
    const anchors: number[] = [];
    const sizes: number[] = [];
    for (const b of it) {
      const r = read(b);
      const m = b.size / 2;
      sizes.push(b.size);
      assert.deepEqual(b.shape, [b.size, 1, 2, 2]);
      assert.deepEqual(r.rows, r.idx, 'rows hold the samples named by indices');
      assert.deepEqual(
        r.y,
        r.idx.map((i) => y[i]),
        'labels follow the samples',
      );
      for (let k = 0; k < m; k++) {
        const a = r.idx[k],
          p = r.idx[m + k];
        assert.equal(y[p], y[a], `partner ${p} of anchor ${a} has another class`);
        assert.ok(p !== a || a === 22, `anchor ${a} paired with itself`);
      }
      anchors.push(...r.idx.slice(0, m));
    }
    assert.deepEqual(sizes, [10, 10, 10, 10, 6], 'short last batch: 3 anchors and 3 partners');
    assert.deepEqual(
      [...anchors].sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i),
    );
  });

  it('the anchors keep the unpaired order of the first epoch; partners vary across epochs', () => {
    const plain = batches(ds, { batchSize: 5, seed: 9 }),
      paired = batches(ds, { batchSize: 5, seed: 9, partners: classPairs });
    for (let s = 0; s < 5; s++) {
      const a = read(plain.nextBatch()).idx,
        b = read(paired.nextBatch()).idx;
      assert.deepEqual(b.slice(0, b.length / 2), a);
    }
    const partnersOf0 = new Set<number>();
    for (let s = 0; s < 40; s++) {
      const r = read(paired.nextBatch()),
        m = r.idx.length / 2;
      const k = r.idx.indexOf(0);
      if (k >= 0 && k < m) partnersOf0.add(r.idx[m + k]);
    }
    assert.ok(partnersOf0.size >= 3, `sample 0 met only partners ${[...partnersOf0].join(', ')}`);
  });

  it('state() and restore continue the same paired stream (mid-epoch, at an epoch end, with augmentation)', () => {
    for (const opts of [
      { batchSize: 4, seed: 1, partners: classPairs },
      { batchSize: 4, seed: 2, partners: classPairs, augment: { flip: true, noise: { std: 0.1 } } },
    ]) {
      for (const at of [3, 6, 7]) {
        const a = batches(ds, opts);
        for (let s = 0; s < at; s++) a.nextBatch();
        const state = JSON.parse(JSON.stringify(a.state()));
        assert.equal(state.partners, 'class-pairs');
        const b = BatchIterator.restore(ds, opts, state);
        for (let s = 0; s < 9; s++) {
          const x = a.nextBatch(),
            z = b.nextBatch();
          assert.deepEqual(read(z), read(x), `step ${at + s} after restoring at ${at}`);
          assert.deepEqual(Array.from(z.x), Array.from(x.x));
        }
      }
    }
  });

  it('a state saved with or without pairs refuses the other', () => {
    const paired = batches(ds, { batchSize: 4, partners: classPairs }).state();
    const plain = batches(ds, { batchSize: 4 }).state();
    assert.throws(
      () => BatchIterator.restore(ds, { batchSize: 4 }, paired),
      (e: unknown) => e instanceof KdError && e.code === 'BAD_STATE',
    );
    assert.throws(
      () => BatchIterator.restore(ds, { batchSize: 4, partners: classPairs }, plain),
      (e: unknown) => e instanceof KdError && e.code === 'BAD_STATE',
    );
  });

  it('peekSize counts partners; dropLast keeps whole anchor groups', () => {
    const it = batches(ds, { batchSize: 5, partners: classPairs, dropLast: true });
    assert.equal(it.stepsPerEpoch, 4);
    const sizes = Array.from({ length: 5 }, () => {
      const p = it.peekSize();
      assert.equal(it.nextBatch().size, p);
      return p;
    });
    assert.deepEqual(sizes, [10, 10, 10, 10, 10]);
  });
});
