// The pieces the browser runtime is made of, checked in Node: the hash, the in-memory file system, the sample
// format, PNG decoding without Node's zlib, and a whole experiment whose files live in memory, as in a tab.
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { configRegistry } from '../src/frontends/config-registry.js';
import { bundledDataset, registerBundledDataset } from '../src/data/bundled.js';
import { decodeImage } from '../src/data/image-folder.js';
import { packDataset, unpackDataset } from '../src/data/pack.js';
import { parseConfig } from '../src/config/index.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { MemoryStorage } from '../src/runtime/memory-storage.js';
import { nodeRuntime } from '../src/runtime/node/runtime.js';
import { setRuntime } from '../src/runtime/runtime.js';
import type { Dataset } from '../src/data/dataset.js';
import { KdError } from '../src/util/errors.js';
import { sha256Hex } from '../src/util/sha256.js';

const isKd = (code: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof KdError && e.code === code, `expected KdError ${code}, got ${String(e)}`);
  if (re) assert.match(e.message, re);
  return true;
};

describe('sha256Hex (the browser runtime hash)', () => {
  it('equals node:crypto on lengths around the padding boundaries and on text', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 65537]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
      assert.equal(sha256Hex(b), hash('sha256', b, 'hex'), `length ${n}`);
    }
    assert.equal(sha256Hex('héllo ✓'), hash('sha256', 'héllo ✓', 'hex'));
  });
});

describe('MemoryStorage', () => {
  it('behaves like the disk where kdistill relies on it, and reports every change', () => {
    const changes: [string, number | undefined][] = [];
    const s = new MemoryStorage((p, b) => changes.push([p, b?.byteLength]));
    assert.throws(() => s.writeAtomic('/runs/a/x.json', ['{}']), isKd('NOT_WRITABLE', /directory does not exist/));
    s.mkdirp('/runs/a/checkpoints');
    s.writeAtomic('/runs/a/x.json', ['{', '}']);
    s.append('/runs/a/m.jsonl', 'one\n');
    s.append('/runs/a/m.jsonl', new TextEncoder().encode('two\n'));
    const before = s.read('/runs/a/m.jsonl', '');
    assert.equal(new TextDecoder().decode(before), 'one\ntwo\n');
    // A long log grows in place; what a reader already holds stays as it was.
    for (let i = 0; i < 2000; i++) s.append('/runs/a/big.log', `line ${i}\n`);
    assert.equal(new TextDecoder().decode(before), 'one\ntwo\n');
    const log = new TextDecoder().decode(s.read('/runs/a/big.log', '')).split('\n');
    assert.deepEqual([log.length, log[0], log[1999]], [2001, 'line 0', 'line 1999']);
    s.remove('/runs/a/big.log');
    changes.splice(3);
    assert.deepEqual(s.list('/runs/a').sort(), ['checkpoints', 'm.jsonl', 'x.json']);
    assert.deepEqual(s.list('/'), ['runs']);
    assert.equal(s.kind('/runs/a/'), 'directory');
    assert.equal(s.kind('/runs/a/x.json'), 'file');
    assert.equal(s.kind('/nope'), undefined);
    assert.equal(s.size('/runs/a/x.json'), 2);
    assert.throws(() => s.read('/runs/b.txt', 'teacher'), isKd('MISSING_FILE', /cannot read teacher \/runs\/b\.txt/));
    assert.throws(() => s.writeAtomic('/runs/a', ['x']), isKd('NOT_WRITABLE', /is a directory/));
    s.remove('/runs/a');
    assert.equal(s.exists('/runs/a/x.json'), false);
    assert.equal(s.exists('/runs/a'), false);
    assert.deepEqual(changes, [
      ['/runs/a/x.json', 2],
      ['/runs/a/m.jsonl', 4],
      ['/runs/a/m.jsonl', 8],
      ['/runs/a', undefined],
    ]);
  });
});

const tinyImages = (n: number): Dataset => ({
  name: 'tiny',
  kind: 'image',
  x: Uint8Array.from({ length: n * 4 }, (_, i) => (i * 37) & 255),
  y: Int32Array.from({ length: n }, (_, i) => i % 3),
  n,
  sampleShape: [1, 2, 2],
  numClasses: 3,
  classNames: ['a', 'b', 'c'],
  sourceIndex: Int32Array.from({ length: n }, (_, i) => 10 * i),
});

describe('sample files (.kds)', () => {
  it('round-trip a dataset exactly', () => {
    const ds = tinyImages(7);
    const back = unpackDataset(packDataset(ds), 'tiny.kds');
    assert.deepEqual([...back.x], [...ds.x]);
    assert.deepEqual([...back.y], [...ds.y]);
    assert.deepEqual([...back.sourceIndex!], [...ds.sourceIndex!]);
    assert.deepEqual([back.n, back.sampleShape, back.numClasses, back.classNames], [7, [1, 2, 2], 3, ['a', 'b', 'c']]);
  });
  it('name the file when it is foreign or cut short', () => {
    const bytes = packDataset(tinyImages(3));
    assert.throws(() => unpackDataset(bytes.subarray(0, bytes.length - 1), 's.kds'), isKd('DATASET_CORRUPT', /s\.kds .*holds/));
    assert.throws(() => unpackDataset(new TextEncoder().encode('<html>'), 'x.kds'), isKd('DATASET_CORRUPT', /x\.kds .*KDDS/));
  });
  it('register as bundled datasets, and an unknown name lists the known ones', () => {
    const ds = tinyImages(4);
    registerBundledDataset('tiny-sample', () => ds);
    assert.equal(bundledDataset('tiny-sample', 'train'), ds);
    assert.throws(() => bundledDataset('imagenet', 'train'), isKd('UNKNOWN_DATASET', /'imagenet'.*'tiny-sample'/));
  });
});

describe('PNG decoding in plain JavaScript', () => {
  it('reads every colour type pngjs writes as the same RGBA pixels', () => {
    const img = new PNG({ width: 5, height: 3 });
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 53 + 19) & 255;
    for (const colorType of [0, 2, 4, 6]) {
      const file = PNG.sync.write(img, { colorType, inputColorType: 6, inputHasAlpha: true } as never);
      const want = PNG.sync.read(file).data;
      const got = decodeImage(new Uint8Array(file), 'x.png');
      assert.deepEqual([...got.data], [...want], `colour type ${colorType}`);
    }
  });
  it('names a truncated PNG', () => {
    const img = new PNG({ width: 8, height: 8 });
    const file = new Uint8Array(PNG.sync.write(img)).subarray(0, 60);
    assert.throws(() => decodeImage(file, 'cat/1.png'), isKd('DATASET_CORRUPT', /cat\/1\.png cannot be decoded as PNG/));
  });
});

describe('an experiment whose files live in memory (the browser runtime, on Node)', () => {
  it('reads its CSV and writes its run directory through the runtime storage only', async () => {
    const mem = new MemoryStorage();
    setRuntime({ ...nodeRuntime, storage: mem });
    try {
      mem.mkdirp('/inputs');
      const rows = ['a,b,label'];
      for (let i = 0; i < 120; i++) rows.push(`${(i % 3) + Math.sin(i) * 0.1},${(i % 2) * 0.5},${i % 3}`);
      mem.writeAtomic('/inputs/points.csv', [rows.join('\n')]);
      const text = [
        'name: mem',
        'seed: 1',
        'dataset: { name: csv, path: points.csv, options: { label: label } }',
        'teacher: { model: mlp-2-16-3 }',
        'student: { model: mlp-2-4-3 }',
        'loss: [ { method: ce, weight: 0.5 }, { method: kd, weight: 0.5 } ]',
        'epochs: 2',
        'batchSize: 16',
        'threads: 1',
      ].join('\n');
      const cfg = parseConfig(text, '/inputs/config.yaml', configRegistry(), {
        cwd: '/',
        dir: '/inputs',
        threads: 1,
        checkFiles: (p) => mem.kind(p),
      });
      const summary = await runExperiment(cfg);
      assert.deepEqual(
        summary.rows.map((r) => r.role),
        ['teacher', 'baseline', 'distilled'],
      );
      assert.ok(mem.exists('/runs/mem/student.onnx') && mem.exists('/runs/mem/summary.json'));
      assert.ok(mem.list('/runs/mem/checkpoints').some((f) => f.endsWith('.ckpt')));
      assert.equal(JSON.parse(new TextDecoder().decode(mem.read('/runs/mem/summary.json', ''))).testSamples, summary.testSamples);
    } finally {
      setRuntime(nodeRuntime);
    }
  });
});
