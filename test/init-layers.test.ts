// A student that starts from some layers of its teacher (init: { from: teacher, layers }), as DistilBERT's does.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/node/index.js';
import { configRegistry } from '../src/frontends/config-registry.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { loadCheckpoint } from '../src/runtime/checkpoint.js';
import { KdError } from '../src/util/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-init-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function config(name: string, student: string, extra = ''): string {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 2
threads: 1
outDir: ${path.join(tmp, name)}
dataset: { name: mnist, trainPerClass: 10, validation: { perClass: 5 } }
teacher: { model: cnn-8-16, train: { epochs: 1, optimizer: { name: adam, lr: 0.01 } } }
student: ${student}
loss: [ { method: ce, weight: 0.5 }, { method: kd, weight: 0.5 } ]
optimizer: { name: sgd, lr: 1.0e-9 }
epochs: 1
batchSize: 32
${extra}`,
  );
  return file;
}
const load = (file: string) => parseConfig(readFileSync(file, 'utf8'), file, configRegistry());

describe('init: { from: teacher, layers }', () => {
  it("the baseline and the distilled student start from the teacher's trained layers, and only those", async () => {
    const cfg = load(config('layers', '{ model: cnn-8-4, init: { from: teacher, layers: [block1] } }'));
    await runExperiment(cfg);
    const ckpt = (stage: string) => {
      const dir = path.join(cfg.outDir, 'checkpoints');
      const f = stage === 'teacher' ? 'teacher-final.ckpt' : `${stage}-best.ckpt`;
      return loadCheckpoint(path.join(dir, f)).tensors;
    };
    const teacher = ckpt('teacher');
    for (const stage of ['baseline', 'distilled']) {
      const s = ckpt(stage);
      // A learning rate of 1e-9: the weights are still where they started (BatchNorm's running statistics move).
      const near = (name: string) => {
        const a = s.get(name)!,
          b = teacher.get(name)!;
        return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
      };
      assert.ok(near('block1/conv/weight') && near('block1/bn/weight') && near('block1/bn/bias'), `${stage}: block1 is the teacher's`);
      assert.ok(!near('fc/bias'), `${stage}: fc is its own`);
    }
  });

  it('refuses, before training, a layer that matches nothing, layers of another shape, and another source', async () => {
    await assert.rejects(
      runExperiment(load(config('nothing', '{ model: cnn-8-4, init: { from: teacher, layers: [blokc1] } }'))),
      (e: unknown) =>
        e instanceof KdError &&
        e.code === 'BAD_INIT' &&
        /init\.layers\[0\]: 'blokc1' names no parameter .*block1, block2, fc/.test(e.message),
    );
    await assert.rejects(
      runExperiment(load(config('shape', '{ model: cnn-8-4, init: { from: teacher, layers: [block1, block2] } }'))),
      (e: unknown) =>
        e instanceof KdError &&
        e.code === 'BAD_INIT' &&
        /init\.layers\[1\]: the student's 'block2\/conv\/weight' is \[4, 8, 3, 3\] but .* is \[16, 8, 3, 3\]/.test(e.message),
    );
    assert.throws(
      () => load(config('source', '{ model: cnn-8-4, init: { from: baseline, layers: [block1] } }')),
      (e: unknown) => e instanceof ConfigError && /student\.init\.from: .*'teacher' only/.test(e.message),
    );
  });

  it('maps differently named layers ({ student, teacher }) in a pipeline', async () => {
    const file = path.join(tmp, 'pipe.yaml');
    writeFileSync(
      file,
      `name: pipe
seed: 2
threads: 1
outDir: ${path.join(tmp, 'pipe')}
dataset: { name: mnist, trainPerClass: 10 }
epochs: 1
batchSize: 32
stages:
  - { name: big, model: cnn-8-16 }
  - { name: small, model: cnn-16-4, init: { from: big, layers: [{ student: block2, teacher: block1 }] } }
`,
    );
    await assert.rejects(
      runExperiment(load(file)),
      (e: unknown) =>
        e instanceof KdError &&
        /the student's 'block2\/conv\/weight' is \[4, 16, 3, 3\] but 'block1\/conv\/weight' of 'big' is \[8, 1, 3, 3\]/.test(e.message),
    );
  });
});

describe('init layers by number (DistilBERT: every other layer)', () => {
  it("[0, 2]: the student's first layer starts from the teacher's first, its second from the teacher's third", async () => {
    const file = path.join(tmp, 'numbers.yaml');
    writeFileSync(
      file,
      `name: numbers
seed: 2
threads: 1
outDir: ${path.join(tmp, 'numbers')}
dataset: { name: mnist, trainPerClass: 10, validation: { perClass: 5 } }
teacher: { model: cnn-8-8-8, train: { epochs: 1, optimizer: { name: adam, lr: 0.01 } } }
student: { model: cnn-8-8, init: { from: teacher, layers: [0, 2] } }
loss: [ { method: kd, weight: 1 } ]
optimizer: { name: sgd, lr: 1.0e-9 }
epochs: 1
batchSize: 32
baseline: false
`,
    );
    const cfg = load(file);
    await runExperiment(cfg);
    const dir = path.join(cfg.outDir, 'checkpoints');
    const t = loadCheckpoint(path.join(dir, 'teacher-final.ckpt')).tensors;
    const s = loadCheckpoint(path.join(dir, 'distilled-best.ckpt')).tensors;
    const near = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
    assert.ok(near(s.get('block1/conv/weight')!, t.get('block1/conv/weight')!));
    assert.ok(near(s.get('block2/conv/weight')!, t.get('block3/conv/weight')!));
    assert.ok(!near(s.get('block2/conv/weight')!, t.get('block2/conv/weight')!));

    writeFileSync(file, readFileSync(file, 'utf8').replace('layers: [0, 2]', 'layers: [0, 5]'));
    await assert.rejects(
      runExperiment(load(file)),
      (e: unknown) =>
        e instanceof KdError && /layer 5 of 'teacher' does not exist; it has 3 \(block1, block2, block3\), numbered from 0/.test(e.message),
    );
  });
});
