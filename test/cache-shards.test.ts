import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fillCache, type FillOptions } from '../src/cli/cache.js';
import { fillLocalShards } from '../src/cli/cache-local.js';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { crc32 } from '../src/distill/teachers/codec.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { readManifests, shardOf, parseShard } from '../src/distill/teachers/node/fill-manifest.js';
import { mergeCaches } from '../src/distill/teachers/node/merge.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { RunDir } from '../src/train/run-dir.js';
import { KdError } from '../src/util/errors.js';
import { cacheEntries } from './helpers/cache-entries.js';

const root = mkdtempSync(join(tmpdir(), 'kd-shards-'));
const teacherFile = (name: string, seed: number, hidden = 16) => {
  const file = join(root, name);
  writeFileSync(file, exportOnnx(new Model(mlp([784, hidden, 10], { inputShape: [1, 28, 28] }), seed)));
  return file;
};
const file = teacherFile('t.onnx', 4);
const key32 = onnxKey(new Uint8Array(readFileSync(file))).slice(0, 32);
const opts = (dir: string, extra: Partial<FillOptions> = {}): FillOptions => ({
  dataset: 'mnist',
  split: 'train',
  batch: '512',
  dir,
  outputs: 'logits',
  dtype: 'float32',
  workers: '1',
  quiet: true,
  ...extra,
});
const entries = (dir: string) => cacheEntries(dir, key32);
/** Whole, checksummed index entries in every index file of a store (a key stored twice counts twice). */
function indexEntries(store: string): string[] {
  const keys: string[] = [];
  for (const f of readdirSync(store).filter((f) => f.endsWith('.idx'))) {
    const b = readFileSync(join(store, f));
    for (let p = 0; p + 52 <= b.length; p += 52)
      if (crc32(b.subarray(p, p + 48)) === b.readUInt32LE(p + 48)) keys.push(b.subarray(p, p + 32).toString('hex'));
  }
  return keys;
}
const fails = (f: () => unknown, code: string, re: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof KdError && e.code === code && re.test(e.message), re.source);

describe('sharded teacher caches', () => {
  const single = join(root, 'single'),
    parts = [0, 1, 2].map((i) => join(root, `part${i}`)),
    merged = join(root, 'merged'),
    local = join(root, 'local');

  it('3 shards filled in parallel and merged hold exactly the entries of one fill, bit for bit; so does --shards 3 --local', async () => {
    assert.deepEqual(await fillCache(file, opts(single, { workers: '2' })), { hits: 0, misses: 60000 });
    const counts = await Promise.all(parts.map((d, i) => fillCache(file, opts(d, { shard: `${i}/3` }))));
    const one = entries(single);
    const each = parts.map(entries);
    // A partition: every sample in exactly one shard, chosen by its content key.
    assert.equal(
      each.reduce((a, m) => a + m.size, 0),
      60000,
    );
    each.forEach((m, i) => assert.ok([...m.keys()].every((k) => shardOf(k, 3) === i)));
    assert.deepEqual(
      counts.map((c) => c.misses),
      each.map((m) => m.size),
    );
    assert.ok(
      each.every((m) => m.size > 19000 && m.size < 21000),
      `shard sizes ${each.map((m) => m.size)}`,
    );
    const r = mergeCaches(parts, merged);
    assert.deepEqual(r.shards, { count: 3, present: [0, 1, 2], missing: [] });
    assert.deepEqual(r.stores, [{ store: 'logits.f32', entries: 60000, added: 60000, duplicates: 0 }]);
    assert.deepEqual(entries(merged), one);
    // The processes of --shards N --local share one directory, each writing its own shard files.
    await fillLocalShards(file, opts(local), 3);
    assert.deepEqual(entries(local), one);
    assert.deepEqual(
      readManifests(join(local, key32)).map((m) => m.manifest.shard.index),
      [0, 1, 2],
    );
    // Merging again adds nothing: each sample once.
    assert.deepEqual(mergeCaches([...parts, local], merged).stores[0], {
      store: 'logits.f32',
      entries: 60000,
      added: 0,
      duplicates: 120000,
    });
  });

  it('a run on the merged cache asks the teacher nothing', async () => {
    const cfg = parseConfig(
      [
        'seed: 1',
        'threads: 1',
        `outDir: ${join(root, 'run')}`,
        `cacheDir: ${merged}`,
        'dataset: { name: mnist, trainPerClass: 50, validation: { fraction: 0.1 } }',
        'epochs: 2',
        'stages:',
        `  - { name: student, model: mlp-784-8-10, teachers: [{ file: ${file}, cache: true }], loss: [{ method: kd }] }`,
      ].join('\n'),
      join(root, 'run.yaml'),
      configRegistry(),
    );
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    const st = s.rows.find((r) => r.role === 'student')!;
    assert.deepEqual(
      st.teacherCache!.map((c) => [c.misses, c.hits]),
      [[0, 2 * s.trainSamples]],
    );
  });

  it('merge refuses other teachers, other fills and disagreeing overlaps, and writes nothing then', async () => {
    const other = teacherFile('u.onnx', 5);
    const otherDir = join(root, 'other');
    await fillCache(other, opts(otherDir, { split: 'test', shard: '0/3' }));
    fails(() => mergeCaches([parts[0], otherDir], join(root, 'no1')), 'CACHE_MISMATCH', /more than one teacher/);
    // Another teacher's answers under this teacher's key: the same samples answered differently.
    const forged = join(root, 'forged');
    cpSync(otherDir, forged, { recursive: true });
    renameSync(join(forged, readdirSync(forged)[0]), join(forged, key32));
    const testPart = join(root, 'test-part');
    await fillCache(file, opts(testPart, { split: 'test', shard: '0/3' }));
    // Shards of the train split and of the test split are not one fill.
    fails(() => mergeCaches([parts[0], testPart], join(root, 'no2')), 'CACHE_MISMATCH', /\(split: test vs train\)/);
    fails(() => mergeCaches([testPart, forged], join(root, 'no3')), 'CACHE_MISMATCH', /\(teacher: [0-9a-f]{64} vs [0-9a-f]{64}\)/);
    // Without the manifests, the records themselves disagree.
    const bare = (d: string) => {
      const b = `${d}-bare`;
      cpSync(d, b, { recursive: true, filter: (p) => !p.endsWith('/fills') });
      return b;
    };
    fails(() => mergeCaches([bare(testPart), bare(forged)], join(root, 'no4')), 'CACHE_CONFLICT', /different 'logits' answers/);
    const broken = bare(otherDir);
    cpSync(join(testPart, key32, 'fills'), join(broken, readdirSync(broken)[0], 'fills'), { recursive: true });
    for (const f of readdirSync(join(broken, readdirSync(broken)[0], 'fills')))
      writeFileSync(join(broken, readdirSync(broken)[0], 'fills', f), '{');
    fails(() => mergeCaches([broken], join(root, 'no5')), 'BAD_CACHE', /not a readable cache fill manifest/);
    for (const n of ['no1', 'no2', 'no3', 'no4', 'no5']) assert.ok(!existsSync(join(root, n, key32, 'logits.f32')), n);
  });

  it('a shard killed mid-fill and run again completes with no sample stored twice', async () => {
    const dir = join(root, 'killed'),
      store = join(dir, key32, 'logits.f32');
    const slow = teacherFile('slow.onnx', 4, 1024);
    const slowKey = onnxKey(new Uint8Array(readFileSync(slow))).slice(0, 32);
    const slowStore = join(dir, slowKey, 'logits.f32');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'cache', 'fill', slow, '--dir', dir, '--shard', '1/3', '--batch', '64', '--workers', '1'],
      { stdio: 'ignore' },
    );
    const written = () =>
      existsSync(slowStore) && readdirSync(slowStore).some((f) => f.endsWith('.idx') && statSync(join(slowStore, f)).size > 0);
    while (!written()) {
      assert.equal(child.exitCode, null, 'the fill ended before it could be killed');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const partial = indexEntries(slowStore).length;
    assert.ok(partial > 0 && partial < 20000, `entries before the kill: ${partial}`);
    assert.equal(readManifests(join(dir, slowKey)).length, 0, 'a killed fill leaves no manifest');
    const again = await fillCache(slow, opts(dir, { shard: '1/3' }));
    const keys = indexEntries(slowStore);
    assert.equal(new Set(keys).size, keys.length, 'no sample stored twice');
    assert.equal(again.hits + again.misses, keys.length);
    assert.ok(again.hits >= partial - 64, `${again.hits} answers kept from the killed fill (${partial} stored)`);
    assert.equal(readManifests(join(dir, slowKey)).length, 1);
    assert.ok(!existsSync(store));
  });

  it('--shard is i/N with 0 <= i < N', () => {
    assert.deepEqual(parseShard('2/8'), { index: 2, count: 8 });
    for (const bad of ['8/8', '1', '-1/2', 'a/b', '0/0']) fails(() => parseShard(bad), 'BAD_OPTION', /--shard must be i\/N/);
  });
});
