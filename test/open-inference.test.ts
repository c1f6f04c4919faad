import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fillCache } from '../src/cli/cache.js';
import { configRegistry } from '../src/cli/run.js';
import { ConfigError, parseConfig } from '../src/config/node/index.js';
import { batches, take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { HttpTeacher } from '../src/distill/teachers/http.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { RunDir } from '../src/train/run-dir.js';
import { rejectsWith } from './helpers/rejects.js';
import { startOipServer } from './helpers/oip-server.js';

// The teacher: the shipped LeNet-5, served by a test server written from the Open Inference Protocol's specification.
const bytes = new Uint8Array(readFileSync('examples/teachers/mnist-lenet5.onnx'));
const model = { name: 'lenet5', version: '3', bytes, inputShape: [-1, 1, 28, 28], outputShape: [-1, 10] };
const ds = take(loadMnist('test'), 300);
const first = [...batches(ds, { batchSize: 300, shuffle: false })][0];
const x = first.x.slice(),
  shape = [...first.shape];

const fails = rejectsWith;
const teacher = (url: string, extra: Partial<ConstructorParameters<typeof HttpTeacher>[0]> = {}) =>
  new HttpTeacher({ url, protocol: 'open-inference', model: 'lenet5', classes: 10, maxBatch: 128, retries: 0, ...extra });

describe('Open Inference Protocol teachers', () => {
  let direct: Float32Array;
  before(async () => {
    const s = await createSession(bytes, { threads: 1 });
    direct = (await s.run({ x: new ort.Tensor('float32', x, shape) })).logits.data as Float32Array;
    await s.release();
  });

  it('JSON tensors: readiness and metadata checked first, then batches answered as the model itself answers', async () => {
    const srv = await startOipServer(model, { binary: false });
    try {
      const t = teacher(srv.url, { version: '3' });
      const [logits] = await t.predictMany(x, shape, ['logits']);
      assert.deepEqual(logits, direct);
      const gets = srv.log.filter((e) => e.method === 'GET').map((e) => e.path);
      assert.deepEqual(gets, ['/v2/health/ready', '/v2/models/lenet5/versions/3', '/v2/models/lenet5/versions/3/ready', '/v2']);
      const posts = srv.log.filter((e) => e.method === 'POST');
      // Batches go out concurrently, so the server may log them in any order.
      assert.deepEqual(
        posts.map((e) => [e.path, e.binary, e.json!.inputs[0].name, e.json!.inputs[0].datatype, e.json!.inputs[0].shape.join('x')]).sort(),
        [
          ['/v2/models/lenet5/versions/3/infer', false, 'x', 'FP32', '128x1x28x28'],
          ['/v2/models/lenet5/versions/3/infer', false, 'x', 'FP32', '128x1x28x28'],
          ['/v2/models/lenet5/versions/3/infer', false, 'x', 'FP32', '44x1x28x28'],
        ],
      );
      assert.deepEqual(new Set(posts.map((e) => e.json!.id)).size, 3, 'every request has its own id');
      // The check runs once: a second batch sends inference requests only.
      const before = srv.log.length;
      await t.predictMany(x.subarray(0, 784), [1, 1, 28, 28], ['logits']);
      assert.deepEqual(
        srv.log.slice(before).map((e) => e.method),
        ['POST'],
      );
      assert.ok(t.cacheKey && t.cacheKey !== teacher(srv.url, { version: '4' }).cacheKey, 'the version is part of the cache key');
    } finally {
      await srv.close();
    }
  });

  it('the binary-tensor extension when the server lists it: raw FP32 both ways, the same numbers', async () => {
    const srv = await startOipServer(model);
    try {
      const [logits] = await teacher(srv.url).predictMany(x, shape, ['logits']);
      assert.deepEqual(logits, direct);
      const posts = srv.log.filter((e) => e.method === 'POST');
      assert.ok(posts.length === 3 && posts.every((e) => e.binary && e.path === '/v2/models/lenet5/infer'));
      // binary: false keeps JSON even where the server offers binary.
      const before = srv.log.length;
      assert.deepEqual((await teacher(srv.url, { binary: false }).predictMany(x, shape, ['logits']))[0], direct);
      assert.ok(srv.log.slice(before).every((e) => !e.binary));
    } finally {
      await srv.close();
    }
  });

  it('metadata that does not fit the data or the student is refused before any inference, naming the tensor and the fix', async () => {
    const srv = await startOipServer({ ...model, inputShape: [-1, 1, 32, 32] });
    const srv10 = await startOipServer({ ...model, outputShape: [-1, 12] });
    try {
      await fails(
        teacher(srv.url).predictMany(x, shape, ['logits']),
        'TEACHER_MISMATCH',
        /input 'x' has shape \[-1,1,32,32\].*\[n, 1, 28, 28\]/,
      );
      await fails(
        teacher(srv10.url).predictMany(x, shape, ['logits']),
        'TEACHER_MISMATCH',
        /output 'logits' has shape \[-1,12\].*10 classes/,
      );
      await fails(
        teacher(srv.url, { model: 'resnet' }).predictMany(x, shape, ['logits']),
        'TEACHER_MISMATCH',
        /no model 'resnet'.*HTTP 404/,
      );
      await fails(
        teacher(srv.url, { inputName: 'image' }).predictMany(x, shape, ['logits']),
        'TEACHER_MISMATCH',
        /no input is named 'image' \(its inputs: 'x'\)/,
      );
      const tokens = new BigInt64Array(784);
      await fails(
        teacher(srv.url).predictMany(tokens, [1, 784], ['logits']),
        'TEACHER_MISMATCH',
        /takes FP32, but the data is integer token ids/,
      );
      assert.equal(srv.log.filter((e) => e.method === 'POST').length + srv10.log.filter((e) => e.method === 'POST').length, 0);
    } finally {
      await srv.close();
      await srv10.close();
    }
  });

  it("a 4xx answer's error body is in the message; a server that is not ready is retried, then named", async () => {
    const srv = await startOipServer(model, { binary: false });
    try {
      // Forced binary against a server without the extension: it answers 400 with the protocol's error object.
      await fails(
        teacher(srv.url, { binary: true }).predictMany(x, shape, ['logits']),
        'TEACHER_FAILED',
        /answered HTTP 400: binary tensor data is not supported/,
      );
      srv.setReady(false);
      const t = teacher(srv.url, { retries: 1, backoffMs: 5 });
      await fails(
        t.predictMany(x, shape, ['logits']),
        'TEACHER_FAILED',
        /2 attempts failed, the last with HTTP 503 \(the server is not ready\)/,
      );
      srv.setReady(true);
      assert.deepEqual((await t.predictMany(x, shape, ['logits']))[0], direct, 'a failed check is tried again once the server is up');
    } finally {
      await srv.close();
    }
  });

  it('distils a student end to end from a config, every training sample asked once; a wrong model name fails before training', async () => {
    const srv = await startOipServer(model);
    const dir = mkdtempSync(join(tmpdir(), 'kd-oip-'));
    const config = (name: string) =>
      [
        'seed: 1',
        'threads: 1',
        `outDir: ${join(dir, name)}`,
        `cacheDir: ${join(dir, 'cache')}`,
        'dataset: { name: mnist, trainPerClass: 60, validation: { fraction: 0.1 } }',
        'epochs: 4',
        'batchSize: 32',
        'optimizer: { name: adam, lr: 0.003 }',
        'stages:',
        `  - { name: student, model: mlp-784-64-10, teachers: [{ http: { url: '${srv.url}', protocol: open-inference, ` +
          `model: ${name}, version: '3' } }], loss: [{ method: kd, options: { temperature: 4 } }] }`,
      ].join('\n');
    try {
      const cfg = parseConfig(config('lenet5'), join(dir, 'oip.yaml'), configRegistry());
      const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
      const st = s.rows.find((r) => r.role === 'student')!;
      assert.ok(st.testAccuracy > 0.75, `student of the served LeNet-5: ${st.testAccuracy}`);
      const asked = srv.log.filter((e) => e.method === 'POST').reduce((a, e) => a + e.json!.inputs[0].shape[0], 0);
      assert.equal(asked, s.trainSamples, 'every training sample asked exactly once (the rest from the cache)');
      assert.deepEqual(
        st.teacherCache!.map((c) => [c.misses, c.hits]),
        [[s.trainSamples, 3 * s.trainSamples]],
      );
      // The same teacher's outputs filled in two shards by `cache fill <url>`: a run on them asks the server nothing.
      const filled = join(dir, 'filled');
      for (const shard of ['0/2', '1/2'])
        await fillCache(srv.url, {
          ...{ dataset: 'mnist', split: 'train', batch: '500', dir: filled, outputs: 'logits', dtype: 'float32', workers: '2' },
          ...{ protocol: 'open-inference', model: 'lenet5', version: '3', shard, quiet: true },
        });
      const again = parseConfig(
        config('lenet5')
          .replace(join(dir, 'cache'), filled)
          .replace(`outDir: ${join(dir, 'lenet5')}`, `outDir: ${join(dir, 'again')}`),
        join(dir, 'filled.yaml'),
        configRegistry(),
      );
      const before = srv.log.filter((e) => e.method === 'POST').length;
      const s2 = await runExperiment(again, { runDir: new RunDir(again.outDir) });
      assert.deepEqual(
        s2.rows.find((r) => r.role === 'student')!.teacherCache!.map((c) => c.misses),
        [0],
      );
      assert.equal(srv.log.filter((e) => e.method === 'POST').length, before);
      const bad = parseConfig(config('lenet6'), join(dir, 'bad.yaml'), configRegistry());
      const posts = srv.log.filter((e) => e.method === 'POST').length;
      await fails(runExperiment(bad, { runDir: new RunDir(bad.outDir) }), 'TEACHER_MISMATCH', /no model 'lenet6'/);
      assert.equal(srv.log.filter((e) => e.method === 'POST').length, posts);
    } finally {
      await srv.close();
    }
  });

  it('config keys of the protocol are checked: a model for open-inference, none of its keys for the kdistill protocol', () => {
    const check = (http: string, re: RegExp) =>
      assert.throws(
        () =>
          parseConfig(
            ['dataset: { name: mnist }', 'stages:', `  - { name: s, model: mlp-784-8-10, teachers: [{ http: ${http} }] }`].join('\n'),
            '/tmp/oip.yaml',
            configRegistry(),
            { checkFiles: false },
          ),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
        re.source,
      );
    check(
      "{ url: 'http://h:8000', protocol: open-inference, version: '1' }",
      /stages\[0\]\.teachers\[0\]\.http\.model: .*needs the served model's name/,
    );
    check(
      "{ url: 'http://h/p', model: m, version: '1' }",
      /http\.model: 'model' belongs to the Open Inference protocol; add protocol: open-inference/,
    );
    check("{ url: 'http://h:8000', protocol: triton, model: m }", /http\.protocol/);
  });
});
