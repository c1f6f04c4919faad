import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../src/util/rng.js';

const CLI = ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname];
const dir = mkdtempSync(join(tmpdir(), 'kd-resume-'));

/** A small seeded 3-class tabular problem: three Gaussian blobs in 8 dimensions. */
function writeCsv(file: string): void {
  const rng = new Rng(42);
  const rows = ['a,b,c,d,e,f,g,h,y'];
  for (let i = 0; i < 600; i++) {
    const y = i % 3;
    rows.push([...Array.from({ length: 8 }, (_, k) => ((k % 3 === y ? 1.5 : 0) + rng.normal()).toFixed(4)), `k${y}`].join(','));
  }
  writeFileSync(file, `${rows.join('\n')}\n`);
}

/** Teacher, baseline and distilled student, one thread (bit-reproducible), a checkpoint every 7 steps. */
function writeConfig(name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'name: crash',
      'seed: 5',
      'threads: 1',
      `outDir: ${join(dir, name)}`,
      `dataset: { name: csv, path: ${join(dir, 'blobs.csv')}, validation: { fraction: 0.1 } }`,
      'teacher: { model: mlp-8-32-3, train: { epochs: 3 } }',
      'student: { model: mlp-8-4-3 }',
      'loss:',
      '  - { method: ce, weight: 0.5 }',
      '  - { method: kd, weight: 0.5 }',
      'epochs: 4',
      'batchSize: 16',
      'checkpointEvery: 7',
      'keepCheckpoints: 2',
    ].join('\n'),
  );
  return file;
}

const run = (args: string[]) =>
  spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', env: { ...process.env, KDISTILL_NO_PROGRESS: '1' } });
const lines = (out: string) =>
  existsSync(join(out, 'metrics.jsonl')) ? readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length - 1 : 0;

/** Starts a run and SIGKILLs it once its metrics log has grown past `after` lines; resolves to whether it was killed. */
function killAfter(args: string[], out: string, after: number): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...CLI, ...args], { stdio: 'ignore' });
    let killed = false;
    const poll = setInterval(() => {
      if (lines(out) >= after && !killed) {
        killed = true;
        p.kill('SIGKILL');
      }
    }, 5);
    p.on('exit', () => {
      clearInterval(poll);
      resolve(killed);
    });
  });
}

describe('kill and resume', () => {
  it('a run SIGKILLed at random points and resumed each time ends with the weights and metrics of an uninterrupted run', async () => {
    writeCsv(join(dir, 'blobs.csv'));
    const whole = run(['run', writeConfig('whole'), '--json']);
    assert.equal(whole.status, 0, whole.stderr);
    const total = lines(join(dir, 'whole'));

    const cfg = writeConfig('killed'),
      out = join(dir, 'killed');
    const rng = new Rng(7);
    let kills = 0;
    // Kill points spread over teacher, baseline and distilled training (the log grows by one line a step).
    let target = 0;
    for (let i = 0; i < 4; i++) {
      target = lines(out) + 20 + rng.int(Math.floor(total / 4));
      if (await killAfter(['run', cfg, ...(i ? ['--resume'] : [])], out, target)) kills++;
    }
    const last = run(['run', cfg, '--resume', '--json']);
    assert.equal(last.status, 0, last.stderr);
    assert.ok(kills >= 3, `only ${kills} kills landed`);
    assert.match(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), /"event":"resumed"/);

    for (const f of ['teacher.onnx', 'baseline.onnx', 'student.onnx'])
      assert.ok(readFileSync(join(dir, 'whole', f)).equals(readFileSync(join(out, f))), `${f} differs from the uninterrupted run's`);
    const metrics = (s: string) =>
      JSON.parse(s).rows.map((r: Record<string, unknown>) => [r.role, r.testAccuracy, r.testLoss, r.agreement]);
    assert.deepEqual(metrics(last.stdout), metrics(whole.stdout));
  });

  it('--resume refuses a changed config and a directory with nothing to resume', () => {
    const cfg = writeConfig('whole');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('epochs: 4', 'epochs: 5'));
    const changed = run(['run', cfg, '--resume']);
    assert.equal(changed.status, 2);
    assert.match(changed.stderr, /cannot resume .*whole: the config differs from the one the run was started with/);
    const none = run(['run', writeConfig('never'), '--resume']);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /nothing to resume in .*never/);
  });
});
