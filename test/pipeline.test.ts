import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configRegistry } from '../src/cli/run.js';
import { ConfigError, parseConfig } from '../src/config/node/index.js';
import { combineTeachers } from '../src/distill/combine.js';
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { RunDir } from '../src/train/run-dir.js';
import { runExperiment, type RunSummary } from '../src/frontends/run-config.js';
import { Rng } from '../src/util/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'kd-pipeline-'));
const csv = join(dir, 'blobs.csv');
{
  // Four well-separated classes in 8 dimensions: every stage learns them in an epoch or two.
  const rng = new Rng(3);
  const rows = ['a,b,c,d,e,f,g,h,y'];
  for (let i = 0; i < 2000; i++) {
    const y = i % 4;
    rows.push([...Array.from({ length: 8 }, (_, k) => ((k % 4 === y ? 2.5 : 0) + rng.normal()).toFixed(4)), `k${y}`].join(','));
  }
  writeFileSync(csv, `${rows.join('\n')}\n`);
}

/** Runs a pipeline given as YAML lines under `stages:` (plus top-level extras) on the blobs. */
async function pipeline(name: string, stages: string[], extra: string[] = []): Promise<{ s: RunSummary; out: string }> {
  const text = [
    'seed: 1',
    'threads: 1',
    `outDir: ${join(dir, name)}`,
    `dataset: { name: csv, path: ${csv}, validation: { fraction: 0.1 } }`,
    'epochs: 8',
    'batchSize: 32',
    'optimizer: { name: adam, lr: 0.01 }',
    ...extra,
    'stages:',
    ...stages,
  ].join('\n');
  const cfg = parseConfig(text, join(dir, `${name}.yaml`), configRegistry());
  const rd = new RunDir(cfg.outDir);
  return { s: await runExperiment(cfg, { runDir: rd }), out: cfg.outDir };
}
const row = (s: RunSummary, role: string) => s.rows.find((r) => r.role === role)!;

describe('pipelines of stages', () => {
  it("teacher-assistant chain: the assistant is written and is the next stage's teacher", async () => {
    // The assistant only ever learns classes 0 and 1, so a student taught by it (kd alone) can only say 0 or 1,
    // while a student taught by the full teacher learns all four.
    const { s, out } = await pipeline('takd', [
      '  - { name: teacher, model: mlp-8-32-4 }',
      '  - { name: assistant, model: mlp-8-16-4, classes: [0, 1], teachers: [teacher], loss: [{ method: kd }] }',
      '  - { name: student, model: mlp-8-4-4, teachers: [assistant], loss: [{ method: kd }] }',
      '  - { name: student-direct, model: mlp-8-4-4, teachers: [teacher], loss: [{ method: kd }] }',
    ]);
    for (const f of ['teacher.onnx', 'assistant.onnx', 'student.onnx', 'student-direct.onnx']) assert.ok(existsSync(join(out, f)), f);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(out, 'stages.json'), 'utf8'))), [
      'teacher',
      'assistant',
      'student',
      'student-direct',
    ]);
    assert.equal(row(s, 'student').agreeWith, 'assistant');
    assert.ok(row(s, 'teacher').testAccuracy > 0.85, `teacher ${row(s, 'teacher').testAccuracy}`);
    assert.ok(row(s, 'student-direct').testAccuracy > 0.8, `student from the teacher ${row(s, 'student-direct').testAccuracy}`);
    assert.ok(
      row(s, 'student').testAccuracy < 0.55 && (row(s, 'student').agreement ?? 0) > 0.9,
      `student from the assistant: ${JSON.stringify(row(s, 'student'))}`,
    );
  });

  it('amalgamation: two specialists of disjoint classes teach a student of all classes without labels', async () => {
    const { s } = await pipeline(
      'amalgamation',
      [
        '  - { name: low, model: mlp-8-16-4, classes: [0, 1], loss: [{ method: ce, options: { classes: [0, 1] } }] }',
        '  - { name: high, model: mlp-8-16-4, classes: [2, 3], loss: [{ method: ce, options: { classes: [2, 3] } }] }',
        '  - { name: student, model: mlp-8-8-4, teachers: [{ stage: low, classes: [0, 1] }, { stage: ' +
          'high, classes: [2, 3] }], combine: concat, loss: [{ method: kd, options: { temperature: 2 } }] }',
      ],
      ['report: { subsets: { low: [0, 1], high: [2, 3] } }'],
    );
    const st = row(s, 'student');
    assert.ok(st.subsets!.low.accuracy > 0.7 && st.subsets!.high.accuracy > 0.7, JSON.stringify(st.subsets));
    // Each specialist alone is blind to the other half over all classes.
    assert.ok(row(s, 'low').subsets!.high.accuracy < 0.3, JSON.stringify(row(s, 'low').subsets));
  });

  it("init starts a stage from another's weights; a cohort trains and reports every peer", async () => {
    const { s, out } = await pipeline('init-cohort', [
      '  - { name: old, model: mlp-8-16-4, classes: [0, 1], loss: [{ method: ce, options: { classes: [0, 1] } }] }',
      // A learning rate too small to move anything: the stage must score exactly what it started from.
      '  - { name: copy, model: mlp-8-16-4, init: old, classes: [2, 3], epochs: 1, optimizer: { name: sgd, lr: 1.0e-12 } }',
      '  - { name: dml, cohort: [mlp-8-8-4, mlp-8-4-4], loss: [{ method: dml }] }',
      // A feature of the second teacher by name (node@teacher); the first teacher is the plain default.
      '  - { name: feat, model: mlp-8-8-4, teachers: [old, dml], loss: [{ method: ce }, { ' +
        "method: sp, weight: 10, options: { teacherNode: 'relu1@dml', studentNode: relu1 } }] }",
    ]);
    assert.ok(row(s, 'feat').testAccuracy > 0.8, `student with a feature of teacher 'dml': ${row(s, 'feat').testAccuracy}`);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.stage === 'feat' && typeof e.sp === 'number');
    assert.ok(steps.length > 0 && steps[0].sp > 0, 'the sp term reads the named teacher');
    assert.equal(row(s, 'copy').testAccuracy, row(s, 'old').testAccuracy);
    assert.deepEqual(row(s, 'copy').subsets, row(s, 'old').subsets);
    assert.ok(existsSync(join(out, 'dml.onnx')) && existsSync(join(out, 'dml.peer1.onnx')));
    assert.equal(row(s, 'dml').model, 'mlp-8-8-4');
    assert.equal(row(s, 'dml.peer1').model, 'mlp-8-4-4');
    assert.ok(
      row(s, 'dml').testAccuracy > 0.8 && row(s, 'dml.peer1').testAccuracy > 0.8,
      `${row(s, 'dml').testAccuracy} ${row(s, 'dml.peer1').testAccuracy}`,
    );
  });

  it('learning without forgetting: the old head stays close to the old model while the new task is learned', async () => {
    // Task A: classes 0–1 (head = outputs 0–1); task B: classes 2–3 from task-B data only. Fine-tuning also
    // carries the kd term, at weight 0, so both stages log how far head A has drifted from the old model on
    // the new data — the quantity LwF keeps small, and forgetting's first sign.
    const headA = '[0, 1]',
      headB = '[2, 3]';
    const kd = (w: number) => `{ method: kd, weight: ${w}, options: { temperature: 2, classes: ${headA} } }`;
    const { s, out } = await pipeline(
      'lwf',
      [
        `  - { name: old, model: mlp-8-16-4, classes: ${headA}, loss: [{ method: ce, options: { classes: ${headA} } }] }`,
        `  - { name: finetune, model: mlp-8-16-4, init: old, classes: ${headB}, optimizer: { name: adam, ` +
          `lr: 0.05 }, teachers: [old], loss: [{ method: ce, options: { classes: ${headB} } }, ${kd(0)}] }`,
        `  - { name: lwf, model: mlp-8-16-4, init: old, classes: ${headB}, optimizer: { name: adam, lr: ` +
          `0.05 }, teachers: [old], loss: [{ method: ce, options: { classes: ${headB} } }, ${kd(1)}] }`,
      ],
      [`report: { subsets: { a: ${headA}, b: ${headB} } }`],
    );
    assert.ok(row(s, 'lwf').subsets!.b.taskAccuracy > 0.8 && row(s, 'finetune').subsets!.b.taskAccuracy > 0.8, 'both learn task B');
    const drift = (stage: string) => {
      const kds = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.stage === stage && typeof e.kd === 'number')
        .map((e) => e.kd as number);
      const last = kds.slice(-20);
      return last.reduce((a, b) => a + b, 0) / last.length;
    };
    assert.ok(
      drift('lwf') < drift('finetune') / 3,
      `head A's KL from the old model at the end: lwf ${drift('lwf')}, fine-tuning ${drift('finetune')}`,
    );
    assert.ok(row(s, 'lwf').subsets!.a.taskAccuracy >= row(s, 'finetune').subsets!.a.taskAccuracy);
  });

  it('an HTTP teacher from the config: cached on disk, so no input is asked twice over eight epochs', async () => {
    const { createServer } = await import('node:http');
    let asked = 0;
    // The endpoint scores class c by the two coordinates the blobs raise for it (c and c + 4).
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const { inputs } = JSON.parse(body) as { inputs: number[][] };
        const scores = inputs.map((x) => [0, 1, 2, 3].map((c) => 2 * (x[c] + x[c + 4])));
        const best = scores.map((r) => r.indexOf(Math.max(...r)));
        res.setHeader('content-type', 'application/json');
        // Partial answers, as an API often gives: the top-2 probabilities, or only the label.
        if (req.url === '/topk')
          return res.end(
            JSON.stringify({
              topk: scores.map((r) => {
                const e = r.map(Math.exp),
                  z = e.reduce((a, b) => a + b);
                return [...e.keys()]
                  .sort((a, b) => e[b] - e[a])
                  .slice(0, 2)
                  .map((c) => [c, e[c] / z]);
              }),
            }),
          );
        if (req.url === '/label') return res.end(JSON.stringify({ label: best }));
        asked += inputs.length;
        res.end(JSON.stringify({ logits: scores }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/predict`;
    try {
      const base = url.replace('/predict', '');
      const { s } = await pipeline(
        'http',
        [
          `  - { name: student, model: mlp-8-8-4, teachers: [{ http: { url: '${url}', ` +
            'version: v1 } }], loss: [{ method: kd, options: { temperature: 2 } }] }',
          `  - { name: from-topk, model: mlp-8-8-4, teachers: [{ http: { url: '${base}/topk' ` +
            '}, cache: false }], loss: [{ method: kd, options: { temperature: 2 } }] }',
          `  - { name: from-label, model: mlp-8-8-4, teachers: [{ http: { url: '${base}/label' ` +
            '}, cache: false }], loss: [{ method: kd, options: { temperature: 2 } }] }',
        ],
        [`cacheDir: ${join(dir, 'cache')}`],
      );
      const st = row(s, 'student');
      assert.ok(st.testAccuracy > 0.8, `student of the endpoint: ${st.testAccuracy}`);
      // Distillation from partial answers (no labels used): top-k probabilities, or the label alone.
      assert.ok(
        row(s, 'from-topk').testAccuracy > 0.8 && row(s, 'from-label').testAccuracy > 0.8,
        `${row(s, 'from-topk').testAccuracy} ${row(s, 'from-label').testAccuracy}`,
      );
      assert.equal(s.trainSamples, asked, 'every training sample asked exactly once');
      assert.deepEqual(
        st.teacherCache!.map((c) => [c.misses, c.hits]),
        [[s.trainSamples, 7 * s.trainSamples]],
      );
    } finally {
      server.close();
    }
  });

  it('bad pipelines are refused with the stage and field named', () => {
    const check = (stages: string[], re: RegExp, extra: string[] = []) =>
      assert.throws(
        () =>
          parseConfig(
            ['dataset: { name: mnist }', 'epochs: 1', ...extra, 'stages:', ...stages].join('\n'),
            join(dir, 'bad.yaml'),
            configRegistry(),
            { checkFiles: false },
          ),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
        re.source,
      );
    check(
      ['  - { name: a, model: cnn-4-8 }', '  - { name: b, model: cnn-4-8, teachers: [c] }'],
      /stages\[1\]\.teachers\[0\]: no earlier stage named 'c' \(earlier stages: a\)/,
    );
    check(['  - { name: a, model: cnn-4-8, init: a }'], /stages\[0\]\.init: no earlier stage named 'a' \(this is the first stage\)/);
    check(['  - { name: a, model: cnn-4-8 }', '  - { name: a, model: cnn-4-8 }'], /stages\[1\]\.name: stage name 'a' is used twice/);
    check(['  - { name: a, model: cnn-4-8, file: t.onnx }'], /stages\[0\]: a stage trains a zoo 'model'/);
    check(['  - { name: a, file: t.onnx, epochs: 2 }'], /stages\[0\]\.epochs: 'epochs' applies to a trained stage/);
    check(['  - { name: a, model: cnn-4-8, combine: vote }'], /stages\[0\]\.combine/);
    check(['  - { name: a, model: cnn-4-8 }'], /teacher: 'teacher' belongs to a single teacher → student run/, [
      'teacher: { model: cnn-4-8 }',
    ]);
    check(
      ['  - { name: a, model: cnn-4-8, teachers: [{ http: { url: "http://x/p", authEnv: "sk-live-123" } }] }'],
      /authEnv: the name of an environment variable/,
    );
    check(['  - { name: a, model: cnn-4-8, teachers: [{ http: { url: "ftp://x/p" } }] }'], /teachers\[0\]\.http\.url/);
  });
});

describe('example configs', () => {
  it('every file under examples/ loads and resolves with the real method registry and zoo', async () => {
    const { readdirSync } = await import('node:fs');
    const { loadConfig } = await import('../src/config/node/index.js');
    const root = new URL('../examples/', import.meta.url).pathname;
    const files = readdirSync(root, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 30, `found ${files.length}`);
    const { loadPlugins } = await import('../src/frontends/node/plugins.js');
    for (const f of files) {
      await loadPlugins(join(root, f));
      const cfg = loadConfig(join(root, f), configRegistry());
      assert.ok(cfg.stages.length >= 1 || cfg.federated !== null, f);
    }
  });
});

describe('combining teachers', () => {
  it('mean, weights, confidence and concat match a direct computation', async () => {
    const N = 2,
      C = 3;
    const a = [2, 0, -1, 0.5, 0.5, 3],
      b = [0, 1, 1, -2, 4, 0],
      y = [0, 2];
    const softmax = (r: number[]) => {
      const m = Math.max(...r),
        e = r.map((v) => Math.exp(v - m)),
        s = e.reduce((p, q) => p + q);
      return e.map((v) => v / s);
    };
    const rowsOf = (x: number[]) => [x.slice(0, 3), x.slice(3)];
    const expected = {
      mean: rowsOf(a).flatMap((ra, i) => softmax(ra).map((p, c) => Math.log((p + softmax(rowsOf(b)[i])[c]) / 2))),
      weights: rowsOf(a).flatMap((ra, i) => softmax(ra).map((p, c) => Math.log(0.25 * p + 0.75 * softmax(rowsOf(b)[i])[c]))),
      confidence: rowsOf(a).flatMap((ra, i) => {
        const pa = softmax(ra),
          pb = softmax(rowsOf(b)[i]);
        const wa = pa[y[i]] / (pa[y[i]] + pb[y[i]]);
        return pa.map((p, c) => Math.log(wa * p + (1 - wa) * pb[c]));
      }),
    };
    for (const mode of ['mean', 'weights', 'confidence', 'concat'] as const) {
      const g = new Graph('c');
      const ta = g.input('a', 'float32', [N, mode === 'concat' ? 2 : C]),
        tb = g.input('b', 'float32', [N, mode === 'concat' ? 1 : C]),
        lab = g.input('y', 'int64', [N]);
      const out = combineTeachers(
        [
          { logits: ta, weight: 1, classes: mode === 'concat' ? [2, 0] : null, name: 'a' },
          { logits: tb, weight: 3, classes: mode === 'concat' ? [1] : null, name: 'b' },
        ],
        mode,
        C,
        lab,
      );
      g.output(out);
      const sess = await createSession(toOnnx(g), { threads: 1 });
      const feeds =
        mode === 'concat'
          ? {
              a: new ort.Tensor('float32', Float32Array.of(7, 8, 9, 10), [N, 2]),
              b: new ort.Tensor('float32', Float32Array.of(5, 6), [N, 1]),
            }
          : { a: new ort.Tensor('float32', Float32Array.from(a), [N, C]), b: new ort.Tensor('float32', Float32Array.from(b), [N, C]) };
      const r = (await sess.run({ ...feeds, y: new ort.Tensor('int64', BigInt64Array.from(y.map(BigInt)), [N]) }))[out.name]
        .data as Float32Array;
      await sess.release();
      // concat: class 2 ← a's first column, class 0 ← a's second, class 1 ← b.
      const want = mode === 'concat' ? [8, 5, 7, 10, 6, 9] : expected[mode];
      want.forEach((v, i) => assert.ok(Math.abs(r[i] - v) < 1e-5, `${mode}[${i}]: ${r[i]} vs ${v}`));
    }
  });
  it('concat refuses a class no teacher knows and a class two teachers claim', () => {
    const g = new Graph('c');
    const ta = g.input('a', 'float32', ['N', 2]),
      tb = g.input('b', 'float32', ['N', 2]),
      lab = g.input('y', 'int64', ['N']);
    assert.throws(
      () =>
        combineTeachers(
          [
            { logits: ta, weight: 1, classes: [0, 1], name: 'low' },
            { logits: tb, weight: 1, classes: [1, 2], name: 'high' },
          ],
          'concat',
          3,
          lab,
        ),
      /class 1 is claimed by teachers 'low' and 'high'/,
    );
    assert.throws(() => combineTeachers([{ logits: ta, weight: 1, classes: [0, 1], name: 'low' }], 'concat', 3, lab), /none knows class 2/);
  });
});
