// `kdistill bench --browser`: the same KD step timed in headless Chromium beside Node, in one invocation. A smoke run
// (one timed group of 8 steps): the numbers are not checked, only that both engines ran the same step.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { requireBuiltWeb } from './helpers/browser.js';

interface Step {
  engine: string;
  pair: string;
  threads: number;
  mode: string;
  imgPerSec: number;
  loss: number;
}
interface Row {
  pair: string;
  threads: number;
  mode: string;
  kdistill: Step;
  browser?: Step;
  browserRatio?: number;
  browserSkipped?: string;
}

describe('kdistill bench --browser', () => {
  it('runs the pair in Chromium beside Node and prints both with their ratio', () => {
    requireBuiltWeb(['bench.html', 'bench.js', 'kdistill.js']);
    const args = ['bench', '--browser', '--json', '--pairs', 'mlp', '--threads', '1,2', '--steps', '8', '--reps', '1', '--no-torch'];
    const r = spawnSync(process.execPath, ['--import', 'tsx', new URL('../../src/cli/main.ts', import.meta.url).pathname, ...args], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { browser: { version: string; crossOriginIsolated: boolean }; results: Row[] };
    assert.match(out.browser.version, /^Chromium \d+/);
    // kdistill serve's headers make the page cross-origin isolated, so the browser runs both thread counts.
    assert.equal(out.browser.crossOriginIsolated, true);
    assert.deepEqual(
      out.results.map((x) => [x.pair, x.threads, x.mode, !!x.browser]),
      [
        ['mlp', 1, 'sequential', true],
        ['mlp', 2, 'sequential', true],
        ['mlp', 2, 'pipelined', false],
      ],
    );
    for (const row of out.results.filter((x) => x.browser)) {
      const b = row.browser!;
      assert.match(b.engine, /onnxruntime-web/);
      assert.match(row.kdistill.engine, /onnxruntime-node/);
      assert.equal(b.threads, row.threads);
      assert.ok(b.imgPerSec > 0);
      assert.equal(row.browserRatio, +(b.imgPerSec / row.kdistill.imgPerSec).toFixed(2));
      // The same seeded batch, weights and step in both engines: the same loss after the same number of steps.
      assert.ok(Math.abs(b.loss - row.kdistill.loss) <= 1e-3 * Math.abs(row.kdistill.loss), `loss ${b.loss} vs ${row.kdistill.loss}`);
    }
  });
});
