import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { BatchIterator, batches, subset, tokenizerSize, UNK_ID } from '../src/data/index.js';
import { loadCsv, loadImageFolder, loadJsonl } from '../src/data/node/index.js';
import type { AugmentOptions, Batch, Dataset } from '../src/data/index.js';
import { KdError } from '../src/util/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-user-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Matches a KdError with `code` whose message matches every pattern (asserting, so a mismatch shows the message). */
const isKd =
  (code: string, ...res: RegExp[]) =>
  (e: unknown) => {
    assert.ok(e instanceof KdError && e.code === code, `expected KdError ${code}, got ${String(e)}`);
    for (const re of res) assert.match(e.message, re);
    return true;
  };
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function write(rel: string, content: string | Uint8Array): string {
  const file = path.join(tmp, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

/** RGBA pixels of a w x h image from a per-pixel [r, g, b] function. */
function rgba(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Uint8Array {
  const d = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set([...f(x, y), 255], (y * w + x) * 4);
  return d;
}
function png(rel: string, w: number, h: number, f: (x: number, y: number) => [number, number, number]): string {
  const img = new PNG({ width: w, height: h });
  img.data = Buffer.from(rgba(w, h, f));
  return write(rel, PNG.sync.write(img));
}
const gray =
  (v: (x: number, y: number) => number) =>
  (x: number, y: number): [number, number, number] => [v(x, y), v(x, y), v(x, y)];

describe('image folder', () => {
  const root = path.join(tmp, 'img');
  png(
    'img/dog/1.png',
    4,
    3,
    gray((x, y) => 10 * y + x),
  );
  png(
    'img/cat/b.png',
    4,
    3,
    gray(() => 200),
  );
  png(
    'img/cat/a.png',
    4,
    3,
    gray((x) => 50 * x),
  );
  write('img/cat/notes.txt', 'not an image');

  it('loads classes in sorted order as uint8 CHW, grayscale when every image is', () => {
    const ds = loadImageFolder(root);
    assert.deepEqual(ds.classNames, ['cat', 'dog']);
    assert.deepEqual(ds.files, ['cat/a.png', 'cat/b.png', 'dog/1.png']);
    assert.deepEqual([...ds.y], [0, 0, 1]);
    assert.deepEqual([ds.kind, ds.sampleShape], ['image', [1, 3, 4]]);
    assert.deepEqual([...ds.x.subarray(0, 4)], [0, 50, 100, 150]);
    assert.deepEqual([...ds.x.subarray(24, 36)], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
  });

  it('keeps colour as RGB planes, decodes JPEG, converts to luma and resizes bilinearly', () => {
    const dir = path.join(tmp, 'rgb');
    png('rgb/red/r.png', 2, 2, () => [255, 0, 0]);
    png('rgb/blue/b.png', 2, 2, (x, y) => [0, 10 * x, 100 + y]);
    write('rgb/red/j.jpg', encodeJpeg({ width: 8, height: 8, data: rgba(8, 8, () => [200, 40, 40]) }, 100).data);
    assert.throws(() => loadImageFolder(dir), isKd('DATASET_INVALID', /j\.jpg is 8x8 but .*b\.png is 2x2/));
    const small = loadImageFolder(dir, { size: [2, 2] });
    assert.deepEqual(small.classNames, ['blue', 'red']);
    assert.deepEqual(small.sampleShape, [3, 2, 2]);
    assert.deepEqual([...small.x.subarray(0, 12)], [0, 0, 0, 0, 0, 10, 0, 10, 100, 100, 101, 101]);
    const jpg = small.x.subarray(12, 24);
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 4; p++) assert.ok(Math.abs(jpg[c * 4 + p] - [200, 40, 40][c]) <= 3, 'JPEG colour survives');
    const luma = loadImageFolder(dir, { size: [2, 2], channels: 1 });
    assert.deepEqual(luma.sampleShape, [1, 2, 2]);
    assert.equal(luma.x[8], Math.round(255 * 0.299));
    // Halving a 4x4 image with half-pixel centres averages each 2x2 block.
    png(
      'half/k/a.png',
      4,
      4,
      gray((x, y) => 16 * (4 * y + x)),
    );
    const half = loadImageFolder(path.join(tmp, 'half'), { size: [2, 2] });
    assert.deepEqual([...half.x], [40, 72, 168, 200]);
  });

  it('explains what is wrong with the folder or a file', () => {
    assert.throws(() => loadImageFolder(path.join(tmp, 'nope')), isKd('DATASET_MISSING', /nope/));
    mkdirSync(path.join(tmp, 'flat'));
    write('flat/a.png', 'x');
    assert.throws(() => loadImageFolder(path.join(tmp, 'flat')), isKd('DATASET_INVALID', /no class subfolders/));
    png(
      'holes/full/a.png',
      2,
      2,
      gray(() => 1),
    );
    write('holes/empty/readme.md', '#');
    assert.throws(
      () => loadImageFolder(path.join(tmp, 'holes')),
      isKd('DATASET_INVALID', new RegExp(`${esc(path.join('holes', 'empty'))} has no images`)),
    );
    png(
      'broken/k/a.png',
      2,
      2,
      gray(() => 1),
    );
    write('broken/k/b.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    write('broken/k/c.jpg', 'plain text');
    assert.throws(() => loadImageFolder(path.join(tmp, 'broken')), isKd('DATASET_CORRUPT', /b\.png cannot be decoded as PNG/));
    assert.throws(
      () => loadImageFolder(path.join(tmp, 'broken'), { extensions: ['.jpg'] }),
      isKd('DATASET_CORRUPT', /c\.jpg .*neither PNG nor JPEG/),
    );
  });
});

describe('CSV', () => {
  const rows = [
    'sepal,petal,"width, cm",species',
    '',
    '5.1,1.4,"0.2",setosa',
    '7.0,4.7,1.4,"versi, color"',
    '\r',
    '6.3,6.0,2.5,virginica',
    '4.9,1.5,0.1,setosa',
    '',
  ];
  const file = write('iris.csv', rows.join('\n'));

  it('reads numeric features and maps string labels to sorted classes', () => {
    const ds = loadCsv(file);
    assert.deepEqual([ds.n, ds.kind, ds.sampleShape], [4, 'tabular', [3]]);
    assert.deepEqual(ds.featureNames, ['sepal', 'petal', 'width, cm']);
    assert.deepEqual(ds.classNames, ['setosa', 'versi, color', 'virginica']);
    assert.deepEqual([...ds.y], [0, 1, 2, 0]);
    assert.deepEqual([...ds.x.subarray(0, 3)], [5.1, 1.4, 0.2].map(Math.fround));
    assert.ok(Math.abs(ds.stats.mean[0] - 5.825) < 1e-5);
    const sel = loadCsv(file, { label: 'sepal', features: ['width, cm', 'petal'] });
    assert.deepEqual(sel.featureNames, ['width, cm', 'petal']);
    assert.deepEqual(sel.classNames, ['4.9', '5.1', '6.3', '7.0']);
    assert.deepEqual([...sel.x.subarray(0, 2)], [0.2, 1.4].map(Math.fround));
  });

  it('uses integer labels as they are and standardises with own or given statistics', () => {
    const f = write('ints.tsv', 'a\tb\ty\n1\t10\t2\n3\t10\t0\n');
    const ds = loadCsv(f, { standardize: true });
    assert.deepEqual(ds.classNames, ['0', '1', '2']);
    assert.deepEqual([...ds.y], [2, 0]);
    assert.deepEqual(ds.stats, { mean: [2, 10], std: [1, 1] });
    assert.deepEqual([...ds.x], [-1, 0, 1, 0]);
    const other = loadCsv(f, { standardize: { mean: [0, 0], std: [2, 5] }, classNames: ['0', '1', '2', '3'] });
    assert.deepEqual([...other.x], [0.5, 2, 1.5, 2]);
    assert.equal(other.numClasses, 4);
    // Tabular stats double as per-feature normalisation for the batch iterator.
    const b = batches(loadCsv(f), { batchSize: 2, shuffle: false, mean: ds.stats.mean, std: ds.stats.std }).nextBatch();
    assert.deepEqual([...b.x], [-1, 0, 1, 0]);
    assert.throws(() => batches(ds, { batchSize: 2, augment: { flip: true } }), isKd('BAD_ARGUMENT', /tabular/));
  });

  it('names file, line and column in its errors', () => {
    const bad = (name: string, lines: string[]) => write(name, lines.join('\n'));
    const where = (f: string, tail: string) => new RegExp(`${esc(f)} line ${tail}`);
    let f = bad('nan.csv', ['a,b,y', '1,2,x', '"multi', 'line",2,x', '1,oops,y']);
    assert.throws(
      () => loadCsv(f, { features: ['b'] }),
      isKd('DATASET_INVALID', where(f, "5, column 2 \\('b'\\): 'oops' is not a number")),
    );
    f = bad('nolabel.csv', ['a,y', '1,x', '2,  ']);
    assert.throws(() => loadCsv(f), isKd('DATASET_INVALID', where(f, "3, column 2 \\('y'\\): missing label")));
    f = bad('count.csv', ['a,b,y', '1,2,x', '1,2']);
    assert.throws(() => loadCsv(f), isKd('DATASET_INVALID', where(f, '3: 2 columns, expected 3')));
    assert.throws(() => loadCsv(f, { label: 'z' }), isKd('BAD_ARGUMENT', where(f, "1: no label column 'z'"), /'a', 'b', 'y'/));
    assert.throws(
      () => loadCsv(file, { classNames: ['setosa'] }),
      isKd('DATASET_INVALID', /line 4, column 4 \('species'\): label 'versi, color' is not one of/),
    );
    assert.throws(() => loadCsv(bad('q.csv', ['a,y', '"1,x'])), isKd('DATASET_INVALID', /q\.csv line 2: a quoted field is never closed/));
  });
});

describe('JSONL text', () => {
  const records = [
    '{"text": "the cat sat", "label": "pets"}',
    '',
    '{"text": "The dog sat on the mat", "label": "pets"}',
    '{"text": "stocks fell", "label": "money", "extra": 1}',
  ];
  const train = write('train.jsonl', records.join('\n'));

  it('tokenizes words into padded ids with a frequency-ordered vocabulary that val/test reuse', () => {
    const ds = loadJsonl(train, { seqLen: 5 });
    assert.deepEqual([ds.kind, ds.sampleShape, ds.truncated], ['text', [5], 1]);
    assert.deepEqual(ds.classNames, ['money', 'pets']);
    assert.deepEqual([...ds.y], [1, 1, 0]);
    assert.deepEqual(ds.tokenizer, { kind: 'word', lowercase: true, vocab: ['the', 'sat', 'cat', 'dog', 'fell', 'mat', 'on', 'stocks'] });
    assert.deepEqual([...ds.ids.subarray(0, 5)], [2, 4, 3, 0, 0]);
    assert.deepEqual([...ds.x.subarray(0, 5)], [2, 4, 3, 0, 0]);
    const val = write('val.jsonl', '{"text": "a cat fell", "label": 1}\n');
    const v = loadJsonl(val, { seqLen: 5, tokenizer: JSON.parse(JSON.stringify(ds.tokenizer)), classNames: ['0', '1'] });
    assert.deepEqual([...v.ids], [UNK_ID, 4, 6, 0, 0]);
    assert.deepEqual([...v.y], [1]);
    const capped = loadJsonl(train, { vocab: 2 });
    assert.equal(tokenizerSize(capped.tokenizer), 4);
    assert.ok(capped.ids.every((id) => id >= 0 && id < 4));
  });

  it('offers char and hashed char-ngram tokenizers, deterministic across loads', () => {
    const c = loadJsonl(train, { tokenizer: 'char', seqLen: 12 });
    const row = [...c.ids.subarray(0, 12)];
    // "the cat sat": repeated characters share ids, every character is known, then padding.
    assert.equal(row[0], row[6]);
    assert.equal(row[3], row[7]);
    assert.notEqual(row[0], row[1]);
    assert.ok(row.slice(0, 11).every((id) => id >= 2));
    assert.equal(row[11], 0);
    const g = loadJsonl(train, { tokenizer: 'char-ngram', vocab: 16, seqLen: 8 });
    assert.deepEqual(g.tokenizer, { kind: 'char-ngram', lowercase: true, n: 3, buckets: 16 });
    assert.ok(g.ids.every((id) => id >= 0 && id <= 16));
    assert.ok(
      g.ids.subarray(0, 8).every((id) => id >= 1),
      '"the cat sat" has 9 trigrams',
    );
    assert.deepEqual(loadJsonl(train, { tokenizer: 'char-ngram', vocab: 16, seqLen: 8 }).ids, g.ids);
  });

  it('yields int64 ids from the batch iterator and keeps ids through subset', () => {
    const ds = loadJsonl(train, { seqLen: 5 });
    const b = batches(ds, { batchSize: 2, shuffle: false }).nextBatch();
    assert.ok(b.xIds instanceof BigInt64Array && b.shape.join() === '2,5');
    assert.deepEqual([...b.xIds!], [...ds.ids.subarray(0, 10)].map(BigInt));
    const s = subset(ds, [2]);
    assert.deepEqual([...s.ids!], [...ds.ids.subarray(10, 15)]);
    const tail = batches(s, { batchSize: 4 }).nextBatch();
    assert.deepEqual([...tail.xIds!], [...s.ids!].map(BigInt));
  });

  it('names file and line for bad records', () => {
    const f = (name: string, body: string) => write(name, body);
    const one = '{"text": "ok", "label": "a"}\n';
    assert.throws(
      () => loadJsonl(f('j1.jsonl', `${one}\n{"text": "x", label}\n`)),
      isKd('DATASET_INVALID', /j1\.jsonl line 3: invalid JSON/),
    );
    assert.throws(
      () => loadJsonl(f('j2.jsonl', `${one}{"body": "x", "label": "a"}`)),
      isKd('DATASET_INVALID', /j2\.jsonl line 2: missing text field 'text'/),
    );
    assert.throws(
      () => loadJsonl(f('j3.jsonl', `${one}${one}{"text": "x"}`)),
      isKd('DATASET_INVALID', /j3\.jsonl line 3: missing label field 'label'/),
    );
    assert.throws(() => loadJsonl(f('j4.jsonl', '[1, 2]')), isKd('DATASET_INVALID', /j4\.jsonl line 1: expected a JSON object/));
    assert.throws(
      () => loadJsonl(f('j5.jsonl', `${one}{"text": "x", "label": "b"}`), { classNames: ['a'] }),
      isKd('DATASET_INVALID', /j5\.jsonl line 2: label 'b'/),
    );
  });
});

describe('augmentation', () => {
  const C = 2,
    H = 4,
    W = 5,
    S = C * H * W,
    n = 23;
  // Pixels are never 0, so zeros in a batch can only come from padding or shifting.
  const pixels = Uint8Array.from({ length: n * S }, (_, k) => 1 + ((k * 37) % 250));
  const ds: Dataset = {
    name: 'img',
    x: pixels,
    y: Int32Array.from({ length: n }, (_, i) => i % 3),
    n,
    sampleShape: [C, H, W],
    numClasses: 3,
  };
  const px = (i: number, c: number, y: number, x: number) =>
    y < 0 || y >= H || x < 0 || x >= W ? 0 : pixels[i * S + c * H * W + y * W + x] / 255;
  /** Reference: pad, crop, flip, shift, one step at a time on whole images. */
  function reference(i: number, p: number, cy: number, cx: number, flip: number, sy: number, sx: number): number[] {
    const out: number[] = [];
    const cropped = (c: number, y: number, x: number) => px(i, c, y + cy - p, x + cx - p);
    const flipped = (c: number, y: number, x: number) => cropped(c, y, flip ? W - 1 - x : x);
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const y1 = y - sy,
            x1 = x - sx;
          out.push(y1 < 0 || y1 >= H || x1 < 0 || x1 >= W ? 0 : flipped(c, y1, x1));
        }
    return out;
  }
  const snap = (b: Batch) => ({
    x: [...b.x],
    idx: [...b.indices],
    aug: b.aug && Object.fromEntries(Object.entries(b.aug).map(([k, v]) => [k, [...v]])),
  });
  const run = (it: BatchIterator, steps: number) => Array.from({ length: steps }, () => snap(it.nextBatch()));
  /** Compares a batch with the reference for the parameters it reports (crop padding p, then mean/std). */
  const check = (b: Batch, p: number, mean = 0, std = 1) => {
    const a = b.aug!;
    for (let k = 0; k < b.size; k++) {
      const want = reference(b.indices[k], p, a.cropY[k], a.cropX[k], a.flip[k], a.shiftY[k], a.shiftX[k]);
      for (let j = 0; j < S; j++) assert.ok(Math.abs(b.x[k * S + j] - (want[j] - mean) / std) < 1e-5, `sample ${k} value ${j}`);
    }
  };

  it('flips exactly the samples it reports, into their mirror images', () => {
    const b = batches(ds, { batchSize: 23, seed: 1, augment: { flip: true } }).nextBatch();
    const flips = [...b.aug!.flip];
    assert.ok(flips.includes(0) && flips.includes(1));
    for (let k = 0; k < b.size; k++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const want = px(b.indices[k], c, y, flips[k] ? W - 1 - x : x);
            assert.ok(Math.abs(b.x[k * S + c * H * W + y * W + x] - want) < 1e-6);
          }
    assert.deepEqual([...b.aug!.cropY, ...b.aug!.shiftX], new Array(46).fill(0));
  });

  it('crops from the zero-padded image and shifts with zero fill, composed in order', () => {
    const crop = batches(ds, { batchSize: 23, seed: 2, augment: { crop: { padding: 2 } } }).nextBatch();
    assert.ok(crop.aug!.cropY.every((v) => v >= 0 && v <= 4) && crop.aug!.cropX.some((v) => v !== 2));
    assert.ok(
      crop.x.some((v) => v === 0),
      'padding shows as zeros',
    );
    check(crop, 2);
    const all = batches(ds, { batchSize: 10, seed: 3, augment: { crop: { padding: 2 }, flip: true, jitter: { pixels: 1 } } });
    for (let s = 0; s < 6; s++) check(all.nextBatch(), 2);
    const jit = batches(ds, { batchSize: 23, seed: 4, augment: { jitter: { pixels: 1 } }, mean: 0.5, std: 0.25 }).nextBatch();
    assert.ok(jit.aug!.shiftY.some((v) => v !== 0) && jit.aug!.shiftX.every((v) => Math.abs(v) <= 1));
    check(jit, 0, 0.5, 0.25);
  });

  it('adds Gaussian noise of the given std in pixel units', () => {
    const it = batches(ds, { batchSize: 23, seed: 5, augment: { noise: { std: 0.05 } } });
    let sum = 0,
      sq = 0,
      m = 0;
    for (let s = 0; s < 20; s++) {
      const b = it.nextBatch();
      for (let k = 0; k < b.size; k++)
        for (let j = 0; j < S; j++, m++) {
          const d = b.x[k * S + j] - pixels[b.indices[k] * S + j] / 255;
          [sum, sq] = [sum + d, sq + d * d];
        }
    }
    assert.ok(Math.abs(sum / m) < 0.003);
    assert.ok(Math.abs(Math.sqrt(sq / m) - 0.05) < 0.003);
  });

  it('repeats for a seed, resumes exactly from a saved state and reuses its buffers', () => {
    const opts = {
      batchSize: 5,
      seed: 7,
      augment: { crop: { padding: 2 }, flip: true, jitter: { pixels: 1 }, noise: { std: 0.1 } } as AugmentOptions,
    };
    assert.deepEqual(run(batches(ds, opts), 12), run(batches(ds, opts), 12));
    assert.notDeepEqual(run(batches(ds, { ...opts, seed: 8 }), 3), run(batches(ds, opts), 3));
    for (const skip of [0, 3, 5, 7]) {
      const it = batches(ds, opts);
      run(it, skip);
      const state = JSON.parse(JSON.stringify(it.state()));
      const expected = run(it, 12);
      assert.deepEqual(run(BatchIterator.restore(ds, { ...opts, seed: 99 }, state), 12), expected, `resume after ${skip} steps`);
    }
    const state = batches(ds, opts).state();
    assert.throws(() => BatchIterator.restore(ds, { batchSize: 5 }, state), isKd('BAD_STATE', /augment/));
    assert.throws(() => BatchIterator.restore(ds, { ...opts, augment: { flip: true } }, state), isKd('BAD_STATE'));
    const it = batches(ds, opts);
    const first = it.nextBatch();
    const second = it.nextBatch();
    assert.equal(second.x, first.x);
    assert.equal(second.aug!.key, first.aug!.key);
  });

  it('rejects bad options and non-image data', () => {
    assert.throws(() => batches(ds, { batchSize: 4, augment: { crop: { padding: -1 } } }), isKd('BAD_ARGUMENT', /crop\.padding/));
    assert.throws(
      () => batches(ds, { batchSize: 4, augment: { flips: true } as AugmentOptions }),
      isKd('BAD_ARGUMENT', /unknown option 'flips'/),
    );
    assert.throws(() => batches(ds, { batchSize: 4, augment: { noise: { std: -1 } } }), isKd('BAD_ARGUMENT', /noise\.std/));
    const flat = { ...ds, sampleShape: [S] };
    assert.throws(() => batches(flat, { batchSize: 4, augment: { flip: true } }), isKd('BAD_ARGUMENT', /\[C, H, W\]/));
  });
});
