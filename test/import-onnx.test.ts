import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf/dist/onnx_pb.js';
import { configToYaml, loadConfig } from '../src/config/node/index.js';
import { configRegistry } from '../src/frontends/config-registry.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { parseOnnx } from '../src/graph/onnx.js';
import { cnn } from '../src/nn/zoo/index.js';
import { loadCheckpoint } from '../src/runtime/checkpoint.js';
import { RunDir } from '../src/train/run-dir.js';
import { importOnnx } from '../src/nn/import/onnx-student.js';
import { Model } from '../src/nn/model.js';
import { crossEntropy } from '../src/nn/losses.js';
import { sgd } from '../src/optim/sgd.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { ort } from '../src/runtime/ort.js';
import { TrainSession } from '../src/runtime/train-session.js';
import { KdError } from '../src/util/errors.js';

// Students exported by PyTorch (test/fixtures/make_import_fixtures.py, torch 1.13); import.json holds PyTorch's numbers.
const fixture = (f: string) => new URL(`./fixtures/import/${f}`, import.meta.url);

/** A fresh folder holding the fixture as net.onnx and a config (its lines, then `outDir`) that names it; the config's path. */
function configBeside(prefix: string, onnx: string, name: string, lines: readonly string[]): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  copyFileSync(fixture(onnx), join(dir, 'net.onnx'));
  const file = join(dir, name);
  writeFileSync(file, [...lines, `outDir: ${join(dir, 'out')}`].join('\n'));
  return { dir, file };
}
const bytes = (f: string) => new Uint8Array(readFileSync(fixture(f)));
const fx = JSON.parse(readFileSync(new URL('./fixtures/import.json', import.meta.url), 'utf8'));

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= atol + rtol * Math.abs(want[i]), `${what}[${i}]: got ${got[i]}, PyTorch ${want[i]} (|err| ${err.toExponential(2)})`);
  }
}

const batch = () => new ort.Tensor('float32', Float32Array.from(fx.x), fx.x_shape);

async function scores(m: Model): Promise<Float32Array> {
  const p = await Predictor.fromModel(m, { threads: 1 });
  try {
    return (await p.run(batch(), ['logits'])).logits.data as Float32Array;
  } finally {
    await p.release();
  }
}

describe('importOnnx: PyTorch students become trainable models', () => {
  for (const f of ['student_eval.onnx', 'student_train.onnx'])
    it(`${f}: eval-mode scores equal PyTorch's`, async () => {
      const m = new Model(importOnnx(bytes(f), { source: f }));
      close(await scores(m), fx.eval_scores, 1e-4, 1e-5, `${f} scores`);
    });

  it('every seed starts from the file’s weights (the baseline and the distilled student of a config start alike)', () => {
    const def = importOnnx(bytes('student_train.onnx'));
    const a = new Model(def, 0),
      b = new Model(def, 7);
    for (const [k, v] of a.values) assert.deepEqual(b.values.get(k), v, k);
    close(a.values.get('block.conv1.weight')!, fx.before['block.conv1.weight'], 0, 0, 'block.conv1.weight');
  });

  it('eval-mode export: BN folded by PyTorch stays plain Conv; training-mode export: BN becomes train-mode BN with buffers', () => {
    const ev = new Model(importOnnx(bytes('student_eval.onnx')));
    assert.deepEqual(ev.bufferNames(), []);
    assert.ok(ev.trainableNames().includes('fc.weight'));
    const tr = new Model(importOnnx(bytes('student_train.onnx')));
    assert.deepEqual(
      tr.bufferNames().sort(),
      [
        'bn.running_mean',
        'bn.running_var',
        'block.bn1.running_mean',
        'block.bn1.running_var',
        'block.bn2.running_mean',
        'block.bn2.running_var',
      ].sort(),
    );
    assert.deepEqual(tr.trainableNames().sort(), Object.keys(fx.grads).sort());
    // The train-mode graph keeps every PyTorch node name and output name (what `kdistill inspect` lists); either taps it.
    const g = tr.build('train').graph;
    for (const n of ['/stem/Conv', '/bn/BatchNormalization', '/block/conv1/Conv', '/block/Add', '/block/Relu_1', '/fc/Gemm']) {
      assert.ok(
        g.nodes.some((x) => x.name === n),
        n,
      );
      assert.ok(g.tap(n), n);
    }
    for (const v of ['/bn/BatchNormalization_output_0', '/block/Relu_1_output_0']) assert.ok(g.has(v), v);
    assert.equal(g.tap('/block/Relu_1')!.name, '/block/Relu_1_output_0');
    assert.deepEqual(g.tap('/block/Relu_1')!.shape, ['N', 4, 14, 14]);
  });

  it('Dropout of a training-mode export trains as the Dropout layer at the file’s ratio and vanishes in eval mode', () => {
    const m = new Model(importOnnx(bytes('dropout_train.onnx')));
    const b = m.build('train');
    assert.deepEqual(
      b.ctx.noise.map((x) => x.name),
      ['/drop/Dropout/noise'],
    );
    const keep = b.graph.nodes.find((n) => n.name === '/drop/Dropout/Less')!;
    assert.equal((b.graph.constant(keep.inputs[1])!.data as Float32Array)[0], 0.75);
    assert.ok(!m.build('eval').graph.nodes.some((n) => n.name.startsWith('/drop/Dropout')));
  });

  it('golden: one SGD step (lr 0.1) of cross-entropy in train mode gives PyTorch’s loss, weights and running statistics', async () => {
    const m = new Model(importOnnx(bytes('student_train.onnx'), { source: 'student_train.onnx' }));
    for (const [k, v] of Object.entries(fx.before) as [string, number[]][]) close(m.values.get(k)!, v, 0, 0, `${k} before`);
    const s = await TrainSession.create(
      {
        model: m,
        optimizer: sgd(),
        extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
        loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
      },
      { threads: 1 },
    );
    const r = await s.run(
      { x: batch(), labels: new ort.Tensor('int64', BigInt64Array.from(fx.labels.map(BigInt)), [fx.labels.length]) },
      fx.lr,
    );
    assert.ok(Math.abs(r.loss - fx.loss) < 1e-5, `loss ${r.loss}, PyTorch ${fx.loss}`);
    for (const [k, want] of Object.entries(fx.after) as [string, number[]][]) {
      const got = s.tensor(k)!;
      close(got, want, 1e-4, 1e-6, `${k} after the step`);
    }
    // The gradients themselves, (before − after) / lr.
    for (const [k, want] of Object.entries(fx.grads) as [string, number[]][]) {
      const got = s.tensor(k)!.map((v, i) => (fx.before[k][i] - v) / fx.lr);
      close(got, want, 2e-3, 2e-5, `dL/d${k}`);
    }
    await s.release();
  });
});

describe('importOnnx: refusals name the file and what to do', () => {
  const refuses = (f: string, code: string, ...parts: (string | RegExp)[]) =>
    assert.throws(
      () => importOnnx(bytes(f), { source: f }),
      (e: unknown) => {
        assert.ok(e instanceof KdError, String(e));
        assert.equal(e.code, code, e.message);
        for (const p of [f, ...parts])
          assert.match(e.message, typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) : p);
        return true;
      },
    );
  it('an op without a gradient rule that trainable weights reach (CumSum): the node, the op, freeze or file it', () =>
    refuses('bad_op.onnx', 'NO_GRADIENT', "node '/CumSum'", 'CumSum', 'freeze', "'conv.weight'", 'file the op'));
  it('the same model trains once the part before the op is frozen (by node-name pattern)', () => {
    const m = new Model(importOnnx(bytes('bad_op.onnx'), { freeze: ['/conv/*'] }));
    assert.deepEqual(m.trainableNames().sort(), ['fc.bias', 'fc.weight']);
    assert.deepEqual(m.bufferNames().sort(), ['conv.bias', 'conv.weight']);
  });
  it('a frozen BatchNorm keeps its scale, shift and running statistics (normalises with them in training too)', () => {
    const m = new Model(importOnnx(bytes('student_train.onnx'), { freeze: ['/bn/*'] }));
    assert.ok(!m.trainableNames().some((n) => n.startsWith('bn.')));
    const b = m.build('train');
    assert.ok(![...b.ctx.bufferUpdates.keys()].some((n) => n.startsWith('bn.')));
    assert.ok(b.ctx.bufferUpdates.has('block.bn1.running_mean'));
    assert.ok(b.graph.nodes.some((n) => n.name === '/bn/BatchNormalization' && n.opType === 'BatchNormalization'));
  });
  it('a freeze pattern that matches nothing (a typo) is refused with the parameters named', () =>
    assert.throws(
      () => importOnnx(bytes('student_train.onnx'), { freeze: ['stem.weigth'], source: 'net.onnx' }),
      /net\.onnx: freeze pattern 'stem\.weigth' matches no parameter .*stem\.weight/,
    ));
  it('two inputs: both named', () => refuses('two_inputs.onnx', 'BAD_STUDENT', "'image'", "'mask'", 'exactly one'));
  it('an output that is not class scores: its name and shape', () =>
    refuses('not_scores.onnx', 'BAD_STUDENT', "output 'features'", '[N, 4, 28, 28]', 'class scores'));
  it('an op kdistill cannot run (Hardmax) and a custom-domain op: the node and the op named', async () => {
    const edited = (edit: (n: { opType: string; domain: string }) => void) => {
      const m = parseOnnx(bytes('student_eval.onnx'));
      edit(m.graph!.node.find((n) => n.name === '/block/Relu')!);
      return toBinary(ModelProtoSchema, m);
    };
    assert.throws(
      () =>
        importOnnx(
          edited((n) => (n.opType = 'Hardmax')),
          { source: 'hardmax.onnx' },
        ),
      /hardmax\.onnx: node '\/block\/Relu' is a Hardmax, an op kdistill cannot build or train; .*file the op/,
    );
    assert.throws(
      () =>
        importOnnx(
          edited((n) => {
            n.opType = 'FancyAct';
            n.domain = 'com.example';
          }),
          { source: 'custom.onnx' },
        ),
      /custom\.onnx: node '\/block\/Relu' is FancyAct of domain 'com\.example', a custom op/,
    );
  });
  it('a file that is not ONNX', () =>
    assert.throws(() => importOnnx(new Uint8Array([1, 2, 3, 4, 5]), { source: 'junk.onnx' }), /junk\.onnx is not a valid ONNX file/));
});

describe('importOnnx: exported back under the file’s own input and output names', () => {
  it('train a few steps, export (BN folded), reload: pixels → scores, predictions equal the trained model’s', async () => {
    const m = new Model(importOnnx(bytes('student_train.onnx')));
    const s = await TrainSession.create(
      {
        model: m,
        optimizer: sgd(),
        extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
        loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
      },
      { threads: 1 },
    );
    const labels = new ort.Tensor('int64', BigInt64Array.from(fx.labels.map(BigInt)), [fx.labels.length]);
    for (let k = 0; k < 3; k++) await s.run({ x: batch(), labels }, 0.1);
    for (const name of m.specs.keys()) m.values.get(name)!.set(s.tensor(name));
    await s.release();
    const file = exportOnnx(m);
    const g = parseOnnx(file).graph!;
    assert.deepEqual(
      g.input.map((i) => i.name),
      ['pixels'],
    );
    assert.deepEqual(
      g.output.map((o) => o.name),
      ['scores'],
    );
    assert.ok(!g.node.some((n) => n.opType === 'BatchNormalization'), 'BN folded into the convs');
    const p = await Predictor.fromBytes(file, { threads: 1 });
    assert.equal(p.inputName, 'pixels');
    const got = (await p.run(batch(), ['scores'])).scores.data as Float32Array;
    // The core still reads it by its own name.
    assert.deepEqual((await p.run(batch(), ['logits'])).logits.data, got);
    await p.release();
    const want = await Predictor.fromModel(m, { threads: 1, foldBn: false, coreNames: true });
    close(got, (await want.run(batch(), ['logits'])).logits.data as Float32Array, 1e-4, 1e-5, 'exported scores');
    await want.release();
  });
});

describe('student: { file, freeze } in a config', () => {
  it('trains baseline and distilled, a feature term taps a PyTorch node, student.onnx keeps pixels → scores', async () => {
    const { dir, file } = configBeside('kd-import-', 'student_train.onnx', 'own.yaml', [
      'seed: 1',
      'threads: 1',
      'dataset: { name: mnist, trainPerClass: 12 }',
      'teacher: { model: cnn-4-8, train: { epochs: 1 } }',
      "student: { file: net.onnx, freeze: ['/stem/*'] }",
      'loss:',
      '  - { method: ce, weight: 1 }',
      "  - { method: at, weight: 100, options: { teacherNode: block1/pool, studentNode: '/block/Relu_1' } }",
      'epochs: 1',
      'batchSize: 30',
      'checkpointEvery: 1000',
    ]);
    const cfg = loadConfig(file, configRegistry());
    assert.deepEqual(cfg.student, { file: join(dir, 'net.onnx'), freeze: ['/stem/*'] });
    // runExperiment starts the run directory itself; rd only names its files.
    const s = await runExperiment(cfg);
    const rd = new RunDir(cfg.outDir);
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['teacher', 'baseline', 'distilled'],
    );
    // The resolved config is itself a valid config.
    writeFileSync(join(dir, 'resolved.yaml'), configToYaml(cfg));
    assert.deepEqual(loadConfig(join(dir, 'resolved.yaml'), configRegistry()).student, cfg.student);

    const bytesOut = new Uint8Array(readFileSync(rd.path('student.onnx')));
    const g = parseOnnx(bytesOut).graph!;
    assert.deepEqual([g.input.map((i) => i.name), g.output.map((o) => o.name)], [['pixels'], ['scores']]);
    // The trained weights (the stage's last checkpoint) give the exported file's predictions; the frozen stem did not move.
    const last = readdirSync(rd.checkpoints)
      .filter((f) => f.startsWith('distilled-step'))
      .sort()
      .at(-1)!;
    const ck = loadCheckpoint(join(rd.checkpoints, last));
    const m = new Model(importOnnx(bytes('student_train.onnx')));
    // The checkpoint holds what training changes; the frozen stem is a constant of the step, kept from the file.
    for (const [k, v] of ck.tensors) m.values.get(k)?.set(v);
    assert.ok(!ck.tensors.has('stem.weight') || ck.tensors.get('stem.weight')!.every((v, i) => v === fx.before['stem.weight'][i]));
    close(m.values.get('stem.weight')!, fx.before['stem.weight'], 0, 0, 'frozen stem.weight');
    assert.ok(
      m.values.get('fc.weight')!.some((v, i) => v !== fx.before['fc.weight'][i]),
      'fc.weight trained',
    );
    const p = await Predictor.fromBytes(bytesOut, { threads: 1 });
    const want = await Predictor.fromModel(m, { threads: 1, coreNames: true });
    close(
      (await p.run(batch(), ['scores'])).scores.data as Float32Array,
      (await want.run(batch(), ['logits'])).logits.data as Float32Array,
      1e-4,
      1e-5,
      'student.onnx vs the trained model',
    );
    await p.release();
    await want.release();
  });

  it('refused at load: model and file together, freeze with a zoo model, a missing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-import-bad-'));
    const load = (student: string) => {
      const f = join(dir, 'c.yaml');
      writeFileSync(
        f,
        ['dataset: { name: mnist }', 'teacher: { model: cnn-4-8 }', `student: ${student}`, 'loss: [{ method: ce }]', 'epochs: 1'].join(
          '\n',
        ),
      );
      return () => loadConfig(f, configRegistry());
    };
    assert.throws(load('{ model: cnn-4-8, file: x.onnx }'), /one of 'model'.*'file'.*or 'module'/);
    assert.throws(load('{ model: cnn-4-8, freeze: [a] }'), /'freeze' applies to an ONNX student/);
    assert.throws(load('{ file: nowhere.onnx }'), /no such file: .*nowhere\.onnx/);
  });
});

describe('importOnnx: kdistill’s own export', () => {
  it('a zoo CNN exported (BN folded) and imported predicts the same and trains; names round-trip', async () => {
    const zoo = new Model(cnn([4, 8]), 3);
    const file = exportOnnx(zoo);
    const m = new Model(importOnnx(file, { source: 'cnn.onnx' }));
    assert.deepEqual(m.bufferNames(), []);
    close(await scores(m), await scores(zoo), 1e-4, 1e-5, 'imported kdistill export');
    const again = parseOnnx(exportOnnx(m)).graph!;
    assert.deepEqual([again.input.map((i) => i.name), again.output.map((o) => o.name)], [['x'], ['logits']]);
    const s = await TrainSession.create(
      {
        model: m,
        optimizer: sgd(),
        extraInputs: { labels: { dtype: 'int64', shape: ['N'] } },
        loss: (o, i) => ({ total: crossEntropy(o.logits, i.labels) }),
      },
      { threads: 1 },
    );
    const labels = new ort.Tensor('int64', BigInt64Array.from(fx.labels.map(BigInt)), [fx.labels.length]);
    const l0 = (await s.run({ x: batch(), labels }, 0.1)).loss;
    const l1 = (await s.run({ x: batch(), labels }, 0.1)).loss;
    assert.ok(Number.isFinite(l0) && l1 < l0, `${l0} → ${l1}`);
    await s.release();
  });
});

describe('student: { file } in stages', () => {
  it('a trained imported student teaches a later stage (read under the core’s names), its file keeps its own', async () => {
    const { dir, file } = configBeside('kd-import-stages-', 'student_eval.onnx', 'stages.yaml', [
      'threads: 1',
      'dataset: { name: mnist, trainPerClass: 12 }',
      'stages:',
      '  - { name: own, student: { file: net.onnx } }',
      '  - name: small',
      '    model: mlp-784-8-10',
      '    teachers: [own]',
      '    loss: [{ method: ce, weight: 0.5 }, { method: kd, weight: 0.5, options: { temperature: 4 } }]',
      'epochs: 1',
      'batchSize: 30',
    ]);
    const cfg = loadConfig(file, configRegistry());
    assert.deepEqual(cfg.stages[0].student, { file: join(dir, 'net.onnx'), freeze: [] });
    // runExperiment starts the run directory itself; rd only names its files.
    const s = await runExperiment(cfg);
    const rd = new RunDir(cfg.outDir);
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['own', 'small'],
    );
    const g = parseOnnx(new Uint8Array(readFileSync(rd.path('own.onnx')))).graph!;
    assert.deepEqual([g.input.map((i) => i.name), g.output.map((o) => o.name)], [['pixels'], ['scores']]);
  });
});
