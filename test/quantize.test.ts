import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { batches, take, type Dataset } from '../src/data/index.js';
import { loadMnist } from '../src/data/node/index.js';
import { parseOnnx } from '../src/graph/onnx.js';
import { Model } from '../src/nn/model.js';
import { cnn, mlp, resnet, textClassifier } from '../src/nn/zoo/index.js';
import { exportReport, formatExportReport } from '../src/report/export-report.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { ort } from '../src/runtime/ort.js';
import { fromHalf, toHalf } from '../src/runtime/quant/proto.js';
import { quantizeInt8, toFloat16 } from '../src/runtime/quantize.js';
import { fitClassifier } from '../src/train/classifier.js';
import { optimizedOps } from './helpers/optimized-ops.js';

const train = take(loadMnist('train'), 3000);
const test = take(loadMnist('test'), 500);

/** The first `n` training samples, scaled to [0, 1] as in training. */
function calibration(ds: Dataset, n: number): Float32Array[] {
  const it = batches(ds, { batchSize: n, shuffle: true, seed: 5 })[Symbol.iterator]();
  return [Float32Array.from(it.next().value!.x)];
}

/** Logits of the whole test subset, and of a batch of 1 and of 5 (the dynamic batch must still work). */
async function logits(bytes: Uint8Array): Promise<{ all: Float32Array; one: readonly number[]; five: readonly number[] }> {
  const p = await Predictor.fromBytes(bytes, { threads: 2 });
  const x = Float32Array.from(test.x as Uint8Array, (v) => v / 255);
  const run = async (n: number) => (await p.run(new ort.Tensor('float32', x.subarray(0, n * 784), [n, 1, 28, 28]), ['logits'])).logits;
  const all = (await run(test.n)).data as Float32Array;
  const one = (await run(1)).dims,
    five = (await run(5)).dims;
  await p.release();
  return { all, one, five };
}

const argmax = (l: Float32Array, i: number) => {
  let a = 0;
  for (let c = 1; c < 10; c++) if (l[i * 10 + c] > l[i * 10 + a]) a = c;
  return a;
};
const agreement = (a: Float32Array, b: Float32Array) => {
  let same = 0;
  for (let i = 0; i < a.length / 10; i++) if (argmax(a, i) === argmax(b, i)) same++;
  return same / (a.length / 10);
};
const weightBytes = (b: Uint8Array) => parseOnnx(b).graph!.initializer.reduce((s, t) => s + t.rawData.length, 0);

const models = {
  cnn: () => new Model(cnn([4, 8]), 3),
  mlp: () => new Model(mlp([784, 64, 10], { inputShape: [1, 28, 28] }), 1),
};
const trained: Record<string, Uint8Array> = {};

describe('float16 and int8 export', () => {
  before(async () => {
    for (const [name, make] of Object.entries(models)) {
      const m = make();
      await fitClassifier(m, train, { epochs: 2, maxSteps: 80, batchSize: 64, lr: 3e-3, seed: 1, threads: 2 });
      trained[name] = exportOnnx(m);
    }
  });

  it('float16 rounds to nearest even, overflows to Inf and keeps subnormals', () => {
    for (const [v, want] of [
      [1, 1],
      [-2.5, -2.5],
      [65504, 65504],
      [70000, Infinity],
      [1 + 2 ** -11, 1],
      [1 + 3 * 2 ** -11, 1 + 2 ** -9],
      [2 ** -24, 2 ** -24],
      [2 ** -26, 0],
    ]) {
      assert.equal(fromHalf(toHalf(v)), want, `${v}`);
    }
  });

  for (const name of Object.keys(models)) {
    it(`${name}: fp16 halves the weights, runs at batch 1 and 5, and predicts as fp32 (≥ 99%, logits within 0.02 + 1%)`, async (t) => {
      const f32 = trained[name];
      const f16 = toFloat16(f32);
      assert.ok(weightBytes(f16) <= weightBytes(f32) / 2, `${weightBytes(f16)} vs ${weightBytes(f32)}`);
      assert.ok(f16.length < 0.7 * f32.length, `file ${f16.length} vs ${f32.length}`);
      const [a, b] = [await logits(f32), await logits(f16)];
      assert.deepEqual(
        [b.one, b.five],
        [
          [1, 10],
          [5, 10],
        ],
      );
      assert.ok(agreement(a.all, b.all) >= 0.99, `agreement ${agreement(a.all, b.all)}`);
      t.diagnostic(
        `fp16: weights ${weightBytes(f16)}/${weightBytes(f32)} B, agreement ${agreement(a.all, b.all)}, ` +
          `max |Δlogit| ${Math.max(...a.all.map((v, i) => Math.abs(v - b.all[i]))).toFixed(4)}`,
      );
      for (let i = 0; i < a.all.length; i++)
        assert.ok(Math.abs(a.all[i] - b.all[i]) <= 0.02 + 0.01 * Math.abs(a.all[i]), `logit ${i}: ${a.all[i]} vs ${b.all[i]}`);
    });

    it(
      `${name}: int8 QDQ is ~¼ of the weights, runs at batch 1 and 5, and ` +
        'predicts as fp32 (≥ 95%, mean |Δlogit| ≤ 5% of mean |logit|)',
      async (t) => {
        const f32 = trained[name];
        const q = await quantizeInt8(f32, calibration(train, 256), { threads: 2 });
        assert.ok(weightBytes(q) <= 0.3 * weightBytes(f32), `${weightBytes(q)} vs ${weightBytes(f32)}`);
        assert.ok(q.length < toFloat16(f32).length, 'int8 file should be smaller than the fp16 one');
        const [a, b] = [await logits(f32), await logits(q)];
        assert.deepEqual(
          [b.one, b.five],
          [
            [1, 10],
            [5, 10],
          ],
        );
        assert.ok(agreement(a.all, b.all) >= 0.95, `agreement ${agreement(a.all, b.all)}`);
        let diff = 0,
          mag = 0;
        for (let i = 0; i < a.all.length; i++) [diff, mag] = [diff + Math.abs(a.all[i] - b.all[i]), mag + Math.abs(a.all[i])];
        t.diagnostic(
          `int8: weights ${weightBytes(q)}/${weightBytes(f32)} B, agreement ${agreement(a.all, b.all)}, mean ` +
            `|Δlogit| ${(diff / a.all.length).toFixed(4)}, mean |logit| ${(mag / a.all.length).toFixed(3)}`,
        );
        assert.ok(diff <= 0.05 * mag, `mean |Δlogit| ${diff / a.all.length} vs mean |logit| ${mag / a.all.length}`);
        const m = parseOnnx(q);
        assert.equal(Number(m.opsetImport[0].version), 18);
        const perChannel = m.graph!.node.filter((n) => n.opType === 'DequantizeLinear' && n.attribute.some((x) => x.name === 'axis'));
        assert.ok(perChannel.length >= 2, 'weights and biases are dequantized per channel');
        // ONNX Runtime must fuse the pairs into integer kernels, not run float ops between Q and DQ.
        const ops = await optimizedOps(q);
        const want = name === 'cnn' ? ['QLinearConv', 'QGemm'] : ['QGemm'];
        for (const w of want) assert.ok(ops.includes(w), `${w} missing from ORT's graph: ${ops.join(' ')}`);
        assert.ok(!ops.includes('Conv') && !ops.includes('Gemm'), `float kernels left: ${ops.join(' ')}`);
      },
    );
  }

  it('resnet8: residual Add and global pooling become QLinearAdd / QLinearGlobalAveragePool', async () => {
    const b = exportOnnx(new Model(resnet({ depth: 8, inputShape: [1, 28, 28], width: 4 }), 1));
    const q = await quantizeInt8(b, calibration(train, 64), { threads: 2 });
    const ops = await optimizedOps(q);
    for (const w of ['QLinearConv', 'QLinearAdd', 'QLinearGlobalAveragePool', 'QGemm'])
      assert.ok(ops.includes(w), `${w} missing: ${ops.join(' ')}`);
    const [a, c] = [await logits(b), await logits(q)];
    let diff = 0,
      mag = 0;
    for (let i = 0; i < a.all.length; i++) [diff, mag] = [diff + Math.abs(a.all[i] - c.all[i]), mag + Math.abs(a.all[i])];
    assert.ok(diff <= 0.05 * mag, `mean |Δlogit| ${diff / a.all.length} vs mean |logit| ${mag / a.all.length}`);
  });

  it('fp16 compute mode (for GPU runtimes) still loads and runs on the CPU provider', async () => {
    const h = toFloat16(trained.cnn, { mode: 'compute' });
    const [a, b] = [await logits(trained.cnn), await logits(h)];
    assert.ok(agreement(a.all, b.all) >= 0.99);
  });

  it('int8 refuses what it cannot do, saying why', async () => {
    await assert.rejects(quantizeInt8(trained.mlp, []), { code: 'EMPTY_DATASET' });
    await assert.rejects(quantizeInt8(trained.mlp, [new Float32Array(100)]), { code: 'SHAPE_MISMATCH' });
    const text = exportOnnx(new Model(textClassifier({ vocab: 20, seqLen: 6, classes: 3 }), 0));
    await assert.rejects(quantizeInt8(text, [new Float32Array(6)]), { code: 'UNSUPPORTED_MODEL' });
  });

  it('exportReport: teacher and student at fp32/fp16/int8 side by side', async () => {
    const { report, student } = await exportReport({
      teacher: trained.mlp,
      student: trained.cnn,
      variants: { fp16: true, int8: true },
      calibration: calibration(train, 128),
      test,
      threads: 1,
      latencyRuns: 5,
    });
    assert.deepEqual(
      report.rows.map((r) => `${r.role}.${r.precision}`),
      ['teacher.fp32', 'student.fp32', 'student.fp16', 'student.int8'],
    );
    assert.ok(student.int8 && student.fp16);
    assert.equal(report.calibrationSamples, 128);
    for (const r of report.rows) {
      assert.deepEqual(
        r.latencyMs.map((l) => l.batch),
        [1, 32],
      );
      assert.ok(r.latencyMs.every((l) => l.p95 >= l.p50 && l.p50 > 0));
      assert.ok(r.accuracy > 0.7 && r.agreementWithTeacher! > 0.7, JSON.stringify(r));
    }
    const [, s32, s16, s8] = report.rows;
    assert.ok(s16.fileBytes < s32.fileBytes && s8.weightBytes < s16.weightBytes);
    assert.equal(s32.parameters, s8.parameters);
    const md = formatExportReport(report);
    assert.match(md, /\| student \| int8 \| 4266 \|/);
    assert.equal(md.split('\n').filter((l) => l.startsWith('| ')).length, 5);
  });

  it('kdistill export writes the variants and the report next to the student (exit 0)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-export-'));
    writeFileSync(join(dir, 'student.onnx'), trained.cnn);
    writeFileSync(join(dir, 'teacher.onnx'), trained.mlp);
    writeFileSync(join(dir, 'config.resolved.yaml'), 'name: t\ndataset:\n  name: mnist\n');
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, ...args], {
        encoding: 'utf8',
        timeout: 180_000,
      });
    const r = cli('export', dir, '--fp16', '--int8', '--calibrate', '64', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['student.fp16.onnx', 'student.int8.onnx', 'export-report.json', 'export-report.md'])
      assert.ok(existsSync(join(dir, f)), f);
    const rep = JSON.parse(readFileSync(join(dir, 'export-report.json'), 'utf8'));
    assert.deepEqual(
      rep.rows.map((x: { file: string }) => x.file),
      ['teacher.onnx', 'student.onnx', 'student.fp16.onnx', 'student.int8.onnx'],
    );
    assert.equal(rep.testSamples, 10000);
    assert.match(r.stdout, /student\.int8\.onnx \| int8/);
    for (const [args, msg] of [
      [['--calibrate', '0'], /--calibrate must be a positive integer/],
      [['--dataset', 'cifar'], /bundled datasets/],
    ] as const) {
      const bad = cli('export', join(dir, 'student.onnx'), ...args);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, msg);
    }
    rmSync(dir, { recursive: true, force: true });
  });
});
