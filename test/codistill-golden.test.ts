import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss } from '../src/distill/loss.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { createSession, ort } from '../src/runtime/ort.js';

/** One case of test/fixtures/codistill.json: the term's options, its value (KL form) and d/d each live peer's logits. */
interface Case {
  peers: number;
  options: Record<string, unknown>;
  value: number;
  paper_value: number;
  grads: number[][];
}
interface Fixture {
  shape: [number, number];
  logits: number[][];
  stale_logits: number[][];
  labels: number[];
  cases: Case[];
}

// PyTorch values from test/fixtures/make_codistill.py (Anil et al. 2018's codistillation term, in float64).
const fx: Fixture = JSON.parse(readFileSync(new URL('./fixtures/codistill.json', import.meta.url), 'utf8'));
const [N, C] = fx.shape;

/** Each value within 1e-4 of the largest reference magnitude plus 1e-6, as online.test.ts. */
function nearScaled(got: ArrayLike<number>, want: number[], what: string): void {
  const scale = Math.max(...want.map(Math.abs));
  assert.equal(got.length, want.length, `${what}: length`);
  want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale + 1e-6, `${what}[${i}]: ${got[i]} vs PyTorch ${v}`));
}

/**
 * The codistill term on K live peers' logits and their stale copies' logits, all fed as inputs under the names a
 * codistillation cohort outputs them (`peerK/logits`, `stale/peerK/logits`), with its gradients w.r.t. both.
 */
async function run(c: Case, options: Record<string, unknown> = c.options) {
  const g = new Graph('codistill');
  const live = Array.from({ length: c.peers }, (_, k) => g.input(`peer${k}/logits`, 'float32', ['N', C]));
  const stale = Array.from({ length: c.peers }, (_, k) => g.input(`stale/peer${k}/logits`, 'float32', ['N', C]));
  const y = g.input('y', 'int64', ['N']);
  const student: Record<string, Value> = { logits: live[0], ...Object.fromEntries([...live, ...stale].map((z) => [z.name, z])) };
  const loss = distillationLoss([{ method: 'codistill', weight: 1, options }], { student, teacher: {}, labels: y });
  const grads = gradients(loss.total, [...live, ...stale]);
  const dLive = live.map((z) => grads.get(z.name)!),
    dStale = stale.map((z) => grads.get(z.name)!);
  g.output(loss.total, ...dLive, ...dStale);
  const sess = await createSession(toOnnx(g), { threads: 1 });
  const feeds: Record<string, ort.Tensor> = { y: new ort.Tensor('int64', BigInt64Array.from(fx.labels.map(BigInt)), [N]) };
  for (let k = 0; k < c.peers; k++) {
    feeds[`peer${k}/logits`] = new ort.Tensor('float32', Float32Array.from(fx.logits[k]), [N, C]);
    feeds[`stale/peer${k}/logits`] = new ort.Tensor('float32', Float32Array.from(fx.stale_logits[k]), [N, C]);
  }
  const r = await sess.run(feeds);
  await sess.release();
  const data = (v: Value) => Array.from(r[v.name].data as Float32Array);
  return { value: data(loss.total)[0], dLive: dLive.map(data), dStale: dStale.map(data) };
}

describe('codistill matches PyTorch (Anil et al. 2018, stale peers as detached targets)', () => {
  for (const c of fx.cases) {
    it(`K=${c.peers} ${JSON.stringify(c.options)}: value and gradients w.r.t. every live peer; none reach the stale copies`, async () => {
      const got = await run(c);
      nearScaled([got.value], [c.value], 'loss');
      got.dLive.forEach((d, k) => nearScaled(d, c.grads[k], `d/d peer${k}/logits`));
      got.dStale.forEach((d, k) =>
        assert.ok(
          d.every((v) => v === 0),
          `stale/peer${k}/logits gets no gradient: ${d}`,
        ),
      );
    });
  }

  it('the tolerance tells temperatures apart: T = 2.2 misses the T = 2 reference by far more than it', async () => {
    const c = fx.cases.find((k) => k.options.temperature === 2)!;
    const got = await run(c, { ...c.options, temperature: 2.2 });
    assert.ok(Math.abs(got.value - c.value) > 100 * (1e-4 * c.value + 1e-6), `T = 2.2 gives ${got.value}, T = 2 ${c.value}`);
  });
});
