import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { fillCache } from '../src/cli/cache.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { cacheEntries } from './helpers/cache-entries.js';

interface Container {
  command: string[];
  args: string[];
  env: { name: string; value: string }[];
}
const job = (file: string) => {
  const docs = parseAllDocuments(readFileSync(join('deploy/kubernetes', file), 'utf8')).map((d) => d.toJS());
  assert.equal(docs.length, 1);
  return docs[0] as {
    kind: string;
    spec: Record<string, unknown> & { template: { spec: { restartPolicy: string; containers: Container[] } } };
  };
};

/** Runs a Job's container command here: its env, with the paths replaced, and `kdistill` being this checkout's CLI. */
function runContainer(c: Container, env: Record<string, string>, bin: string): Promise<void> {
  const base = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  return new Promise((done, fail) => {
    const p = spawn(c.command[0], [...c.command.slice(1), ...c.args], {
      env: { ...process.env, ...base, ...env, PATH: `${bin}:${process.env.PATH}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? done() : fail(new Error(`exit ${code}: ${err}`))));
  });
}

describe('the Kubernetes Indexed Job (deploy/kubernetes/)', () => {
  it('is an Indexed Job with retries per index, one shard per completion index', () => {
    const j = job('cache-fill-job.yaml');
    assert.equal(j.kind, 'Job');
    assert.equal(j.spec.completionMode, 'Indexed');
    assert.ok(Number(j.spec.backoffLimitPerIndex) >= 1);
    assert.equal(j.spec.template.spec.restartPolicy, 'Never');
    const c = j.spec.template.spec.containers[0];
    const shards = c.env.find((e) => e.name === 'SHARDS')!.value;
    assert.equal(String(j.spec.completions), shards, 'completions and SHARDS must agree');
    assert.match(c.args.join(' '), /--shard "\$JOB_COMPLETION_INDEX\/\$SHARDS"/);
  });

  it("its containers' commands, run here for every index and then the merge, give the cache of one fill", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-deploy-')),
      bin = join(dir, 'bin'),
      teacher = join(dir, 'teacher.onnx');
    const bytes = exportOnnx(new Model(mlp([784, 8, 10], { inputShape: [1, 28, 28] }), 6));
    writeFileSync(teacher, bytes);
    // `kdistill` in the image is the compiled CLI; here it is this checkout's, under tsx.
    mkdirSync(bin);
    writeFileSync(join(bin, 'kdistill'), `#!/bin/sh\nexec "${process.execPath}" --import tsx "${resolve('src/cli/main.ts')}" "$@"\n`);
    chmodSync(join(bin, 'kdistill'), 0o755);
    const fill = job('cache-fill-job.yaml'),
      merge = job('cache-merge-job.yaml');
    const env = { TEACHER: teacher, CACHE_DIR: join(dir, 'cache'), SPLIT: 'test', WORKERS: '1' };
    const n = Number(fill.spec.completions);
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        runContainer(fill.spec.template.spec.containers[0], { ...env, JOB_COMPLETION_INDEX: String(i) }, bin),
      ),
    );
    await runContainer(merge.spec.template.spec.containers[0], env, bin);
    await fillCache(teacher, {
      dataset: 'mnist',
      split: 'test',
      batch: '256',
      dir: join(dir, 'single'),
      outputs: 'logits',
      dtype: 'float32',
      workers: '1',
      quiet: true,
    });
    const key = onnxKey(bytes).slice(0, 32);
    const merged = cacheEntries(join(dir, 'cache', 'merged'), key);
    assert.equal(merged.size, 10000);
    assert.deepEqual(merged, cacheEntries(join(dir, 'single'), key));
  });
});
