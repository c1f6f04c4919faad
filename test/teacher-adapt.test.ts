import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { adaptTeacher, type AdaptTeacherOptions } from '../src/distill/teachers/adapt.js';
import { onnxKey } from '../src/distill/teachers/keys.js';
import { prepareTeacher } from '../src/distill/teachers/prepare.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { Graph } from '../src/graph/graph.js';
import { withInputNorm } from '../src/nn/input-norm.js';
import { Model } from '../src/nn/model.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { exportOnnx } from '../src/runtime/inference.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import * as op from '../src/graph/ops.js';
import * as lib from '../src/index.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { RunDir } from '../src/train/run-dir.js';
import { KdError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';

// Made by test/fixtures/make_adapt_teacher.py: a PyTorch CNN trained on MNIST grey → 3 channels, resized to 32×32
// (F.interpolate bilinear, align_corners=False), ImageNet mean/std; input `pixel_values`, softmax output `scores`.
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const teacherFile = join(fixtures, 'adapt_teacher.onnx');
const nhwcFile = join(fixtures, 'adapt_teacher_nhwc.onnx');
const teacher = new Uint8Array(readFileSync(teacherFile));
const nhwc = new Uint8Array(readFileSync(nhwcFile));
const fx = JSON.parse(readFileSync(join(fixtures, 'adapt_teacher.json'), 'utf8')) as {
  mean: number[];
  std: number[];
  size: [number, number];
  accuracy: number;
  pixels: number[][];
  labels: number[];
  logprobs: number[][];
};
const imagenet = { mean: fx.mean, std: fx.std, size: fx.size, channels: 3 as const };
const grey = [1, 28, 28];

/** The adapted model's outputs on the fixture's raw images as the core feeds them: [N, 1, 28, 28], pixels in [0, 1]. */
async function run(bytes: Uint8Array, name = 'logits'): Promise<{ inputs: readonly string[]; values: Float32Array }> {
  const s = await createSession(bytes, { threads: 1 });
  try {
    const x = Float32Array.from(fx.pixels.flat(), (v) => v / 255);
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [fx.pixels.length, ...grey]) }, [name]);
    return { inputs: s.inputNames, values: r[name].data as Float32Array };
  } finally {
    await s.release();
  }
}
const near = (got: ArrayLike<number>, want: readonly number[], tol: number) => {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `[${i}] ${got[i]} vs ${want[i]}`);
};

/** Asserts `f` throws (or rejects with) a KdError of `code` whose message holds every piece. */
async function refuses(f: () => unknown, code: string, pieces: readonly (string | RegExp)[]) {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof KdError, `expected a KdError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  for (const p of pieces)
    assert.ok(typeof p === 'string' ? err.message.includes(p) : p.test(err.message), `message lacks ${String(p)}:\n${err.message}`);
}

describe('teacher adapters compiled into the ONNX graph', () => {
  it('raw 1×28×28 pixels through the adapted PyTorch teacher give the log of its probabilities (within 1e-4)', async () => {
    const bytes = adaptTeacher(teacher, {
      input: { name: 'pixel_values', ...imagenet, layout: 'NCHW' },
      output: { name: 'scores', kind: 'probs' },
      sampleShape: grey,
      source: 'adapt_teacher.onnx',
    });
    const r = await run(bytes);
    assert.deepEqual(r.inputs, ['pixel_values_raw']);
    near(r.values, fx.logprobs.flat(), 1e-4);
    const m = parseOnnx(bytes);
    assert.deepEqual(
      m.graph!.output.map((o) => o.name),
      ['logits'],
    );
    // Still one model, with the teacher's nodes (and their PyTorch names) after the adapter's.
    assert.ok(
      m.graph!.node.some((n) => n.opType === 'MatMul' && n.name.startsWith('kdistill_adapt/')) &&
        m.graph!.node.some((n) => n.output.includes('/c1/Conv_output_0')),
    );
    // A changed model gets a new cache key, and so does another adapter.
    const other = adaptTeacher(teacher, { input: { ...imagenet, std: 0.25 }, output: { kind: 'probs' }, sampleShape: grey });
    assert.equal(new Set([onnxKey(teacher), onnxKey(bytes), onnxKey(other)]).size, 3);
  });

  it('a teacher exported with its batch fixed to 1 runs on a batch; one whose graph fixes it is refused with what to do', async () => {
    const adapt = (file: string) =>
      adaptTeacher(new Uint8Array(readFileSync(join(fixtures, file))), {
        input: { name: 'pixel_values', ...imagenet },
        output: { kind: 'probs' },
        sampleShape: grey,
        source: file,
      });
    // Six images at once through a file that declares [1, 3, 32, 32] and [1, 10]: PyTorch's numbers.
    near((await run(adapt('adapt_teacher_batch1.onnx'))).values, fx.logprobs.flat(), 1e-4);
    await refuses(
      () => prepareTeacher(adapt('adapt_teacher_view1.onnx'), [{ method: 'kd', weight: 1 }], 'adapt_teacher_view1.onnx', grey, 10),
      'SHAPE_MISMATCH',
      ['adapt_teacher_view1.onnx runs on one sample but not on a batch of two', "dynamic_axes={input_name: {0: 'batch'}", 'x.flatten(1)'],
    );
  });

  it('a teacher on flattened pixels ([N, 784], an MLP on x.view(-1, 784)) gets the images flattened, normalised first', async () => {
    const g = new Graph('mlp');
    const rng = new Rng(5);
    const wt = g.initializer('w', {
      dtype: 'float32',
      shape: [784, 10],
      data: Float32Array.from({ length: 7840 }, () => rng.next() - 0.5),
    });
    g.output(op.identity(op.matmul(g.input('input', 'float32', ['N', 784]), wt), 'logits'));
    const flat = toOnnx(g);
    const bytes = adaptTeacher(flat, { input: { mean: 0.5, std: 0.25 }, sampleShape: grey, source: 'mlp.onnx' });
    const x = Float32Array.from(fx.pixels.flat(), (v) => v / 255);
    const direct = await createSession(flat, { threads: 1 });
    const want = (
      await direct.run({
        input: new ort.Tensor(
          'float32',
          x.map((v) => (v - 0.5) / 0.25),
          [fx.pixels.length, 784],
        ),
      })
    ).logits;
    await direct.release();
    near((await run(bytes)).values, Array.from(want.data as Float32Array), 1e-4);
    // Without adapters too: the preflight takes the data as it is.
    const plain = adaptTeacher(flat, { sampleShape: grey, source: 'mlp.onnx' });
    assert.deepEqual((await prepareTeacher(plain, [{ method: 'kd', weight: 1 }], 'mlp.onnx', grey, 10)).shapes.logits, [10]);
  });

  it("the resize is PyTorch's bilinear interpolation at every size (up, down, to 1), as ORT's Resize computes it", async () => {
    const g = new Graph('id');
    g.output(op.identity(g.input('x', 'float32', ['N', 1, 'H', 'W']), 'logits'));
    const identity = toOnnx(g);
    const rng = new Rng(3);
    for (const [from, to] of [
      [
        [28, 28],
        [32, 32],
      ],
      [
        [28, 20],
        [11, 57],
      ],
      [
        [5, 7],
        [1, 1],
      ],
    ] as const) {
      const x = Float32Array.from({ length: 2 * from[0] * from[1] }, () => rng.next());
      const out = async (sampleShape?: number[]) => {
        const bytes = adaptTeacher(identity, { input: { size: [to[0], to[1]] }, sampleShape, source: 'id.onnx' });
        const s = await createSession(bytes, { threads: 1 });
        try {
          const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [2, 1, from[0], from[1]]) }, ['logits']);
          return r.logits.data as Float32Array;
        } finally {
          await s.release();
        }
      };
      // With the data's shape the adapter multiplies by interpolation matrices; without it, ORT's Resize does the work.
      near(await out([1, from[0], from[1]]), Array.from(await out()), 1e-5);
    }
  });

  it('a channels-last teacher gets the images transposed (layout: NHWC)', async () => {
    const bytes = adaptTeacher(nhwc, { input: { ...imagenet, layout: 'NHWC' }, output: { kind: 'probs' }, sampleShape: grey });
    near((await run(bytes)).values, fx.logprobs.flat(), 1e-4);
  });

  it('without the data shape (library use) the grey images are repeated at run time and the input dims are left open', async () => {
    const bytes = lib.adaptTeacher(teacher, { input: imagenet, output: { kind: 'probs' } });
    near((await run(bytes)).values, fx.logprobs.flat(), 1e-4);
    const dims = parseOnnx(bytes).graph!.input[0].type!.value.value!;
    assert.ok('shape' in dims && dims.shape!.dim.length === 4);
  });

  it("kind logits and logprobs pass the scores through as they are, exposed as 'logits'", async () => {
    const probs = fx.logprobs.flat().map(Math.exp);
    for (const kind of ['logits', 'logprobs'] as const) {
      const bytes = adaptTeacher(teacher, { input: imagenet, output: { name: 'scores', kind }, sampleShape: grey });
      near((await run(bytes)).values, probs, 1e-5);
    }
    // An output adapter alone leaves the input as it is.
    const outOnly = adaptTeacher(teacher, { output: { kind: 'probs' } });
    assert.deepEqual(
      parseOnnx(outOnly).graph!.input.map((i) => i.name),
      ['pixel_values'],
    );
    // Without adapters the one output (here 'scores', an exporter's name) becomes 'logits'; a file with 'logits' is left as it is.
    const renamed = adaptTeacher(teacher, {});
    assert.deepEqual(
      parseOnnx(renamed).graph!.output.map((o) => o.name),
      ['logits'],
    );
    assert.equal(adaptTeacher(renamed, {}), renamed);
  });

  it('probabilities of exactly 0 become a finite logit, and a value already named logits steps aside', async () => {
    const g = new Graph('probs');
    const x = g.input('x', 'float32', ['N', 3]);
    g.output(op.relu(x, 'logits'));
    const bytes = adaptTeacher(toOnnx(g), { output: { name: 'logits', kind: 'probs' } });
    const s = await createSession(bytes, { threads: 1 });
    const r = await s.run({ x: new ort.Tensor('float32', Float32Array.of(0, 0.5, -1), [1, 3]) });
    await s.release();
    const v = r.logits.data as Float32Array;
    assert.ok(v.every(Number.isFinite), String(v));
    near([v[1]], [Math.log(0.5)], 1e-6);
    assert.ok(parseOnnx(bytes).graph!.node.some((n) => n.output.includes('logits_probs')));
  });

  it("the adapted teacher is prepared for a loss like any other: logits of 10, features by PyTorch's node names", async () => {
    const bytes = adaptTeacher(teacher, { input: imagenet, output: { kind: 'probs' }, sampleShape: grey });
    const kd = [{ method: 'kd', weight: 1, options: {} }];
    const p = await prepareTeacher(bytes, kd, 'adapt_teacher.onnx', grey, 10, ['/Relu_2_output_0']);
    assert.deepEqual(p.shapes, { logits: [10], '/Relu_2_output_0': [16, 4, 4] });
  });

  it("a student's input normalisation is its first nodes: the model on raw data is the plain model on normalised data", async () => {
    const def = zooModel('cnn-4-8', [3, 8, 8], 5);
    const mean = [0.4, 0.5, 0.6];
    const std = [0.2, 0.25, 0.3];
    const plain = new Model(def, 1);
    const normed = new Model(withInputNorm(def, { mean, std }), 1);
    assert.deepEqual(normed.trainableNames(), plain.trainableNames());
    const x = Float32Array.from({ length: 2 * 3 * 64 }, (_, i) => ((i * 37) % 101) / 100);
    const xn = x.map((v, i) => (v - mean[Math.floor(i / 64) % 3]) / std[Math.floor(i / 64) % 3]);
    const out = async (bytes: Uint8Array, data: Float32Array) => {
      const s = await createSession(bytes, { threads: 1 });
      const r = await s.run({ x: new ort.Tensor('float32', data, [2, 3, 8, 8]) });
      await s.release();
      return r.logits.data as Float32Array;
    };
    near(await out(exportOnnx(normed), x), Array.from(await out(exportOnnx(plain), xn)), 1e-5);
    await refuses(() => withInputNorm(def, { mean: [0.5, 0.5] }), 'BAD_ADAPTER', [
      "student.input.mean has 2 values but model 'cnn-4-8' takes 3 channels",
    ]);
  });

  it('a config distils through teacher input: and output: (MNIST, 300 samples, 1 epoch)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-adapt-'));
    const file = join(dir, 'adapt.yaml');
    writeFileSync(
      file,
      [
        'name: adapt',
        'threads: 2',
        `outDir: ${join(dir, 'out')}`,
        'dataset: { name: mnist, trainPerClass: 30 }',
        'teacher:',
        `  file: ${teacherFile}`,
        `  input: { name: pixel_values, mean: [${fx.mean}], std: [${fx.std}], size: [32, 32], layout: NCHW, channels: 3 }`,
        '  output: { name: scores, kind: probs }',
        'student: { model: mlp-784-32-10, input: { mean: 0.1307, std: 0.3081 } }',
        'loss:',
        '  - { method: kd, weight: 1, options: { temperature: 2 } }',
        'baseline: false',
        'epochs: 1',
        'batchSize: 10',
        'optimizer: { name: adam, lr: 0.003 }',
      ].join('\n'),
    );
    const cfg = parseConfig(readFileSync(file, 'utf8'), file, configRegistry());
    assert.deepEqual(cfg.stages[0].output, { name: 'scores', kind: 'probs' });
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    const [t, d] = s.rows;
    // The teacher scores on the whole test set as PyTorch measured it on the first 1000 (94.9%): the adapter is its preprocessing.
    assert.ok(t.testAccuracy > 0.92, `teacher through its adapter: ${t.testAccuracy}`);
    // 30 steps on 300 samples (chance is 10%): the teacher's answers got through.
    assert.ok(d.testAccuracy > 0.3, `student distilled from it on 300 samples: ${d.testAccuracy}`);
    // The student normalises its own input, in its graph: the exported student takes the data as the core feeds it.
    assert.deepEqual(cfg.stages[1].input, { mean: 0.1307, std: 0.3081 });
    const student = parseOnnx(readFileSync(join(cfg.outDir, 'student.onnx')));
    assert.deepEqual(
      student.graph!.node.slice(0, 2).map((n) => n.opType),
      ['Sub', 'Div'],
    );
    // The run directory's teacher.onnx is the adapted model the student learned from.
    assert.deepEqual(
      parseOnnx(readFileSync(join(cfg.outDir, 'teacher.onnx'))).graph!.output.map((o) => o.name),
      ['logits'],
    );
  });

  it('stages: file teachers and file stages take the same keys, other teachers do not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-adapt-stages-'));
    const yaml = (teachers: string) =>
      [
        'dataset: { name: mnist }',
        'epochs: 1',
        'stages:',
        `  - { name: big, file: ${teacherFile}, input: { channels: 3, size: [32, 32] }, output: { kind: probs } }`,
        `  - { name: small, model: mlp-784-16-10, teachers: [${teachers}] }`,
      ].join('\n');
    const cfg = parseConfig(
      yaml(`{ file: ${nhwcFile}, input: { layout: NHWC, channels: 3, size: [32, 32] } }`),
      join(dir, 's.yaml'),
      configRegistry(),
    );
    assert.deepEqual(cfg.stages[0].input, { channels: 3, size: [32, 32] });
    assert.deepEqual(cfg.stages[1].teachers[0].input, { layout: 'NHWC', channels: 3, size: [32, 32] });
    // A trained stage's own input takes mean and std (its model normalises them), not a teacher file's conversions.
    const trained = [
      'dataset: { name: mnist }',
      'epochs: 1',
      'stages:',
      '  - { name: a, model: mlp-784-16-10, input: { mean: 0.13, std: 0.31 } }',
      '  - { name: b, model: mlp-784-16-10, input: { size: [32, 32] }, output: { kind: probs } }',
    ].join('\n');
    assert.throws(
      () => parseConfig(trained, join(dir, 't.yaml'), configRegistry()),
      (e: KdError) =>
        e.code === 'BAD_CONFIG' &&
        e.message.includes("stages[1].input.size: 'size' adapts an ONNX 'file' stage; a trained stage's model normalises its input") &&
        e.message.includes("stages[1].output: 'output' adapts an ONNX 'file' stage") &&
        !e.message.includes('stages[0]'),
    );
    assert.throws(
      () => parseConfig(yaml('{ stage: big, input: { channels: 3 } }'), join(dir, 's.yaml'), configRegistry()),
      (e: KdError) => e.code === 'BAD_CONFIG' && /stages\[1\]\.teachers\[0\]\.input: 'input' adapts an ONNX 'file'/.test(e.message),
    );
  });
});

describe('teacher adapters: bad input is refused before training, naming the file, the key and what to do', () => {
  const config = (teacherLines: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-adapt-bad-'));
    const text = [
      'dataset: { name: mnist }',
      'teacher:',
      ...teacherLines.map((l) => `  ${l}`),
      'student: { model: mlp-784-16-10 }',
      'loss: [{ method: kd }]',
      'epochs: 1',
    ];
    return () => parseConfig(text.join('\n'), join(dir, 'bad.yaml'), configRegistry());
  };
  const cases: { name: string; run: () => unknown; code: string; expect: (string | RegExp)[] }[] = [
    {
      name: 'config: input.mean of the wrong length for channels',
      run: config([`file: ${teacherFile}`, 'input: { mean: [0.5, 0.5], channels: 3 }']),
      code: 'BAD_CONFIG',
      expect: [/bad\.yaml:\d+:\d+: teacher\.input\.mean: 2 values, but channels is 3: give one value per channel \(3\), or one for all/],
    },
    {
      name: 'library: input.mean of the wrong length for the data',
      run: () => adaptTeacher(teacher, { input: { mean: [0.5, 0.5] }, sampleShape: [3, 32, 32], source: 't.onnx' }),
      code: 'BAD_ADAPTER',
      expect: ["t.onnx: teacher.input.mean has 2 values but the teacher's input gets 3 channels", 'one value per channel (3)'],
    },
    {
      name: 'config: size not two positive integers',
      run: config([`file: ${teacherFile}`, 'input: { size: [32] }']),
      code: 'BAD_CONFIG',
      expect: ['teacher.input.size: two positive integers [height, width]'],
    },
    {
      name: 'library: size with a zero',
      run: () => adaptTeacher(teacher, { input: { size: [32, 0] as unknown as [number, number] }, source: 't.onnx', key: 'stages[0]' }),
      code: 'BAD_ADAPTER',
      expect: ['t.onnx: stages[0].input.size: two positive integers [height, width]'],
    },
    {
      name: 'config: layout not NCHW/NHWC',
      run: config([`file: ${teacherFile}`, 'input: { layout: CHW }']),
      code: 'BAD_CONFIG',
      expect: [/bad\.yaml:\d+:\d+: teacher\.input\.layout: expected one of 'NCHW', 'NHWC', got "CHW"; did you mean 'NCHW'\?/],
    },
    {
      name: 'config: channels not 1/3',
      run: config([`file: ${teacherFile}`, 'input: { channels: 2 }']),
      code: 'BAD_CONFIG',
      expect: ['teacher.input.channels: 1 or 3'],
    },
    {
      name: 'config: output.kind unknown',
      run: config([`file: ${teacherFile}`, 'output: { kind: softmax }']),
      code: 'BAD_CONFIG',
      expect: [`teacher.output.kind: expected one of 'logits', 'probs', 'logprobs', got "softmax"`],
    },
    {
      name: 'config: adapters on a zoo teacher',
      run: config(['model: cnn-8-16', 'input: { channels: 3 }']),
      code: 'BAD_CONFIG',
      expect: ["teacher.input: 'input' adapts a teacher 'file' to the data"],
    },
    {
      name: "config: a student's input takes mean and std only",
      run: () => {
        const dir = mkdtempSync(join(tmpdir(), 'kd-adapt-student-'));
        const text = [
          'dataset: { name: mnist }',
          `teacher: { file: ${teacherFile} }`,
          'student: { model: mlp-784-16-10, input: { mean: 0.5, size: [32, 32] } }',
          'loss: [{ method: kd }]',
          'epochs: 1',
        ];
        return parseConfig(text.join('\n'), join(dir, 'bad.yaml'), configRegistry());
      },
      code: 'BAD_CONFIG',
      expect: [/bad\.yaml:3:\d+: student\.input\.size: unknown key 'size'; expected one of: mean, std/],
    },
    {
      name: 'library: unknown key',
      run: () => adaptTeacher(teacher, { input: { mean: 0.5, scale: 2 } as AdaptTeacherOptions['input'], source: 't.onnx' }),
      code: 'BAD_ADAPTER',
      expect: ["t.onnx: teacher.input: unknown key 'scale'"],
    },
    {
      name: 'an input name the model does not have',
      run: () => adaptTeacher(teacher, { input: { name: 'images' }, source: 'resnet.onnx' }),
      code: 'UNKNOWN_INPUT',
      expect: ["resnet.onnx has no input named 'images' (its inputs: 'pixel_values' float32[N, 3, 32, 32]); set teacher.input.name"],
    },
    {
      name: 'an output name the model does not have',
      run: () => adaptTeacher(teacher, { output: { name: 'probs' }, source: 'resnet.onnx' }),
      code: 'UNKNOWN_OUTPUT',
      expect: ["resnet.onnx has no output named 'probs' (its outputs: 'scores'); set teacher.output.name"],
    },
    {
      name: 'several outputs, none named logits, none chosen',
      run: () => {
        const g = new Graph('two-out');
        const x = g.input('x', 'float32', ['N', 3]);
        g.output(op.relu(x, 'a'), op.sigmoid(x, 'b'));
        return adaptTeacher(toOnnx(g), { output: { kind: 'probs' }, source: 'two.onnx' });
      },
      code: 'NO_LOGITS',
      expect: ["two.onnx has 2 outputs ('a', 'b') and none is named 'logits'", 'teacher.output.name'],
    },
    {
      name: 'a teacher with several inputs and none chosen',
      run: () => adaptTeacher(twoInputs(), { input: { mean: 0.5 }, source: 'two.onnx' }),
      code: 'BAD_MODEL',
      expect: ["two.onnx takes 2 inputs ('a' float32[N, 4], 'b' float32[N, 4])", 'teacher.input.name', "'b' would have no value"],
    },
    {
      name: 'a teacher with several inputs, one chosen',
      run: () => adaptTeacher(twoInputs(), { input: { name: 'a' }, source: 'two.onnx' }),
      code: 'BAD_MODEL',
      expect: ["besides 'a'", "'b' would have no value", 'export the teacher with the samples as its only input'],
    },
    {
      name: 'a teacher whose input cannot take the adapted tensor',
      run: () => adaptTeacher(teacher, { input: { mean: 0.5 }, sampleShape: grey, source: 'resnet.onnx' }),
      code: 'SHAPE_MISMATCH',
      expect: [
        "resnet.onnx takes input 'pixel_values' as float32[N, 3, 32, 32], i.e. samples of [3, 32, 32]",
        "teacher.input turns the data's [1, 28, 28] samples into [1, 28, 28]",
        'set teacher.input: { channels: 3, size: [32, 32] }',
      ],
    },
    {
      name: 'a channels-last teacher adapted as channels-first',
      run: () => adaptTeacher(nhwc, { input: imagenet, sampleShape: grey, source: 'keras.onnx', key: 'stages[1].teachers[0]' }),
      code: 'SHAPE_MISMATCH',
      expect: [
        'samples of [32, 32, 3]',
        'into [3, 32, 32]',
        'set stages[1].teachers[0].input: { channels: 3, size: [32, 32], layout: NHWC }',
      ],
    },
    {
      name: 'image keys on samples that are not images',
      run: () => adaptTeacher(teacher, { input: { size: [32, 32] }, sampleShape: [784], source: 't.onnx' }),
      code: 'BAD_ADAPTER',
      expect: ["t.onnx: teacher.input: size, layout and channels convert images [C, H, W]; the data's samples are [784]"],
    },
    {
      name: 'channels: 1 for 3-channel data',
      run: () => adaptTeacher(teacher, { input: { channels: 1 }, sampleShape: [3, 32, 32], source: 't.onnx' }),
      code: 'BAD_ADAPTER',
      expect: ["teacher.input.channels: 1 takes grey images, but the data's have 3 channels"],
    },
    {
      name: 'preflight: an unadapted teacher of another size points at input:',
      run: () => prepareTeacher(adaptTeacher(teacher, { output: { kind: 'probs' } }), [], 'resnet.onnx', grey, 10),
      code: 'SHAPE_MISMATCH',
      expect: ["data's samples are [1, 28, 28]", 'give the teacher an input adapter, `input: { channels: 3, size: [32, 32] }`'],
    },
    {
      name: 'preflight: a teacher without logits points at output:',
      run: () => prepareTeacher(teacher, [], 'resnet.onnx', [3, 32, 32], 10),
      code: 'NO_LOGITS',
      expect: ["resnet.onnx has no output named 'logits' (its outputs: scores)", '`output: { name, kind }`'],
    },
  ];
  for (const c of cases) it(c.name, () => refuses(c.run, c.code, c.expect));

  it('a config with a wrong input name is refused before training, naming the file and the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-adapt-name-'));
    const file = join(dir, 'name.yaml');
    const text = [
      `outDir: ${join(dir, 'out')}`,
      'dataset: { name: mnist, trainPerClass: 5 }',
      `teacher: { file: ${teacherFile}, input: { name: image, channels: 3, size: [32, 32] }, output: { kind: probs } }`,
      'student: { model: mlp-784-16-10 }',
      'loss: [{ method: kd }]',
      'epochs: 1',
    ].join('\n');
    const cfg = parseConfig(text, file, configRegistry());
    await refuses(() => runExperiment(cfg, { runDir: new RunDir(cfg.outDir) }), 'UNKNOWN_INPUT', [
      `${teacherFile} has no input named 'image'`,
      "'pixel_values' float32[N, 3, 32, 32]",
      'set teacher.input.name',
    ]);
  });
});

function twoInputs(): Uint8Array {
  const g = new Graph('two');
  g.output(op.add(g.input('a', 'float32', ['N', 4]), g.input('b', 'float32', ['N', 4]), 'logits'));
  return toOnnx(g);
}
