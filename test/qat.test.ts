import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { TensorProto_DataType as DT } from 'onnx-buf/dist/onnx_pb.js';
import { gradients } from '../src/autodiff/gradients.js';
import { take } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import * as op from '../src/graph/ops.js';
import { Model } from '../src/nn/model.js';
import { fakeQuant, fakeQuantWeight } from '../src/nn/quant/fake-quant.js';
import { QAT_KEY, withQuantization } from '../src/nn/quant/model.js';
import { ACT_LEVELS, type QuantSpec } from '../src/nn/quant/spec.js';
import { cnn, mlp, resnet } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { cloneModel, node, serialise, tensor } from '../src/runtime/quant/proto.js';
import { quantizeInt8 } from '../src/runtime/quantize.js';
import { fitClassifier } from '../src/train/classifier.js';
import { optimizedOps } from './helpers/optimized-ops.js';
import { Rng } from '../src/util/rng.js';

// PyTorch's values from test/fixtures/make_fakequant_fixtures.py.
const fx = JSON.parse(readFileSync(new URL('./fixtures/fakequant.json', import.meta.url), 'utf8'));
const T = (d: ArrayLike<number>, sh: readonly number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);

/** Runs `build` on input x of `shape` and returns y, and the gradients of Σ y·dy w.r.t. x and `extra` inputs. */
async function run(
  shape: number[],
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  build: (x: Value, g: Graph) => { y: Value; wrt?: Value[] },
  feeds: Record<string, ort.Tensor> = {},
) {
  const g = new Graph('fq');
  const xv = g.input('x', 'float32', shape);
  const dyv = g.input('dy', 'float32', shape);
  const { y, wrt = [] } = build(xv, g);
  const loss = op.reduceSum(op.mul(y, dyv));
  const grads = gradients(loss, [xv, ...wrt]);
  g.output(y, ...[xv, ...wrt].map((v) => grads.get(v.name)!));
  const s = await createSession(toOnnx(g), { threads: 1 });
  const r = await s.run({ x: T(x, shape), dy: T(dy, shape), ...feeds });
  await s.release();
  return { y: r[y.name].data as Float32Array, grads: [xv, ...wrt].map((v) => r[grads.get(v.name)!.name].data as Float32Array) };
}

function near(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-6) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs PyTorch ${want[i]}`);
}

describe('fake quantisation matches PyTorch and ONNX Runtime', () => {
  for (const bits of [8, 4] as const)
    it(`per-channel weights at ${bits} bits: value and straight-through gradient as torch.fake_quantize_per_channel_affine`, async () => {
      const c = fx[`weight${bits}`];
      const r = await run(c.shape, c.x, c.dy, (x) => ({ y: fakeQuantWeight(x, 0, bits) }));
      near(r.y, c.y, 'y');
      near(r.grads[0], c.dx, 'dx');
    });

  it('a uint8 activation: clamped values pass no gradient (torch.fake_quantize_per_tensor_affine)', async () => {
    const c = fx.activation;
    const r = await run(c.shape, c.x, c.dy, (x, g) => ({
      y: fakeQuant(x, op.scalar(g, c.scale), op.scalar(g, c.zero_point), ACT_LEVELS),
    }));
    near(r.y, c.y, 'y');
    near(r.grads[0], c.dx, 'dx');
    assert.ok(c.dx.some((v: number) => v === 0) && c.dx.some((v: number) => v !== 0), 'the fixture has clamped and passed values');
  });

  it('learned scale and zero point: gradients as torch._fake_quantize_learnable_per_tensor_affine (LSQ+)', async () => {
    const c = fx.learned;
    const r = await run(
      c.shape,
      c.x,
      c.dy,
      (x, g) => {
        const s = g.input('s', 'float32', []),
          z = g.input('z', 'float32', []);
        return { y: fakeQuant(x, s, z, ACT_LEVELS, { gradScale: op.scalar(g, c.grad_factor) }), wrt: [s, z] };
      },
      { s: T([c.scale], []), z: T([c.zero_point], []) },
    );
    near(r.y, c.y, 'y');
    near(r.grads[0], c.dx, 'dx');
    near(r.grads[1], [c.ds], 'd/dscale', 1e-4);
    near(r.grads[2], [c.dz], 'd/dzero_point', 1e-3);
  });

  it("forward equals ONNX Runtime's QuantizeLinear → DequantizeLinear bit for bit, ties and saturation included", async () => {
    const n = 4096;
    const x = new Float32Array(n);
    const rng = new Rng(7);
    const rand = () => rng.next() * 2 - 1;
    const scale = Math.fround(3 / 255),
      zp = 97;
    // Exact ties k.5 · scale, and values past both ends of the range.
    for (let i = 0; i < n; i++) x[i] = i % 4 === 0 ? Math.fround((Math.floor(rand() * 200) + 0.5) * scale) : rand() * 2.5;
    const g = new Graph('fq');
    const xv = g.input('x', 'float32', [n]);
    g.output(fakeQuant(xv, op.scalar(g, scale), op.scalar(g, zp), ACT_LEVELS));
    const ours = (await (await createSession(toOnnx(g), { threads: 1 })).run({ x: T(x, [n]) }))[g.outputs[0]].data as Float32Array;
    // The same through ORT's own kernels: a model x → QuantizeLinear(uint8) → DequantizeLinear.
    const m = cloneModel(parseOnnx(toOnnx(g)));
    const gp = m.graph!;
    gp.initializer = [tensor('s', DT.FLOAT, [], Float32Array.of(scale)), tensor('zp', DT.UINT8, [], Uint8Array.of(zp))];
    gp.node = [node('QuantizeLinear', ['x', 's', 'zp'], ['q'], 'q'), node('DequantizeLinear', ['q', 's', 'zp'], [gp.output[0].name], 'dq')];
    const s = await ort.InferenceSession.create(serialise(m));
    const theirs = (await s.run({ x: T(x, [n]) }))[gp.output[0].name].data as Float32Array;
    let differ = 0;
    for (let i = 0; i < n; i++) if (ours[i] !== theirs[i]) differ++;
    assert.equal(differ, 0, `${differ} of ${n} values differ from QuantizeLinear → DequantizeLinear`);
  });

  it('the gradient is the straight-through estimator: the slope of the fake-quantised function over many steps', async () => {
    // Finite differences over ±20 quantisation steps average out the rounding: slope ≈ 1 inside the range, 0 outside.
    const scale = 0.01,
      zp = 100,
      h = 20 * scale;
    const xs = [-2, -1.5, -0.5, 0.2, 0.9, 1.4, 2, 3].map((v) => v + 0.0037);
    const g = new Graph('fq');
    const xv = g.input('x', 'float32', [xs.length * 3]);
    const y = fakeQuant(xv, op.scalar(g, scale), op.scalar(g, zp), ACT_LEVELS);
    const grads = gradients(op.reduceSum(y), [xv]);
    g.output(y, grads.get('x')!);
    const s = await createSession(toOnnx(g), { threads: 1 });
    const feed = xs.flatMap((v) => [v - h, v, v + h]);
    const r = await s.run({ x: T(feed, [feed.length]) });
    const out = r[y.name].data as Float32Array,
      dx = r[grads.get('x')!.name].data as Float32Array;
    const lo = (ACT_LEVELS.min - zp) * scale,
      hi = (ACT_LEVELS.max - zp) * scale;
    xs.forEach((v, k) => {
      if (Math.abs(v - lo) < h + scale || Math.abs(v - hi) < h + scale) return;
      const fd = (out[3 * k + 2] - out[3 * k]) / (2 * h);
      assert.ok(Math.abs(fd - dx[3 * k + 1]) <= 0.05, `x=${v}: finite difference ${fd}, gradient ${dx[3 * k + 1]}`);
    });
  });
});

const train = take(loadMnist('train'), 3000);
const test = take(loadMnist('test'), 1000);
const spec = (o: Partial<QuantSpec> = {}): QuantSpec => ({
  bits: 8,
  weights: 'per-channel',
  activations: true,
  ranges: 'minmax',
  observeSteps: 20,
  ...o,
});

/** Predicted classes of the test subset. */
async function predictions(bytes: Uint8Array): Promise<Int32Array> {
  const p = await Predictor.fromBytes(bytes, { threads: 2 });
  const x = Float32Array.from(test.x as Uint8Array, (v) => v / 255);
  const l = (await p.run(new ort.Tensor('float32', x, [test.n, 1, 28, 28]), ['logits'])).logits.data as Float32Array;
  await p.release();
  const k = l.length / test.n;
  return Int32Array.from({ length: test.n }, (_, i) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (l[i * k + c] > l[i * k + best]) best = c;
    return best;
  });
}

describe('a quantisation-aware student exports to an int8 file that computes what it trained', () => {
  const cases = {
    'cnn (BatchNorm folded after training), 8 bits': () => new Model(withQuantization(cnn([4, 8]), spec()), 3),
    'cnn, 4-bit weights': () => new Model(withQuantization(cnn([4, 8]), spec({ bits: 4 })), 3),
    'resnet8 (residual Add, global pooling)': () =>
      new Model(withQuantization(resnet({ depth: 8, inputShape: [1, 28, 28], width: 4 }), spec()), 1),
    'mlp with learned ranges': () =>
      new Model(withQuantization(mlp([784, 64, 10], { inputShape: [1, 28, 28] }), spec({ ranges: 'learned' })), 1),
  };
  const trained: Record<string, Model> = {};
  before(async () => {
    for (const [name, make] of Object.entries(cases)) {
      const m = make();
      // The ResNet learns slower; a barely trained model's near-ties would flip on any rounding.
      const maxSteps = name.startsWith('resnet') ? 240 : 80;
      await fitClassifier(m, train, { epochs: 6, maxSteps, batchSize: 64, lr: 3e-3, seed: 1, threads: 2 });
      trained[name] = m;
    }
  });
  for (const name of Object.keys(cases))
    it(`${name}: int8 predictions agree with the fake-quantised graph on ≥ 99.5% of test samples`, async (t) => {
      const m = trained[name];
      const float = exportOnnx(m);
      const meta = parseOnnx(float).metadataProps.find((p) => p.key === QAT_KEY);
      assert.ok(meta, 'the float export carries the learned quantisation parameters');
      // No calibration data: every range comes from training.
      const int8 = await quantizeInt8(float, [], { threads: 2 });
      const fake = exportOnnx(m, { fakeQuant: true });
      const [a, b, c] = [await predictions(fake), await predictions(int8), await predictions(float)];
      let same = 0,
        right = 0,
        rightFake = 0,
        rightFloat = 0;
      for (let i = 0; i < test.n; i++) {
        if (a[i] === b[i]) same++;
        if (b[i] === test.y[i]) right++;
        if (a[i] === test.y[i]) rightFake++;
        if (c[i] === test.y[i]) rightFloat++;
      }
      t.diagnostic(
        `agreement ${same / test.n}; accuracy fake-quantised ${rightFake / test.n}, int8 ${right / test.n}, float ${rightFloat / test.n}`,
      );
      assert.ok(same / test.n >= 0.995, `int8 agrees with the fake-quantised graph on ${same}/${test.n}`);
      assert.ok(rightFake / test.n > 0.5, 'the student learned something');
      const ops = await optimizedOps(int8);
      const want = name.startsWith('cnn')
        ? ['QLinearConv', 'QGemm']
        : name.startsWith('resnet')
          ? ['QLinearConv', 'QLinearAdd', 'QLinearGlobalAveragePool', 'QGemm']
          : ['QGemm'];
      for (const w of want) assert.ok(ops.includes(w), `${w} missing from ORT's graph: ${ops.join(' ')}`);
      assert.ok(!ops.includes('Conv') && !ops.includes('Gemm'), `float kernels left: ${ops.join(' ')}`);
      if (name.includes('4-bit')) {
        const w = parseOnnx(int8).graph!.initializer.filter((x) => x.dataType === DT.INT8 && x.dims.length > 1);
        assert.ok(w.length >= 2 && w.every((x) => Int8Array.from(x.rawData).every((v) => v >= -7 && v <= 7)), '4-bit weights within ±7');
      }
    });
});

describe('quantize in a config', () => {
  it('trains QAT alone (baseline) and QAT + KD, writes int8 files that agree with training, and refuses what it cannot do', async () => {
    const { configRegistry } = await import('../src/cli/run.js');
    const { configToYaml, loadConfig, readConfigFile } = await import('../src/config/node/index.js');
    const { RunDir } = await import('../src/train/run-dir.js');
    const { runExperiment } = await import('../src/frontends/run-config.js');
    const { writeFileSync, existsSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'kd-qat-run-'));
    const teacher = new URL('../examples/teachers/mnist-lenet5.onnx', import.meta.url).pathname;
    const yaml = (student: string) =>
      [
        'name: qat',
        'seed: 2',
        'threads: 2',
        `outDir: ${join(dir, 'out')}`,
        'dataset: { name: mnist, validation: { perClass: 50 } }',
        `teacher: { file: ${teacher} }`,
        `student: ${student}`,
        'loss: [{ method: ce, weight: 0.5 }, { method: kd, weight: 0.5 }]',
        'epochs: 1',
        'batchSize: 256',
      ].join('\n');
    const file = join(dir, 'qat.yaml');
    writeFileSync(join(dir, 'bad.yaml'), yaml('{ model: cnn-4-8, quantize: { bits: 6 } }'));
    assert.throws(() => loadConfig(join(dir, 'bad.yaml'), configRegistry()), /student\.quantize\.bits: expected one of 8, 4/);
    writeFileSync(file, yaml('{ model: cnn-4-8, quantize: { bits: 8 } }'));
    const cfg = loadConfig(file, configRegistry());
    // The resolved config loads back to itself (it is what a resumed run compares).
    writeFileSync(join(dir, 'resolved.yaml'), configToYaml(cfg));
    assert.equal(configToYaml(loadConfig(join(dir, 'resolved.yaml'), configRegistry())), configToYaml(cfg));
    const rd = new RunDir(cfg.outDir);
    rd.start({ configText: readConfigFile(file), resolvedText: configToYaml(cfg), seed: cfg.seed, command: ['test'] });
    const s = await runExperiment(cfg, { runDir: rd });
    for (const role of ['baseline', 'distilled']) {
      const q = s.rows.find((r) => r.role === role)!.quantization;
      assert.ok(q, `${role} has a quantization block`);
      assert.equal(q.bits, 8);
      assert.ok(q.int8Agreement >= 0.995, `${role}: int8 agrees with the fake-quantised graph on ${q.int8Agreement}`);
      assert.ok(Math.abs(q.int8Accuracy - q.fakeQuantAccuracy) <= 0.002, `${role}: int8 ${q.int8Accuracy} vs fake ${q.fakeQuantAccuracy}`);
      assert.ok(q.fakeQuantAccuracy > 0.8, `${role}: ${q.fakeQuantAccuracy}`);
      assert.ok(existsSync(rd.path(q.file)), `${q.file} written`);
    }
    assert.equal(s.rows.find((r) => r.role === 'teacher')!.quantization, undefined, 'the float teacher is not quantised');
  });
});
