import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configRegistry } from '../src/cli/run.js';
import { configToYaml, loadConfig, readConfigFile } from '../src/config/index.js';
import { RunDir } from '../src/train/run-dir.js';
import { runExperiment } from '../src/train/runner.js';

describe('kdistill run (config → teacher → baseline → distilled → summary)', () => {
  it('a smoke distillation on MNIST writes the run directory and beats chance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-run-'));
    const file = join(dir, 'smoke.yaml');
    writeFileSync(file, [
      'name: smoke', 'seed: 3', 'threads: 2', `outDir: ${join(dir, 'out')}`,
      'dataset: { name: mnist, validation: { perClass: 50 } }',
      'teacher: { model: mlp-784-64-10, train: { epochs: 1 } }',
      'student: { model: mlp-784-8-10 }',
      'loss:', '  - { method: ce, weight: 0.5 }', '  - { method: kd, weight: 0.5, options: { temperature: 4 } }',
      'epochs: 1', 'batchSize: 256', 'checkpointEvery: 100',
    ].join('\n'));
    const cfg = loadConfig(file, configRegistry());
    const rd = new RunDir(cfg.outDir);
    rd.start({ configText: readConfigFile(file), resolvedText: configToYaml(cfg), seed: cfg.seed, command: ['test'] });
    const s = await runExperiment(cfg, rd);
    for (const f of ['config.yaml', 'config.resolved.yaml', 'run.json', 'metrics.jsonl', 'summary.json', 'teacher.onnx', 'baseline.onnx', 'student.onnx', 'checkpoints/distilled-last.ckpt'])
      assert.ok(existsSync(rd.path(f)), `${f} missing from the run directory`);
    const summary = JSON.parse(readFileSync(rd.path('summary.json'), 'utf8'));
    assert.deepEqual(summary.rows.map((r: { role: string }) => r.role), ['teacher', 'baseline', 'distilled']);
    assert.deepEqual(s.rows.map((r) => r.testAccuracy), summary.rows.map((r: { testAccuracy: number }) => r.testAccuracy));
    const distilled = s.rows[2];
    assert.ok(distilled.testAccuracy > 0.5, `distilled student at ${distilled.testAccuracy}, chance is 0.1`);
    assert.ok(distilled.agreement > 0.5);
    assert.equal(s.validationSamples, 500);
    const events = readFileSync(rd.path('metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const kdSteps = events.filter((e) => e.stage === 'distilled' && typeof e.step === 'number');
    assert.equal(kdSteps.length, Math.ceil(59500 / 256));
    assert.ok(kdSteps.every((e) => Number.isFinite(e.ce) && Number.isFinite(e.kd) && Number.isFinite(e.loss)));
    assert.ok(events.some((e) => e.stage === 'distilled' && e.event === 'epoch' && typeof e.valAccuracy === 'number'));
    const run = JSON.parse(readFileSync(rd.path('run.json'), 'utf8'));
    assert.equal(run.seed, 3);
    assert.ok(run.versions['onnxruntime-node']);
  });
});
