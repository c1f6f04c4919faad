import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { confusionMatrix, perClassAccuracy } from '../src/train/confusion.js';
import { metricsSeries } from '../src/report/html/data.js';
import { formatSeeds, meanStd, type SeedsSummary, summarizeSeeds } from '../src/report/seeds.js';
import { readReportRun, writeComparisonReport, writeRunReport, writeSeedsReport } from '../src/report/node/write-report.js';
import { writeRunFixture } from './helpers/report-fixture.js';
import { configRegistry } from '../src/cli/run.js';
import { atSeed } from '../src/cli/seeds.js';
import { loadConfig } from '../src/config/node/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'kd-report-'));

/** A config of seconds (12 MNIST images per class, one epoch) in a fresh folder, writing its run to <dir>/out. */
function tinyRun(name: string, lines: string[]): { dir: string; file: string } {
  const dir = tmp();
  const file = join(dir, `${name}.yaml`);
  const head = [`name: ${name}`, 'threads: 1', `outDir: ${join(dir, 'out')}`, 'dataset: { name: mnist, trainPerClass: 12 }'];
  writeFileSync(file, [...head, ...lines, 'epochs: 1', 'batchSize: 40'].join('\n'));
  return { dir, file };
}

describe('report: the numbers it shows', () => {
  it('confusion matrix and per-class accuracy count true class × prediction', () => {
    const m = confusionMatrix(Int32Array.from([0, 1, 1, 2, 0]), Int32Array.from([0, 1, 2, 2, 1]), 3);
    assert.deepEqual(m, [
      [1, 0, 0],
      [1, 1, 0],
      [0, 1, 1],
    ]);
    assert.deepEqual(perClassAccuracy(m), [1, 0.5, 0.5]);
  });

  it('mean ± sample std', () => {
    const { mean, std } = meanStd([0.9, 0.92, 0.94]);
    assert.ok(Math.abs(mean - 0.92) < 1e-12);
    assert.ok(Math.abs(std - 0.02) < 1e-12);
    assert.equal(meanStd([3]).std, 0);
  });

  it('seeds: paired differences, the gap closed per seed, and noise against the spread', () => {
    const dir = tmp();
    const s = [0, 1, 2].map((seed) => writeRunFixture(join(dir, `seed-${seed}`), seed));
    const stats = summarizeSeeds(s, ['seed-0', 'seed-1', 'seed-2']);
    const base = stats.rows.find((r) => r.role === 'baseline')!;
    assert.deepEqual(base.accuracy, [0.9, 0.902, 0.904]);
    const p = stats.paired.find((x) => x.role === 'distilled')!;
    // distilled − baseline = 0.05 + seed·0.002; teacher − baseline = 0.08 − seed·0.002
    p.differences.forEach((d, i) => assert.ok(Math.abs(d - (0.05 + i * 0.002)) < 1e-12));
    p.gapClosed!.forEach((g, i) => assert.ok(Math.abs(g - (0.05 + i * 0.002) / (0.08 - i * 0.002)) < 1e-12));
    assert.equal(p.teacher, 'teacher');
    assert.equal(p.withinNoise, false);
    assert.match(formatSeeds(stats), /distilled − baseline: \+5\.20 ± 0\.20 points .*beyond the seed spread/);
    // The same gain with a spread larger than it is noise.
    const noisy = s.map((x, i) => ({
      ...x,
      rows: x.rows.map((r) => (r.role === 'baseline' ? { ...r, testAccuracy: [0.8, 0.99, 0.9][i] } : r)),
    }));
    const q = summarizeSeeds(noisy, ['a', 'b', 'c']).paired[0];
    assert.equal(q.withinNoise, true);
    assert.match(formatSeeds(summarizeSeeds(noisy, ['a', 'b', 'c'])), /within noise/);
  });

  it('seeds: runs whose rows differ are refused, naming the run', () => {
    const a = writeRunFixture(join(tmp(), 'a'));
    const b = { ...a, rows: a.rows.slice(0, 2) };
    assert.throws(() => summarizeSeeds([a, b], ['seed-0', 'seed-1']), /seed-1: its rows \(teacher,baseline\) differ/);
  });

  it('metrics: steps thinned to at most maxPoints per stage, the last kept; epochs and broken lines', () => {
    const lines = Array.from({ length: 1000 }, (_, s) => JSON.stringify({ stage: 'a', step: s, loss: s, acc: 1 }));
    lines.push('{"stage":"a","event":"epoch","epoch":1,"valAccuracy":0.5,"valLoss":1}', '{"stage":"a","step":10');
    const { steps, epochs } = metricsSeries(lines.join('\n'), 100);
    assert.ok(steps.a.step.length <= 101);
    assert.equal(steps.a.step.at(-1), 999);
    assert.deepEqual(Object.keys(steps.a.series).sort(), ['acc', 'loss']);
    assert.deepEqual(epochs.a, { epoch: [1], valAccuracy: [0.5], valLoss: [1] });
  });
});

describe('report.html', () => {
  it('is one self-contained file: uPlot inlined, no URL to fetch, every section present', async () => {
    const dir = tmp();
    writeRunFixture(dir, 0, { config: 'name: x\n# </script><script>alert(1)</script>\n' });
    const html = readFileSync(await writeRunReport(dir), 'utf8');
    assert.ok(html.length > 40_000, 'uPlot is inlined');
    // The one URL is in uPlot's licence comment, which stays with the code; the Chromium test shows nothing is fetched.
    assert.doesNotMatch(html, /<script[^>]*\ssrc=|<link[^>]*\shref=|https?:\/\/(?!github\.com\/leeoniya\/uPlot\b)/);
    for (const s of ['Models', 'Training', 'Per class', 'Confusion matrices', 'Export', 'Experiment as configured'])
      assert.match(html, new RegExp(`<h[23]>${s}`));
    // The config's text cannot close the page's script or inject one.
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(
      html,
      /distilled<\/b> mlp-784-30-10: 95\.00% against 90\.00% trained alone, \+5\.00 points \(62% of the gap to the teacher\)/,
    );
    assert.match(html, /<td>two<\/td>/, 'class names label the per-class table');
  });

  it('a run directory without summary.json is named with what to do', () => {
    const dir = tmp();
    assert.throws(
      () => readReportRun(dir),
      (e: Error) => e.message.includes(join(dir, 'summary.json')) && /--resume/.test(e.message),
    );
  });

  it('seeds and comparisons: one page with every run', () => {
    const dir = tmp();
    const s = [0, 1].map((seed) => writeRunFixture(join(dir, `seed-${seed}`), seed));
    const stats = summarizeSeeds(s, ['seed-0', 'seed-1']);
    const html = readFileSync(writeSeedsReport(dir, stats), 'utf8');
    assert.match(html, /Over 2 seeds/);
    assert.match(html, /seed 1 \(seed-1\)/);
    const cmp = readFileSync(writeComparisonReport([join(dir, 'seed-0'), join(dir, 'seed-1')], join(dir, 'cmp.html')), 'utf8');
    assert.match(cmp, /Runs side by side/);
  });

  it('kdistill report: rebuilds one, refuses a directory named twice, names a missing summary', () => {
    const dir = tmp();
    writeRunFixture(dir);
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', ...args], { encoding: 'utf8' });
    const ok = cli(dir);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), join(dir, 'report.html'));
    assert.match(cli(dir, dir).stderr, /named twice/);
    const missing = cli(join(dir, 'nope'));
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /summary\.json not found/);
  });
});

describe('kdistill run --seeds', () => {
  it('runs each seed in its own folder and writes seeds.json and report.html over them', () => {
    const { dir, file } = tinyRun('tiny', [
      'teacher: { model: mlp-784-32-10, train: { epochs: 1 } }',
      'student: { model: mlp-784-8-10 }',
      'loss: [{ method: ce, weight: 0.5 }, { method: kd, weight: 0.5 }]',
    ]);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', file, '--seeds', '3,5', '--json'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const stats = JSON.parse(r.stdout) as SeedsSummary;
    assert.deepEqual(stats.seeds, [3, 5]);
    assert.deepEqual(stats.runs, ['seed-3', 'seed-5']);
    // Each seed's run is a run directory of its own, with that seed recorded and its own report.
    for (const s of [3, 5]) {
      const summary = JSON.parse(readFileSync(join(dir, 'out', `seed-${s}`, 'summary.json'), 'utf8')) as { seed: number };
      assert.equal(summary.seed, s);
      assert.ok(existsSync(join(dir, 'out', `seed-${s}`, 'report.html')));
    }
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'out', 'seeds.json'), 'utf8')), stats);
    assert.match(readFileSync(join(dir, 'out', 'report.html'), 'utf8'), /Over 2 seeds/);
    assert.equal(stats.paired[0].differences.length, 2);
    assert.match(r.stderr, /distilled − baseline: [+−-]\d/);
  });

  it("moves every stage's seed with the run's, so a seed changes the initial weights (and data-free samples) too", () => {
    const { file } = tinyRun('tiny-seeds', [
      'teacher: { model: mlp-784-32-10, train: { epochs: 1 } }',
      'student: { model: mlp-784-8-10 }',
      'loss: [{ method: kd, weight: 1 }]',
    ]);
    const cfg = loadConfig(file, configRegistry());
    assert.deepEqual(
      cfg.stages.map((s) => s.seed),
      [1000, 0, 0],
    );
    const at5 = atSeed(cfg, 5, join(cfg.outDir, 'seed-5'));
    assert.deepEqual(
      at5.stages.map((s) => s.seed),
      [1005, 5, 5],
    );
    assert.equal(at5.seed, 5);
  });
});

describe('kdistill train --seeds', () => {
  it('the flag front-ends take --seeds too: one run per seed and the seed statistics', () => {
    const out = join(tmp(), 'out');
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'train', 'mlp-784-8-10', '--epochs', '1', '--batch', '256', '--seeds', '0,1'];
    const r = spawnSync(process.execPath, [...args, '--threads', '1', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const stats = JSON.parse(r.stdout) as SeedsSummary;
    assert.deepEqual(stats.seeds, [0, 1]);
    assert.equal(stats.rows[0].accuracy.length, 2);
    assert.notEqual(stats.rows[0].accuracy[0], stats.rows[0].accuracy[1], 'two seeds, two results');
    assert.ok(existsSync(join(out, 'seed-1', 'mlp-784-8-10.onnx')));
    assert.ok(existsSync(join(out, 'report.html')));
  });
});

describe('report: attention maps of feature terms', () => {
  it('a run with an at term gets teacher and student maps at its node pair, each scaled to [0, 1] per image', async () => {
    const { dir, file } = tinyRun('tiny-at', [
      'baseline: false',
      'teacher: { model: cnn-4-8, train: { epochs: 1 } }',
      'student: { model: cnn-4-8 }',
      'loss: [{ method: ce }, { method: at, weight: 100, options: { teacherNode: block1/relu, studentNode: block1/relu } }]',
    ]);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { attentionFigure } = await import('../src/report/node/attention.js');
    const a = (await attentionFigure(join(dir, 'out')))!;
    assert.ok(a, 'a figure for the at term');
    assert.deepEqual(
      a.pairs.map((p) => [p.method, p.teacherNode, p.studentNode]),
      [['at', 'block1/relu', 'block1/relu']],
    );
    const { teacher, student } = a.pairs[0];
    assert.deepEqual([teacher.height, teacher.width, teacher.values.length], [28, 28, 4]);
    for (const m of [...teacher.values, ...student.values]) {
      assert.equal(Math.min(...m), 0);
      assert.equal(Math.max(...m), 1);
    }
    assert.notDeepEqual(teacher.values, student.values, 'two models, two maps');
    const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8');
    assert.match(html, /<h2>Attention maps<\/h2>/);
    assert.equal(html.match(/<canvas class="map"/g)?.length, 4 * 3);
  });
});
