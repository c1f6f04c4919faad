import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('kdistill command line', () => {
  it('a user mistake exits 2 with one clear line and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-cli-'));
    writeFileSync(join(dir, 'typo.yaml'), 'epoch: 3\n');
    for (const [args, msg] of [
      [['run', join(dir, 'missing.yaml')], /config file not found/],
      [['run', join(dir, 'typo.yaml')], /typo.yaml:1:1: epoch: unknown key 'epoch'; did you mean 'epochs'\?/],
      [['eval', join(dir, 'none.onnx')], /cannot read .*none.onnx: ENOENT/],
      [['train', 'cnn-8--16'], /unknown model 'cnn-8--16'/],
      [['bench', '--pairs', 'resnet'], /--pairs: unknown pair 'resnet'/],
      [['run', 'examples/mnist.yaml', '--seeds', '0,x'], /--seeds: '0,x' is not a list of seeds; .* e\.g\. --seeds 0,1,2/],
      [['run', 'examples/mnist.yaml', '--seeds', '1,1'], /--seeds: '1,1' names a seed twice/],
    ] as [string[], RegExp][]) {
      const r = cli(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(' ')} printed a stack trace`);
    }
  });
  it('kdistill methods --json lists every registered method with its kind', () => {
    const r = cli('methods', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { name: string; kind: string }[];
    for (const m of ['ce', 'kd', 'dkd', 'dist', 'logit_mse', 'fitnets', 'at', 'nst', 'sp', 'pkt', 'rkd'])
      assert.ok(
        rows.some((x) => x.name === m),
        m,
      );
  });
});
