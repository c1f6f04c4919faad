import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { configRegistry } from '../src/cli/run.js';
import { configToYaml } from '../src/config/index.js';
import { ConfigError, parseConfig } from '../src/config/node/index.js';
import { bundledDataset, registerBundledDataset } from '../src/data/bundled.js';
import { take, type Dataset } from '../src/data/index.js';
import { synthesize, type TransferSet } from '../src/distill/datafree/index.js';
import { adaptTeacher } from '../src/distill/teachers/adapt.js';
import { classSimilarity, finalLayerWeights } from '../src/distill/datafree/class-similarity.js';
import { dirichlet } from '../src/distill/datafree/dirichlet.js';
import { inversionGraph, openInversion, shiftPermutation } from '../src/distill/datafree/inversion.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { decodeImage } from '../src/data/image-folder.js';
import { writeRunReport } from '../src/report/node/write-report.js';
import { Graph } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { toOnnx } from '../src/graph/onnx.js';
import { Model, type ModelDef } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { ort } from '../src/runtime/ort.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { evaluateClassifier, fitClassifier } from '../src/train/classifier.js';
import { RunDir } from '../src/train/run-dir.js';
import { Rng } from '../src/util/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'kd-datafree-'));
const shape = [1, 28, 28];
let withBn: Uint8Array, folded: Uint8Array, mlp: Uint8Array, test: Dataset, mnistTrain: Dataset;

// A small MNIST CNN with BatchNorm (about 91% after two epochs on 5,000 images), exported with BN kept and folded,
// and an MLP (a Gemm head) for ZSKD.
before(async () => {
  mnistTrain = bundledDataset('mnist', 'train');
  const train = take(mnistTrain, 5000);
  test = take(bundledDataset('mnist', 'test'), 1000);
  const cnn = new Model(zooModel('cnn-8-16', shape, 10), 1);
  await fitClassifier(cnn, train, { epochs: 2, lr: 3e-3, seed: 1, threads: 1 });
  withBn = exportOnnx(cnn, { foldBn: false });
  folded = exportOnnx(cnn);
  const m = new Model(zooModel('mlp-784-64-10', shape, 10), 1);
  await fitClassifier(m, train, { epochs: 2, lr: 3e-3, seed: 1, threads: 1 });
  mlp = exportOnnx(m);
});

/** Conv → BatchNormalization → tanh → 2×2 average pool → Gemm, random weights; without `head`, the class scores are
 * the pooled map's sum. */
function smoothTeacher(head = true, input: readonly number[] = shape): Uint8Array {
  const rng = new Rng(7);
  const g = new Graph('smooth');
  const r = (name: string, dims: number[], scale: number, offset = 0) =>
    g.initializer(name, {
      dtype: 'float32',
      shape: dims,
      data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => offset + scale * (rng.next() - 0.5)),
    });
  const x = g.input('x', 'float32', ['N', ...input]);
  const c = op.conv(x, r('w', [4, input[0], 3, 3], 1), undefined, { pads: [1, 1, 1, 1] });
  const bn = g.node('BatchNormalization', [c, r('s', [4], 0.5, 1), r('b', [4], 0.2), r('m', [4], 0.2), r('v', [4], 0.5, 1)])[0];
  const h = op.avgPool(op.tanh(bn), { kernel: [2, 2], strides: [2, 2] });
  const logits = head
    ? op.gemm(op.flatten(h, 1), r('fc', [10, (4 * input[1] * input[2]) / 4], 0.2), r('fcb', [10], 0.1), { transB: true, name: 'logits' })
    : op.identity(op.reshape(op.reduceMean(h, [2, 3]), [0, -1]), 'logits');
  g.output(logits);
  return toOnnx(g);
}

/** A linear classifier of the flattened input (smooth, so finite differences through it are exact up to rounding). */
const linearDef = (inputShape: readonly number[], classes = 10, std = 0.05): ModelDef => ({
  name: 'linear',
  inputs: { x: { dtype: 'float32', shape: ['N', ...inputShape] } },
  forward(c, ins) {
    const d = inputShape.reduce((a, b) => a * b, 1);
    const w = c.param('w', [classes, d], { kind: 'normal', std }),
      b = c.param('b', [classes], { kind: 'normal', std });
    return { logits: op.gemm(op.flatten(ins.x, 1), w, b, { transB: true }) };
  },
});

/** The relative error of `grad` against central finite differences of `loss` at `k` random coordinates of `x`. */
async function worstFdError(
  x: Float32Array,
  run: (v: Float32Array) => Promise<{ loss: number; grad: Float32Array }>,
  rng: Rng,
  k = 24,
  eps = 1e-2,
): Promise<number> {
  const { grad } = await run(x);
  let worst = 0;
  for (let j = 0; j < k; j++) {
    const i = rng.int(x.length);
    const up = Float32Array.from(x),
      down = Float32Array.from(x);
    up[i] += eps;
    down[i] -= eps;
    const fd = ((await run(up)).loss - (await run(down)).loss) / (2 * eps);
    worst = Math.max(worst, Math.abs(fd - grad[i]) / Math.max(Math.abs(fd), 1e-2));
  }
  return worst;
}

const ctx = (teacher: Uint8Array, n: number, log?: (e: Record<string, unknown>) => void) => ({
  teacher,
  source: 'tiny.onnx',
  sampleShape: shape,
  classes: 10,
  n,
  seed: 0,
  range: [0, 1] as const,
  threads: 1,
  log,
});

/** A student distilled (KD, T = 4) on the samples alone, scored on real MNIST test images. */
async function studentOn(ds: Dataset, teacher: Uint8Array): Promise<number> {
  const s = new Model(zooModel('cnn-8-16', shape, 10), 2);
  const tp = await Predictor.fromBytes(teacher, { threads: 1 });
  try {
    await fitClassifier(s, ds, {
      epochs: 10,
      lr: 3e-3,
      seed: 0,
      threads: 1,
      loss: [{ method: 'kd', weight: 1, options: { temperature: 4 } }],
      teacher: tp,
      teacherShapes: { logits: [10] },
    });
  } finally {
    await tp.release();
  }
  return (await evaluateClassifier(s, test, { threads: 1 })).accuracy;
}

/** The teacher puts samples in every class, and a student distilled on them alone beats `floor` on real test images. */
async function teachesEveryClass(set: TransferSet, teacher: Uint8Array, floor: number): Promise<void> {
  assert.ok(
    set.classCounts.every((c) => c > 0),
    `classes ${set.classCounts}`,
  );
  const acc = await studentOn(set.data, teacher);
  assert.ok(acc > floor, `student on ${set.data.name}: ${acc} (chance 0.1)`);
}

describe('data-free: samples from the teacher alone', () => {
  it('DeepInversion on a BN teacher: every class, and a student far above chance', async () => {
    await teachesEveryClass(await synthesize(ctx(withBn, 300), { method: 'deepinversion', options: { steps: 60 } }), withBn, 0.4);
  });

  it('ZSKD on a Gemm head: every class, and a student far above chance', async () => {
    await teachesEveryClass(await synthesize(ctx(mlp, 300), { method: 'zskd', options: { steps: 100, lr: 0.05 } }), mlp, 0.25);
  });

  it('DAFL: a generator trained against the teacher covers every class, and a student learns from it', async () => {
    const events: Record<string, unknown>[] = [];
    const set = await synthesize(
      ctx(folded, 300, (e) => events.push(e)),
      {
        method: 'dafl',
        options: { steps: 60, batchSize: 64, channels: [16, 8], snapshots: 3 },
      },
    );
    const last = events.filter((e) => e.event === 'synth-batch').at(-1)!;
    // The information-entropy term is −H(mean prediction) in base 10: −1 is an even spread over 10 classes.
    assert.ok(Number(last.info_entropy) < -0.8, `info entropy ${last.info_entropy}`);
    await teachesEveryClass(set, folded, 0.3);
  });

  it('a PyTorch export (3 × 32 × 32 normalised input, batch fixed to 1, softmax output): every method through its adapters', async () => {
    // test/fixtures/make_adapt_teacher.py: trained on MNIST resized to 32×32, grey repeated, ImageNet mean/std.
    const file = new URL('./fixtures/adapt_teacher_batch1.onnx', import.meta.url);
    const fx = JSON.parse(readFileSync(new URL('./fixtures/adapt_teacher.json', import.meta.url), 'utf8'));
    const torchTeacher = adaptTeacher(new Uint8Array(readFileSync(file)), {
      input: { channels: 3, size: [32, 32], mean: fx.mean, std: fx.std },
      output: { kind: 'probs' },
      sampleShape: shape,
      source: 'adapt_teacher_batch1.onnx',
    });
    // ZSKD and DAFL find the final Gemm behind the Softmax (and the adapter's Log); the input gradients run back
    // through the adapter's resize and normalisation to the 28 × 28 samples.
    const zskd = await synthesize(ctx(torchTeacher, 300), { method: 'zskd', options: { steps: 100, lr: 0.05 } });
    await teachesEveryClass(zskd, torchTeacher, 0.25);
    const dafl = await synthesize(ctx(torchTeacher, 100), {
      method: 'dafl',
      options: { steps: 40, batchSize: 64, channels: [16, 8], snapshots: 2 },
    });
    assert.ok(dafl.classCounts.filter((c) => c > 0).length >= 8, `DAFL classes ${dafl.classCounts}`);
    const di = await synthesize(ctx(torchTeacher, 50), { method: 'deepinversion', options: { steps: 30 } });
    assert.ok(
      di.classCounts.every((c) => c > 0),
      `DeepInversion classes ${di.classCounts}`,
    );
  });

  it('a folded-BN teacher: DeepInversion says only the priors apply, and still runs', async () => {
    const events: Record<string, unknown>[] = [];
    const set = await synthesize(
      ctx(folded, 20, (e) => events.push(e)),
      { method: 'deepinversion', options: { steps: 5 } },
    );
    const w = events.find((e) => e.event === 'warning');
    assert.match(String(w?.message), /no BatchNormalization nodes.*only the class term and the TV and l2 priors/);
    assert.equal(set.data.n, 20);
  });

  it('baselines: noise in range, unrelated images unlabelled, both labelled by the teacher', async () => {
    const n = await synthesize(ctx(withBn, 50), { method: 'noise' });
    assert.ok((n.data.x as Float32Array).every((v) => v >= 0 && v <= 1));
    const u = await synthesize(ctx(withBn, 50), { method: 'unrelated', options: { dataset: 'fashion-mnist' } });
    const fashion = bundledDataset('fashion-mnist', 'train');
    // The images are Fashion-MNIST's (some sample of them), their labels the teacher's, not Fashion-MNIST's.
    const first = Array.from((u.data.x as Float32Array).subarray(0, 784), (v) => Math.round(v * 255));
    let found = false;
    for (let i = 0; i < fashion.n && !found; i++) found = first.every((v, j) => v === fashion.x[i * 784 + j]);
    assert.ok(found, 'the first unrelated sample is a Fashion-MNIST training image');
    await assert.rejects(
      synthesize(ctx(withBn, 5), { method: 'unrelated', options: { dataset: 'fashion-mnist', colour: 1 } }),
      /dataFree\.colour/,
    );
  });

  it("the inversion objective's input gradient matches finite differences (class, BN statistics, TV and l2 terms)", async () => {
    // A smooth teacher (tanh, average pooling): ReLU and max-pool kinks would make finite differences of a real CNN
    // disagree wherever a pixel's step crosses one.
    // The second teacher takes 3 × 32 × 32 normalised images: the gradient also runs back through the input adapter
    // (grey repeated, the resize's interpolation MatMuls, mean and std) to the 28 × 28 samples.
    const adapted = adaptTeacher(smoothTeacher(true, [3, 32, 32]), {
      input: { channels: 3, size: [32, 32], mean: 0.4, std: 0.3 },
      sampleShape: shape,
    });
    for (const teacher of [smoothTeacher(), adapted]) {
      const g = inversionGraph(teacher, shape, { target: 1, temperature: 2, bn: 1, firstBn: 10, tv: 0.1, l2: 0.05 });
      assert.equal(g.bnLayers, 1);
      const s = await openInversion(g, 1);
      const rng = new Rng(3);
      const B = 4;
      const x = Float32Array.from({ length: B * 784 }, () => rng.next());
      const target = new Float32Array(B * 10);
      for (let i = 0; i < B; i++) target[i * 10 + i] = 1;
      const run = async (v: Float32Array) => {
        const feeds = { x: new ort.Tensor('float32', v, [B, ...shape]), target: new ort.Tensor('float32', target, [B, 10]) };
        const o = await s.run(feeds);
        return { loss: (o.loss.data as Float32Array)[0], grad: o.grad_x.data as Float32Array };
      };
      const worst = await worstFdError(x, run, rng);
      await s.release();
      assert.ok(worst < 0.05, `largest relative error ${worst}`);
    }
  });

  it("Adaptive DeepInversion: the objective with the competition term has the finite differences' input gradient", async () => {
    const competitor = new Model(linearDef(shape), 4);
    const terms = { target: 1, temperature: 2, bn: 1, firstBn: 10, tv: 0.1, l2: 0.05, competition: 2, competitionTemperature: 3 };
    const s = await openInversion(inversionGraph(smoothTeacher(), shape, terms, 'smooth', competitor), 1);
    const rng = new Rng(5);
    const B = 4;
    const x = Float32Array.from({ length: B * 784 }, () => rng.next());
    const target = new Float32Array(B * 10);
    for (let i = 0; i < B; i++) target[i * 10 + ((3 * i) % 10)] = 1;
    const run = async (v: Float32Array) => {
      const o = await s.run({ x: new ort.Tensor('float32', v, [B, ...shape]), target: new ort.Tensor('float32', target, [B, 10]) });
      const c = (o.competition_loss.data as Float32Array)[0];
      assert.ok(c > 1 - Math.LN2 && c <= 1, `competition term ${c}`);
      return { loss: (o.loss.data as Float32Array)[0], grad: o.grad_x.data as Float32Array };
    };
    const worst = await worstFdError(x, run, rng);
    await s.release();
    assert.ok(worst < 0.05, `largest relative error ${worst}`);
    assert.throws(() => inversionGraph(smoothTeacher(), shape, terms, 'smooth'), /competition term needs a competitor/);
  });

  it('the competition term 1 − JS(teacher ‖ student) and its input gradient match PyTorch', async () => {
    const f = JSON.parse(readFileSync(new URL('./fixtures/adi.json', import.meta.url), 'utf8'));
    const [N, D] = f.shape as number[],
      K = f.classes as number;
    const g = new Graph('linear-teacher');
    const x = g.input('x', 'float32', ['N', D]);
    const w = g.initializer('w', { dtype: 'float32', shape: [K, D], data: Float32Array.from(f.teacher_w) });
    const b = g.initializer('b', { dtype: 'float32', shape: [K], data: Float32Array.from(f.teacher_b) });
    g.output(op.gemm(x, w, b, { transB: true, name: 'logits' }));
    const student = new Model(linearDef([D], K), 0);
    student.values.get('w')!.set(f.student_w);
    student.values.get('b')!.set(f.student_b);
    for (const c of f.cases as { T: number; loss: number; grad_x: number[] }[]) {
      const terms = { target: 0, temperature: 1, bn: 0, firstBn: 1, tv: 0, l2: 0, competition: 1, competitionTemperature: c.T };
      const s = await openInversion(inversionGraph(toOnnx(g), [D], terms, 'linear', student), 1);
      const o = await s.run({ x: new ort.Tensor('float32', Float32Array.from(f.x), [N, D]) });
      await s.release();
      const loss = (o.loss.data as Float32Array)[0];
      assert.ok(Math.abs(loss - c.loss) < 1e-5, `T = ${c.T}: ${loss} vs PyTorch ${c.loss}`);
      const grad = o.grad_x.data as Float32Array;
      const scale = Math.max(...c.grad_x.map(Math.abs));
      c.grad_x.forEach((v, i) => assert.ok(Math.abs(grad[i] - v) < 1e-4 * scale, `T = ${c.T}, grad_x[${i}]: ${grad[i]} vs ${v}`));
    }
  });

  it("jitter and flip: the batch seen is torch.roll's (then mirrored), a permutation of the inputs", () => {
    const dims = [2, 1, 3, 4];
    const perm = new Int32Array(24);
    shiftPermutation(perm, dims, 1, -1, false);
    // torch.roll(x, (1, -1), (2, 3)): out[h][w] = in[(h − 1) mod 3][(w + 1) mod 4]; input (0, 0) lands at (1, 3).
    assert.equal(perm[0], 1 * 4 + 3);
    assert.equal(perm[12 + 2 * 4 + 0], 12 + 0 * 4 + 3);
    shiftPermutation(perm, dims, 0, 0, true);
    assert.equal(perm[1], 2);
    shiftPermutation(perm, dims, 2, 3, true);
    assert.deepEqual(
      [...perm].sort((a, b) => a - b),
      Array.from({ length: 24 }, (_, i) => i),
    );
  });

  it('Adaptive DeepInversion in rounds: the student is trained between them, and learns from the samples', async () => {
    const events: Record<string, unknown>[] = [];
    const set = await synthesize(
      ctx(withBn, 300, (e) => events.push(e)),
      {
        method: 'deepinversion',
        options: { steps: 60, jitter: 1, competition: { rounds: 3, epochs: 1, student: 'cnn-8-16' } },
      },
    );
    const rounds = events.filter((e) => e.event === 'competitor');
    assert.deepEqual(
      rounds.map((e) => e.samples),
      [128, 256],
    );
    const last = events.filter((e) => e.event === 'synth-batch').at(-1)!;
    assert.ok(Number(last.competition_loss) <= 1, `competition term ${last.competition_loss}`);
    await teachesEveryClass(set, withBn, 0.4);
    await assert.rejects(
      synthesize(ctx(withBn, 20), { method: 'deepinversion', options: { steps: 2, competition: {} } }),
      /needs a student to compete with/,
    );
  });

  it('Dirichlet draws average α / Σα; class similarity is 1 on the diagonal and 0 somewhere in each row', () => {
    const rng = new Rng(1);
    const alpha = [2, 0.5, 0.1, 1];
    const mean = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) dirichlet(rng, alpha).forEach((v, k) => (mean[k] += v / 4000));
    alpha.forEach((a, k) => assert.ok(Math.abs(mean[k] - a / 3.6) < 0.02, `component ${k}: ${mean[k]} vs ${a / 3.6}`));
    const w = finalLayerWeights(mlp);
    assert.equal(w.length, 10);
    assert.equal(w[0].length, 64);
    const sim = classSimilarity(w);
    sim.forEach((row, i) => {
      assert.equal(row[i], 1);
      assert.equal(Math.min(...row), 0);
    });
    assert.throws(() => finalLayerWeights(smoothTeacher(false)), /its output 'logits' is not made by a Gemm or MatMul/);
  });
});

describe('data-free in a config', () => {
  const teacherFile = () => {
    const f = join(dir, 'teacher.onnx');
    writeFileSync(f, withBn);
    return f;
  };
  const config = (extra: string[]) =>
    [
      'seed: 0',
      'threads: 1',
      'dataset: { name: mnist }',
      `teacher: { file: ${teacherFile()} }`,
      'student: { model: cnn-8-16 }',
      'loss: [{ method: kd, weight: 1, options: { temperature: 4 } }]',
      ...extra,
    ].join('\n');

  it('trains on synthesised samples and never reads the training split', async () => {
    const real = bundledDataset('mnist', 'test');
    registerBundledDataset('mnist', (split) => {
      if (split === 'train') throw new Error('the training split was read');
      return take(real, 500);
    });
    try {
      const out = join(dir, 'run-di');
      const cfg = parseConfig(
        config([`outDir: ${out}`, 'dataFree: { method: deepinversion, n: 300, steps: 60 }', 'epochs: 10']),
        join(dir, 'df.yaml'),
        configRegistry(),
      );
      assert.equal(cfg.stages.map((s) => s.name).join(), 'teacher,distilled', 'no baseline: there is no data to train it on');
      // The resolved config (what a run directory keeps) loads again as the same data-free run.
      const again = parseConfig(configToYaml(cfg), join(dir, 'again.yaml'), configRegistry());
      assert.deepEqual(again.stages[1].dataFree, cfg.stages[1].dataFree);
      const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
      assert.equal(s.trainSamples, 0);
      const student = s.rows.find((r) => r.role === 'distilled')!;
      assert.ok(student.testAccuracy > 0.3, `distilled on synthesised samples: ${student.testAccuracy}`);
      const log = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
      assert.match(log, /"event":"synth","method":"deepinversion","samples":330/);
      const preview = JSON.parse(readFileSync(join(out, 'distilled-synth.json'), 'utf8'));
      assert.deepEqual(preview.shape, [64, 1, 28, 28]);
      await writeRunReport(out);
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      const png = /<img class="synth"[^>]*src="data:image\/png;base64,([^"]+)"/.exec(html);
      assert.ok(png, 'the report shows the synthesised grid');
      const img = decodeImage(Buffer.from(png[1], 'base64'), 'grid.png');
      assert.equal(img.width, 8 * 29 + 1);
    } finally {
      registerBundledDataset('mnist', (split) => (split === 'train' ? mnistTrain : real));
    }
  });

  it('kdistill synth writes a grid of what a method makes', () => {
    const synth = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, 'synth', teacherFile(), ...args],
        {
          encoding: 'utf8',
        },
      );
    const out = join(dir, 'synth');
    const r = synth('--method', 'deepinversion', '--n', '12', '--option', 'steps=5', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /12 deepinversion samples/);
    const img = decodeImage(readFileSync(join(out, 'grid.png')), 'grid.png');
    assert.equal(img.width, 4 * 29 + 1);
    assert.equal(JSON.parse(readFileSync(join(out, 'samples.json'), 'utf8')).labels.length, 12);
    const bad = synth('--method', 'zskd', '--option', 'stepz=5');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /dataFree\.stepz: unknown option 'stepz' of dataFree method 'zskd'; its options: beta, temperature, steps/);
  });

  it('refuses what cannot work, naming the field', () => {
    const bad = (extra: string[], re: RegExp) =>
      assert.throws(
        () => parseConfig(config(['epochs: 1', ...extra]), join(dir, 'bad.yaml'), configRegistry()),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
      );
    bad(
      ['dataFree: { method: dafl2 }'],
      /dataFree\.method.*unknown dataFree method 'dafl2'; known: noise, unrelated, zskd, deepinversion/s,
    );
    bad(['dataFree: { method: zskd, temprature: 20 }'], /dataFree.*temprature/s);
    bad(['dataFree: { method: zskd, steps: 0 }'], /dataFree\.steps/);
    bad(['dataFree: { method: noise }', 'baseline: true'], /baseline.*nothing to train a student alone on/s);
  });
});
