import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { readAnswer } from '../src/distill/teachers/answers.js';
import { decode, encode, fromHalf, toHalf } from '../src/distill/teachers/codec.js';
import { EnsembleTeacher } from '../src/distill/teachers/ensemble.js';
import { FunctionTeacher } from '../src/distill/teachers/function.js';
import { HttpTeacher } from '../src/distill/teachers/http.js';
import { rejectsWith } from './helpers/rejects.js';

const C = 4;
/** The reference teacher of these tests: logits of a sample are its first value times 1..C. */
const logitsOf = (row: readonly number[]) => Array.from({ length: C }, (_, c) => row[0] * (c + 1));
const batch = (n: number, per = 3) => ({
  x: Float32Array.from({ length: n * per }, (_, i) => Math.floor(i / per) + (i % per) / 10),
  shape: [n, per],
});
const expected = (n: number) => Float32Array.from({ length: n * C }, (_, i) => Math.floor(i / C) * (1 + (i % C)));
const softmax = (r: ArrayLike<number>) => {
  const e = Array.from(r, (v) => Math.exp(v));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
};

interface Req {
  body: { inputs: number[][]; shape: number[]; outputs: string[] };
  headers: IncomingHttpHeaders;
  at: number;
}

/** A local endpoint whose answer to request number k (from 0) `handler` decides; it records requests and peak concurrency. */
async function serve(handler: (r: Req, res: ServerResponse, k: number) => void | Promise<void>) {
  const log: Req[] = [];
  let active = 0,
    peak = 0;
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', async () => {
      const r = { body: JSON.parse(text), headers: req.headers, at: performance.now() };
      const k = log.push(r) - 1;
      peak = Math.max(peak, ++active);
      res.on('close', () => active--);
      await handler(r, res, k);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
  return {
    url,
    log,
    peak: () => peak,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
const json = (res: ServerResponse, v: unknown, status = 200, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof v === 'string' ? v : JSON.stringify(v));
};
const answer = (r: Req, res: ServerResponse) => json(res, { logits: r.body.inputs.map(logitsOf) });
const fails = rejectsWith;

describe('partial answers and stored formats', () => {
  it('top-k spreads the unlisted mass evenly (or drops it), labels become a smoothed one-hot; logits are log-probabilities', () => {
    const [spread] = readAnswer(
      {
        topk: [
          [
            [2, 0.6],
            [0, 0.2],
          ],
        ],
      },
      1,
      ['logits'],
      C,
      {},
      't',
    );
    near(softmax(spread), [0.2, 0.1, 0.6, 0.1]);
    near(spread.map(Math.exp), [0.2, 0.1, 0.6, 0.1]);
    const [drop] = readAnswer(
      {
        topk: [
          [
            [2, 0.6],
            [0, 0.2],
          ],
        ],
      },
      1,
      ['logits'],
      C,
      { rest: 'drop', floor: 1e-9 },
      't',
    );
    near(softmax(drop), [0.25, 0, 0.75, 0]);
    const [lab] = readAnswer({ label: [1, 3] }, 2, ['logits'], C, {}, 't');
    near(softmax(lab.subarray(0, C)), [0.025, 0.925, 0.025, 0.025]);
    near(softmax(lab.subarray(C)), [0.025, 0.025, 0.025, 0.925]);
    assert.throws(() => readAnswer({ topk: [[[7, 0.5]]] }, 1, ['logits'], C, {}, 'teacher X'), /teacher X: 'topk' row 0 has \[7,0.5\]/);
    assert.throws(
      () =>
        readAnswer(
          {
            topk: [
              [
                [0, 0.6],
                [1, 0.7],
              ],
            ],
          },
          1,
          ['logits'],
          C,
          {},
          't',
        ),
      /sum to 1.300 > 1; send probabilities, not logits/,
    );
  });

  it('float16 and top-k records decode to what they should', () => {
    for (const v of [0, 1, -2.5, 65504, 1e-5, 3.25, -1e-7])
      assert.ok(Math.abs(fromHalf(toHalf(v)) - v) <= Math.abs(v) * 1e-3 + 6e-8, `${v}`);
    const v = Float32Array.from([0.5, -1, 3, 2]),
      out = new Float32Array(4);
    decode(encode(v, { dtype: 'float16' }), { dtype: 'float16' }, out);
    near(out, v, 2e-3);
    decode(encode(v, { dtype: 'float32', topk: 2 }), { dtype: 'float32', topk: 2 }, out);
    const p = softmax(v),
      q = softmax(out);
    near([q[2], q[3]], [p[2], p[3]]);
    near([q[0], q[1]], [(p[0] + p[1]) / 2, (p[0] + p[1]) / 2]);
  });
});

describe('FunctionTeacher', () => {
  it('answers nested rows, flat arrays or partial answers, on a copy of the inputs', async () => {
    const { x, shape } = batch(3);
    let seen: Float32Array | undefined;
    const t = new FunctionTeacher(
      async (b) => {
        seen = b.x as Float32Array;
        return Array.from({ length: b.shape[0] }, (_, i) => logitsOf([...b.x.subarray(i * 3, i * 3 + 3)].map(Number)));
      },
      { id: 'f', classes: C },
    );
    assert.deepEqual((await t.predictMany(x, shape, ['logits']))[0], expected(3));
    assert.notEqual(seen!.buffer, x.buffer);
    const flat = new FunctionTeacher(() => expected(3), { id: 'flat', classes: C });
    assert.deepEqual((await flat.predictMany(x, shape, ['logits']))[0], expected(3));
    const lab = new FunctionTeacher(() => ({ label: [0, 1, 2] }), { id: 'lab', classes: C, partial: { labelSmoothing: 0.2 } });
    near(softmax((await lab.predictMany(x, shape, ['logits']))[0].subarray(C, 2 * C)), [0.05, 0.85, 0.05, 0.05]);
  });

  it('a wrong-sized or thrown answer is an error naming the teacher', async () => {
    const { x, shape } = batch(2);
    await fails(
      new FunctionTeacher(
        () => [
          [1, 2, 3, 4],
          [1, 2, 3],
        ],
        { id: 'short', classes: C },
      ).predictMany(x, shape, ['logits']),
      'BAD_TEACHER_ANSWER',
      /function teacher 'short': 'logits' row 1 has 3 values, expected 4 \(the teacher's classes\)/,
    );
    await fails(
      new FunctionTeacher(() => new Float32Array(7), { id: 'flat', classes: C }).predictMany(x, shape, ['logits']),
      'BAD_TEACHER_ANSWER',
      /function teacher 'flat': 'logits' has 7 values for 2 samples of 4; expected 8/,
    );
    await fails(
      new FunctionTeacher(
        () => {
          throw new Error('boom');
        },
        { id: 'boom', classes: C },
      ).predictMany(x, shape, ['logits']),
      'TEACHER_FAILED',
      /function teacher 'boom' threw: boom/,
    );
    await fails(
      new FunctionTeacher(() => expected(2), { id: 'f', classes: C }).predictMany(x, shape, ['block1/relu']),
      'BAD_TEACHER_ANSWER',
      /no 'block1\/relu'/,
    );
  });
});

describe('EnsembleTeacher', () => {
  it("answers the log of the weighted mixture of its members' probabilities", async () => {
    const a = new FunctionTeacher(() => [[2, 0, 0, 0]], { id: 'a', classes: C }),
      b = new FunctionTeacher(() => [[0, 0, 0, 5]], { id: 'b', classes: C });
    const e = new EnsembleTeacher([
      { source: a, weight: 3 },
      { source: b, weight: 1 },
    ]);
    const [out] = await e.predictMany(new Float32Array(3), [1, 3], ['logits']);
    const pa = softmax([2, 0, 0, 0]),
      pb = softmax([0, 0, 0, 5]);
    near(
      Array.from(out, Math.exp),
      pa.map((p, c) => 0.75 * p + 0.25 * pb[c]),
    );
    assert.ok(e.cacheKey && e.cacheKey !== new EnsembleTeacher([a, b]).cacheKey, 'weights are part of the key');
    await fails(e.predictMany(new Float32Array(3), [1, 3], ['logits', 'f']), 'BAD_OPTION', /answers only 'logits'/);
  });
});

describe('HttpTeacher', () => {
  it('sends the JSON batch protocol, splits large batches and bounds concurrency', async () => {
    const s = await serve(async (r, res) => {
      await new Promise((w) => setTimeout(w, 30));
      return answer(r, res);
    });
    try {
      const t = new HttpTeacher({ url: s.url, classes: C, maxBatch: 2, concurrency: 3 });
      const { x, shape } = batch(11);
      assert.deepEqual((await t.predictMany(x, shape, ['logits']))[0], expected(11));
      assert.equal(s.log.length, 6);
      assert.deepEqual(s.log[0].body, {
        inputs: [[0, 0.1, 0.2].map(Math.fround), [1, 1.1, 1.2].map(Math.fround)],
        shape: [2, 3],
        outputs: ['logits'],
      });
      assert.deepEqual(s.log.map((r) => r.body.shape[0]).sort(), [1, 2, 2, 2, 2, 2]);
      assert.equal(s.peak(), 3);
      assert.equal(t.calls, 6);
    } finally {
      s.close();
    }
  });

  it('retries 429 after Retry-After, 500 and timeouts with backoff, and paces requests under the rate limit', async () => {
    const s = await serve(async (r, res, k) => {
      if (k === 0) return json(res, { error: 'slow down' }, 429, { 'retry-after': '1' });
      if (k === 1) return json(res, 'oops', 500);
      if (k === 2) await new Promise((w) => setTimeout(w, 400));
      answer(r, res);
    });
    try {
      const t = new HttpTeacher({ url: s.url, classes: C, maxBatch: 4, concurrency: 1, timeoutMs: 150, backoffMs: 10 });
      const { x, shape } = batch(2);
      const t0 = performance.now();
      assert.deepEqual((await t.predictMany(x, shape, ['logits']))[0], expected(2));
      assert.equal(t.calls, 4);
      assert.ok(s.log[1].at - s.log[0].at >= 950, `Retry-After 1 s honoured (${Math.round(s.log[1].at - s.log[0].at)} ms)`);
      assert.ok(s.log[2].at - s.log[1].at < 500, 'a 500 retries after the (short) backoff');
      assert.ok(performance.now() - t0 >= 1100, 'the timeout was waited out');
      const paced = new HttpTeacher({ url: s.url, classes: C, maxBatch: 1, concurrency: 5, rateLimit: 20 });
      const t1 = performance.now();
      await paced.predictMany(batch(5).x, [5, 3], ['logits']);
      assert.ok(performance.now() - t1 >= 180, `5 requests at 20/s took ${Math.round(performance.now() - t1)} ms`);
    } finally {
      s.close();
    }
  });

  it('stops at its budget, saying how many calls were made; errors name the URL and never hold the token', async () => {
    process.env.KD_TEST_TOKEN = 'sekret-token-123';
    const s = await serve((r, res, k) => json(res, `upstream failed for ${r.headers.authorization}`, k < 100 ? 503 : 200));
    try {
      const t = new HttpTeacher({ url: s.url, classes: C, retries: 10, backoffMs: 1, maxCalls: 3, authEnv: 'KD_TEST_TOKEN' });
      const e = await fails(
        t.predictMany(batch(2).x, [2, 3], ['logits']),
        'TEACHER_BUDGET',
        /budget of 3 calls is spent \(3 calls made; the last failed: HTTP 503/,
      );
      assert.equal(s.log.length, 3);
      assert.equal(s.log[0].headers.authorization, 'Bearer sekret-token-123');
      assert.ok(!e.message.includes('sekret-token-123'), e.message);
      const few = new HttpTeacher({ url: s.url, classes: C, retries: 1, backoffMs: 1, authEnv: 'KD_TEST_TOKEN' });
      const e2 = await fails(
        few.predictMany(new Float32Array(3), [1, 3], ['logits']),
        'TEACHER_FAILED',
        /2 attempts failed, the last with HTTP 503/,
      );
      assert.match(e2.message, new RegExp(s.url));
      assert.ok(!e2.message.includes('sekret') && !JSON.stringify(few).includes('sekret'), e2.message);
      assert.throws(
        () => new HttpTeacher({ url: s.url, classes: C, authEnv: 'KD_NO_SUCH_VAR' }),
        /environment variable KD_NO_SUCH_VAR \(authEnv\) is not set/,
      );
    } finally {
      s.close();
    }
  });

  it('a malformed or wrong-sized answer is a clear error naming the URL; partial answers become logits', async () => {
    const answers: unknown[] = ['{"logits": [[1, 2', { logits: [[1, 2, 3]] }, { result: [] }, { topk: [[[1, 0.7]]] }, { label: [2] }];
    const s = await serve((_r, res, k) => json(res, answers[k] as object));
    try {
      const t = new HttpTeacher({ url: `${s.url}?key=hidden`, classes: C });
      const one = () => t.predictMany(new Float32Array(3), [1, 3], ['logits']);
      const e = await fails(
        one(),
        'BAD_TEACHER_ANSWER',
        new RegExp(`HTTP teacher ${s.url}: the answer is not valid JSON \\(.*\\); it starts with "\\{\\\\"logits`),
      );
      assert.ok(!e.message.includes('hidden'), 'the query string is not shown');
      await fails(one(), 'BAD_TEACHER_ANSWER', /'logits' row 0 has 3 values, expected 4/);
      await fails(one(), 'BAD_TEACHER_ANSWER', /none of 'logits', 'topk', 'label' \(it has: result\)/);
      near(softmax((await one())[0]), [0.1, 0.7, 0.1, 0.1]);
      near(softmax((await one())[0]), [0.025, 0.025, 0.925, 0.025]);
    } finally {
      s.close();
    }
  });
});
