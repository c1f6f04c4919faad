/**
 * The Node-free config resolver: everything it knows of the process comes in its context, and the
 * schema it builds both validates and resolves (z.input is what a user writes, z.output what a run gets).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, configSchema, parseConfig, type ConfigInput, type ConfigRegistry } from '../src/config/index.js';
import { optimizerFrom, optimizerSpec } from '../src/optim/index.js';

const registry: ConfigRegistry = {
  methods: new Map([
    ['ce', { options: z.object({}) }],
    ['kd', { options: z.object({ temperature: z.number().positive().default(4) }) }],
  ]),
  models: (n) => n === 'cnn-4-8' || n === 'cnn-8-16',
};
const text = [
  'dataset: { name: csv, path: rows.csv }',
  'teacher: { model: cnn-8-16, train: { epochs: 3 } }',
  'student: { model: cnn-4-8 }',
  'loss: [{ method: kd }]',
  'epochs: 2',
].join('\n');

describe('config: the pure resolver', () => {
  it('takes the working directory and thread count from its context, never from the process', () => {
    const c = parseConfig(text, 'exp/run.yaml', registry, { cwd: '/base', threads: 3 });
    assert.equal(c.name, 'run');
    assert.equal(c.threads, 3);
    assert.equal(c.outDir, '/base/runs/run');
    assert.equal(c.cacheDir, '/base/.cache/kdistill/teachers');
    assert.ok('path' in c.dataset);
    assert.equal(c.dataset.path, '/base/exp/rows.csv');
    assert.deepEqual(c.loss, [{ method: 'kd', weight: 1, options: { temperature: 4 } }]);
    const moved = parseConfig(text, 'exp/run.yaml', registry, { cwd: '/base', threads: 3, dir: '/data' });
    assert.ok('path' in moved.dataset);
    assert.equal(moved.dataset.path, '/data/rows.csv');
  });

  it('checks input files through the probe it is given, at the line they are written', () => {
    const asked: string[] = [];
    const probe = (kind: 'file' | 'directory' | undefined) => (p: string) => {
      asked.push(p);
      return kind;
    };
    assert.doesNotThrow(() => parseConfig(text, '/e/x.yaml', registry, { cwd: '/', threads: 1, checkFiles: probe('file') }));
    assert.deepEqual(asked, ['/e/rows.csv']);
    assert.throws(
      () => parseConfig(text, '/e/x.yaml', registry, { cwd: '/', threads: 1, checkFiles: probe(undefined) }),
      (e: unknown) => e instanceof ConfigError && /x\.yaml:1:29: dataset\.path: no such file: \/e\/rows\.csv/.test(e.message),
    );
    assert.throws(
      () => parseConfig(text, '/e/x.yaml', registry, { cwd: '/', threads: 1, checkFiles: probe('directory') }),
      /dataset\.path: \/e\/rows\.csv is not a file/,
    );
  });

  it('one schema validates and resolves: an object typed as ConfigInput parses to what the YAML gives', () => {
    const input: ConfigInput = {
      dataset: { name: 'csv', path: 'rows.csv' },
      teacher: { model: 'cnn-8-16', train: { epochs: 3 } },
      student: { model: 'cnn-4-8' },
      loss: [{ method: 'kd' }],
      epochs: 2,
    };
    const context = { cwd: '/base', threads: 3 };
    const resolved = configSchema(registry, 'exp/run.yaml', context).parse(input);
    assert.deepEqual(resolved, parseConfig(text, 'exp/run.yaml', registry, context));
    // The zoo teacher's recipe is its own where it says so, the run's elsewhere.
    assert.ok(resolved.teacher && 'train' in resolved.teacher);
    assert.equal(resolved.teacher.train.epochs, 3);
    assert.equal(resolved.teacher.train.batchSize, resolved.batchSize);
    assert.ok(Object.isFrozen(resolved.stages[0]));
  });

  it("optim's spec fills PyTorch's defaults and builds the optimizer they describe", () => {
    assert.deepEqual(optimizerFrom(optimizerSpec.parse({ name: 'adamw' })).describe(), {
      name: 'adamw',
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
    });
    const sgd = optimizerFrom(optimizerSpec.parse({ name: 'sgd', lr: 0.1, momentum: 0.9 }));
    assert.deepEqual(sgd.slots, ['momentum']);
    assert.deepEqual(sgd.describe(), { name: 'sgd', momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 });
  });
});
