import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configRegistry } from '../src/cli/run.js';
import { configToYaml, loadConfig, readConfigFile } from '../src/config/node/index.js';
import { RunDir } from '../src/train/run-dir.js';
import { runExperiment } from '../src/frontends/run-config.js';

describe('kdistill run (config → teacher → baseline → distilled → summary)', () => {
  it('a smoke distillation on MNIST writes the run directory and beats chance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-run-'));
    const file = join(dir, 'smoke.yaml');
    writeFileSync(
      file,
      [
        'name: smoke',
        'seed: 3',
        'threads: 2',
        `outDir: ${join(dir, 'out')}`,
        'dataset: { name: mnist, validation: { perClass: 50 } }',
        'teacher: { model: mlp-784-64-10, train: { epochs: 1 } }',
        'student: { model: mlp-784-8-10 }',
        'loss:',
        '  - { method: ce, weight: 0.5 }',
        '  - { method: kd, weight: 0.5, options: { temperature: 4 } }',
        'epochs: 1',
        'batchSize: 256',
        'checkpointEvery: 100',
      ].join('\n'),
    );
    const cfg = loadConfig(file, configRegistry());
    const rd = new RunDir(cfg.outDir);
    rd.start({ configText: readConfigFile(file), resolvedText: configToYaml(cfg), seed: cfg.seed, command: ['test'] });
    const s = await runExperiment(cfg, { runDir: rd });
    for (const f of [
      'config.yaml',
      'config.resolved.yaml',
      'run.json',
      'metrics.jsonl',
      'summary.json',
      'teacher.onnx',
      'baseline.onnx',
      'student.onnx',
      'stages.json',
      'checkpoints/distilled-best.ckpt',
    ])
      assert.ok(existsSync(rd.path(f)), `${f} missing from the run directory`);
    // Every 100 steps and at the epoch end (233 steps), of which the newest two are kept.
    assert.deepEqual(
      readdirSync(rd.checkpoints)
        .filter((f) => f.startsWith('distilled-step'))
        .sort(),
      ['distilled-step200.ckpt', 'distilled-step233.ckpt'],
    );
    const summary = JSON.parse(readFileSync(rd.path('summary.json'), 'utf8'));
    assert.deepEqual(
      summary.rows.map((r: { role: string }) => r.role),
      ['teacher', 'baseline', 'distilled'],
    );
    assert.deepEqual(
      s.rows.map((r) => r.testAccuracy),
      summary.rows.map((r: { testAccuracy: number }) => r.testAccuracy),
    );
    const distilled = s.rows[2];
    assert.ok(distilled.testAccuracy > 0.5, `distilled student at ${distilled.testAccuracy}, chance is 0.1`);
    assert.ok((distilled.agreement ?? 0) > 0.5);
    assert.equal(s.rows[0].agreement, null, 'the teacher row is the reference: no agreement with itself');
    assert.equal(s.rows[0].agreeWith, null);
    assert.equal(s.validationSamples, 500);
    const events = readFileSync(rd.path('metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const kdSteps = events.filter((e) => e.stage === 'distilled' && typeof e.step === 'number');
    assert.equal(kdSteps.length, Math.ceil(59500 / 256));
    assert.ok(kdSteps.every((e) => Number.isFinite(e.ce) && Number.isFinite(e.kd) && Number.isFinite(e.loss)));
    assert.ok(events.some((e) => e.stage === 'distilled' && e.event === 'epoch' && typeof e.valAccuracy === 'number'));
    const run = JSON.parse(readFileSync(rd.path('run.json'), 'utf8'));
    assert.equal(run.seed, 3);
    assert.ok(run.versions['onnxruntime-node']);
  });
});

describe('kdistill run on own data', () => {
  const run = async (dir: string, lines: string[]) => {
    const file = join(dir, 'cfg.yaml');
    writeFileSync(
      file,
      [
        `outDir: ${join(dir, 'out')}`,
        'seed: 5',
        'threads: 2',
        'loss:',
        '  - { method: ce, weight: 0.5 }',
        '  - { method: kd, weight: 0.5 }',
        ...lines,
      ].join('\n'),
    );
    const cfg = loadConfig(file, configRegistry());
    const rd = new RunDir(cfg.outDir);
    return runExperiment(cfg, { runDir: rd });
  };

  it('CSV (tabular, standardised with training statistics)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-csv-'));
    // Three separable blobs in 4 features, with scales that need standardising.
    const rows = ['a,b,c,d,species'];
    let s = 1;
    const rnd = () => {
      s = (s * 16807) % 2147483647;
      return s / 2147483647 - 0.5;
    };
    for (let i = 0; i < 600; i++) {
      const k = i % 3;
      rows.push(
        [k * 100 + rnd() * 40, k * 0.5 + rnd() * 0.2, rnd(), 1000 + k * 50 + rnd() * 20, ['setosa', 'versicolor', 'virginica'][k]]
          .map((v) => (typeof v === 'number' ? v.toFixed(3) : v))
          .join(','),
      );
    }
    writeFileSync(join(dir, 'blobs.csv'), rows.join('\n'));
    const r = await run(dir, [
      'dataset: { name: csv, path: blobs.csv, options: { label: species } }',
      'teacher: { model: mlp-4-32-3 }',
      'student: { model: mlp-4-8-3 }',
      'epochs: 20',
      'batchSize: 32',
      'optimizer: { name: adam, lr: 0.02 }',
    ]);
    assert.equal(r.testSamples, 120);
    assert.ok(r.rows[2].testAccuracy > 0.9, `distilled student on separable blobs: ${JSON.stringify(r.rows.map((x) => x.testAccuracy))}`);
  });

  it('JSONL text with a word tokenizer and a token-id student', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-text-'));
    const words = [
      ['good', 'great', 'fine', 'nice'],
      ['bad', 'awful', 'poor', 'sad'],
    ];
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      const k = i % 2;
      const t = Array.from({ length: 6 }, (_, j) =>
        j % 3 === 0 ? words[k][(i + j) % 4] : ['the', 'a', 'movie', 'was'][(i * 7 + j) % 4],
      ).join(' ');
      lines.push(JSON.stringify({ text: t, label: k ? 'neg' : 'pos' }));
    }
    writeFileSync(join(dir, 'reviews.jsonl'), lines.join('\n'));
    const r = await run(dir, [
      'dataset: { name: jsonl, path: reviews.jsonl, options: { seqLen: 8, tokenizer: word, vocab: 64 } }',
      'teacher: { model: text-meanpool }',
      'student: { model: text-meanpool }',
      'epochs: 6',
      'batchSize: 32',
      'optimizer: { name: adam, lr: 0.01 }',
    ]);
    assert.ok(r.rows[0].testAccuracy > 0.9, `teacher on keyword sentiment: ${r.rows[0].testAccuracy}`);
    assert.ok(r.rows[2].testAccuracy > 0.9, `distilled student: ${r.rows[2].testAccuracy}`);
  });
});

describe('example configs', () => {
  it('every file under examples/ is a valid config', async () => {
    const { readdirSync } = await import('node:fs');
    const root = new URL('../examples/', import.meta.url).pathname;
    const files = readdirSync(root, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 5, `examples: ${files.join(', ')}`);
    const { loadPlugins } = await import('../src/frontends/node/plugins.js');
    // The reproductions' configs (bench/reproduce/) too: the README's tables come from them.
    const repro = new URL('../bench/reproduce/', import.meta.url).pathname;
    const all = [
      ...files.map((f) => join(root, f)),
      ...readdirSync(repro)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(repro, f)),
    ];
    for (const f of all) {
      // As `kdistill run` does: a config's plugins register their names before it is validated.
      await loadPlugins(f);
      assert.doesNotThrow(() => loadConfig(f, configRegistry()), f);
    }
  });
});

describe('feature-based distillation end to end', () => {
  it('sp and pkt between hidden layers tapped by node name, teacher features fetched from its ONNX', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-feat-'));
    const file = join(dir, 'feat.yaml');
    writeFileSync(
      file,
      [
        'seed: 2',
        'threads: 2',
        `outDir: ${join(dir, 'out')}`,
        'baseline: false',
        'dataset: { name: mnist }',
        'teacher: { model: mlp-784-64-10, train: { epochs: 1 } }',
        'student: { model: mlp-784-16-10 }',
        'loss:',
        '  - { method: ce, weight: 1 }',
        '  - { method: sp, weight: 100, options: { teacherNode: relu1, studentNode: relu1 } }',
        '  - { method: pkt, weight: 10, options: { teacherNode: relu1, studentNode: relu1 } }',
        'epochs: 1',
        'batchSize: 256',
      ].join('\n'),
    );
    const cfg = loadConfig(file, configRegistry());
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['teacher', 'distilled'],
    );
    assert.ok(s.rows[1].testAccuracy > 0.8, `student with sp + pkt: ${s.rows[1].testAccuracy}`);
    const events = readFileSync(join(cfg.outDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.stage === 'distilled' && typeof e.step === 'number');
    assert.ok(events.every((e) => Number.isFinite(e.sp) && Number.isFinite(e.pkt)));
    assert.ok(events[events.length - 1].sp < events[0].sp, `sp should fall: ${events[0].sp} → ${events[events.length - 1].sp}`);
  });

  it('a feature node the teacher does not have is named in the error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-feat-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'threads: 1',
        `outDir: ${join(dir, 'out')}`,
        'baseline: false',
        'dataset: { name: mnist }',
        'teacher: { model: mlp-784-32-10, train: { epochs: 1 } }',
        'student: { model: mlp-784-8-10 }',
        'loss:',
        '  - { method: sp, weight: 1, options: { teacherNode: block9/relu, studentNode: relu1 } }',
        'epochs: 1',
        'batchSize: 512',
      ].join('\n'),
    );
    const cfg = loadConfig(file, configRegistry());
    await assert.rejects(runExperiment(cfg, { runDir: new RunDir(cfg.outDir) }), /teacher has no node output named 'block9\/relu'/);
  });
});

describe('adapters', () => {
  it('fitnets trains its regressor with the student, checkpoints it, and leaves it out of the exported student', async () => {
    const { loadCheckpoint } = await import('../src/runtime/checkpoint.js');
    const { parseOnnx } = await import('../src/graph/onnx.js');
    const dir = mkdtempSync(join(tmpdir(), 'kd-fit-'));
    const file = join(dir, 'fit.yaml');
    writeFileSync(
      file,
      [
        'seed: 4',
        'threads: 2',
        `outDir: ${join(dir, 'out')}`,
        'baseline: false',
        'dataset: { name: mnist }',
        'teacher: { model: mlp-784-64-10, train: { epochs: 1 } }',
        'student: { model: mlp-784-16-10 }',
        'loss:',
        '  - { method: ce, weight: 1 }',
        '  - { method: fitnets, weight: 1, options: { teacherNode: relu1, studentNode: relu1 } }',
        'epochs: 1',
        'batchSize: 256',
      ].join('\n'),
    );
    const cfg = loadConfig(file, configRegistry());
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    assert.ok(s.rows[1].testAccuracy > 0.8, `student with a hint: ${s.rows[1].testAccuracy}`);
    const ck = loadCheckpoint(join(cfg.outDir, 'checkpoints', 'distilled-best.ckpt'));
    assert.ok(
      ck.tensors.has('aux/fitnets1/regressor/weight') && ck.tensors.has('aux/fitnets1/regressor/weight#m'),
      [...ck.tensors.keys()].filter((k) => k.startsWith('aux')).join(', '),
    );
    const student = parseOnnx(readFileSync(join(cfg.outDir, 'student.onnx')));
    assert.ok(
      student.graph!.initializer.every((t) => !t.name.startsWith('aux')),
      'adapter weights leaked into the exported student',
    );
    const steps = readFileSync(join(cfg.outDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.stage === 'distilled' && typeof e.fitnets === 'number');
    assert.ok(steps[steps.length - 1].fitnets < steps[0].fitnets / 2, `hint loss ${steps[0].fitnets} → ${steps[steps.length - 1].fitnets}`);
  });
});
