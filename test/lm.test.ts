import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gradients } from '../src/autodiff/gradients.js';
import { distillationLoss } from '../src/distill/loss.js';
import { Graph, type Value } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { Model } from '../src/nn/model.js';
import { causalLm, convLm } from '../src/nn/zoo/lm.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { fitTokenizer, tokenIds, tokenizerSize } from '../src/data/text.js';
import { fitLm, perplexity, teacherWindows, topkAnswers } from '../src/train/lm/fit.js';
import { generate } from '../src/train/lm/generate.js';
import { checkSameTokenizer, tokenizerMetadata } from '../src/train/lm/lm-file.js';
import { windowsOf } from '../src/train/lm/windows.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// PyTorch's values from test/fixtures/make_lm_fixtures.py.
const fx = JSON.parse(readFileSync(new URL('./fixtures/lm.json', import.meta.url), 'utf8'));
const [N, L, V] = fx.shape as number[];
const f32 = (d: ArrayLike<number>, sh: number[]) => new ort.Tensor('float32', Float32Array.from(d), sh);
const i64 = (d: ArrayLike<number>, sh: number[]) => new ort.Tensor('int64', BigInt64Array.from(Array.from(d, (v) => BigInt(v))), sh);

/** Value and d/d(student logits) of one loss term on the fixture's logits; `teacher` builds the teacher inputs. */
async function term(
  method: string,
  options: Record<string, unknown>,
  feeds: Record<string, ort.Tensor> = {},
  teacher?: (g: Graph) => Record<string, Value>,
) {
  const g = new Graph('lm-loss');
  const s = g.input('s', 'float32', [N, L, V]);
  const y = g.input('y', 'int64', [N, L]);
  const t = teacher ? teacher(g) : { logits: g.input('t', 'float32', [N, L, V]) };
  const loss = distillationLoss([{ method, weight: 1, options }], { student: { logits: s }, teacher: t, labels: y });
  const ds = gradients(loss.total, [s]).get('s')!;
  g.output(loss.total, ds);
  const sess = await createSession(toOnnx(g), { threads: 1 });
  const r = await sess.run({ s: f32(fx.s, [N, L, V]), y: i64(fx.y, [N, L]), ...(teacher ? {} : { t: f32(fx.t, [N, L, V]) }), ...feeds });
  await sess.release();
  return { value: (r[loss.total.name].data as Float32Array)[0], grad: r[ds.name].data as Float32Array };
}

function near(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 2e-5) {
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs PyTorch ${want[i]}`);
}

describe('language-model losses match PyTorch (padding masked)', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['token_ce', 'token_ce', {}],
    ['token_kl', 'token_kl', { temperature: 2 }],
    ['reverse_kl', 'reverse_kl', {}],
    ['gkd', 'gkd', { beta: 0.5, temperature: 1.5 }],
    ['gkd_beta0', 'gkd', { beta: 0 }],
    ['gkd_beta1', 'gkd', { beta: 1 }],
    ['token_kl_top3', 'token_kl', { temperature: 2, topk: 3 }],
  ];
  for (const [key, method, options] of cases)
    it(`${key}: value and gradient`, async () => {
      const r = await term(method, options);
      near([r.value], [fx[key].value], 'value');
      near(r.grad, fx[key].grad, 'd/ds');
    });

  it('unscored positions (label −1) get no gradient, whatever the logits there', async () => {
    const r = await term('gkd', { beta: 0.3 });
    for (let n = 0; n < N; n++)
      for (let l = 0; l < L; l++) if (fx.y[n * L + l] < 0) for (let v = 0; v < V; v++) assert.equal(r.grad[(n * L + l) * V + v], 0);
  });

  it("distilling from cached top-k (values and token ids) equals the live teacher's top-k", async () => {
    const k = 3;
    // What a cache stores: the teacher's k largest logits per position and their ids.
    const vals: number[] = [],
      idx: number[] = [];
    for (let p = 0; p < N * L; p++) {
      const row = fx.t.slice(p * V, (p + 1) * V) as number[];
      const order = row.map((_, i) => i).sort((a, b) => row[b] - row[a]);
      for (const i of order.slice(0, k)) {
        vals.push(row[i]);
        idx.push(i);
      }
    }
    const live = await term('token_kl', { temperature: 2, topk: k });
    const cached = await term('token_kl', { temperature: 2, topk: k }, { tv: f32(vals, [N, L, k]), ti: i64(idx, [N, L, k]) }, (g) => ({
      'topk/values': g.input('tv', 'float32', [N, L, k]),
      'topk/indices': g.input('ti', 'int64', [N, L, k]),
    }));
    assert.equal(cached.value, live.value);
    assert.deepEqual(Array.from(cached.grad), Array.from(live.grad));
  });

  it('a per-token loss on classifier logits is refused with what to use instead', () => {
    const g = new Graph('x');
    assert.throws(
      () =>
        distillationLoss([{ method: 'token_kl', weight: 1 }], {
          student: { logits: g.input('s', 'float32', ['N', 10]) },
          teacher: { logits: g.input('t', 'float32', ['N', 10]) },
          labels: g.input('y', 'int64', ['N']),
        }),
      /token_kl is a per-token loss for language models: it needs logits \[N, L, vocab\].*for classifiers use kd/,
    );
  });
});

/** Logits of `ids` [1, n] through an exported model. */
async function logitsOf(p: Predictor, ids: number[]): Promise<Float32Array> {
  return (await p.run(i64(ids, [1, ids.length]), ['logits'])).logits.data as Float32Array;
}

describe('causal language models', () => {
  for (const def of [causalLm({ vocab: 20, dim: 16, layers: 2, heads: 2, maxLen: 32 }), convLm({ vocab: 20, dim: 16, layers: 3 })])
    it(`${def.name}: no position sees a later one, at any length`, async () => {
      const p = await Predictor.fromBytes(exportOnnx(new Model(def, 1)), { threads: 1 });
      const ids = [1, 5, 7, 3, 2, 9, 4, 4, 6, 8];
      const a = await logitsOf(p, ids);
      for (const at of [3, 9]) {
        const changed = ids.map((v, i) => (i === at ? (v + 7) % 20 : v));
        const b = await logitsOf(p, changed);
        for (let i = 0; i < at * 20; i++) assert.equal(b[i], a[i], `position ${Math.floor(i / 20)} changed when token ${at} did`);
        assert.ok(
          b.slice(at * 20).some((v, i) => v !== a[at * 20 + i]),
          'the changed position itself sees its token',
        );
      }
      // A prefix gives the same logits as the same positions of the longer sequence (right padding is harmless).
      const short = await logitsOf(p, ids.slice(0, 4));
      for (let i = 0; i < short.length; i++) assert.ok(Math.abs(short[i] - a[i]) < 1e-5);
      await p.release();
    });
});

const TEXT = 'All human beings are born free and equal in dignity and rights. They are endowed with reason and conscience. '.repeat(12);

describe('training, distilling and sampling language models', () => {
  const tok = fitTokenizer('char', [TEXT], { lowercase: false });
  const V = tokenizerSize(tok);
  const w = windowsOf(tokenIds(tok, TEXT), 16);
  const small = (seed: number) => new Model(causalLm({ vocab: V, dim: 16, layers: 1, heads: 2, maxLen: 16 }), seed);
  let teacherBytes: Uint8Array;

  it('a teacher learns the text: perplexity far below the uniform', async () => {
    const m = new Model(causalLm({ vocab: V, dim: 32, layers: 2, heads: 2, maxLen: 16 }), 5);
    const before = await perplexity(m, w);
    const r = await fitLm(m, w, { loss: [{ method: 'token_ce', weight: 1 }], epochs: 12, batchSize: 8, lr: 5e-3, seed: 1 });
    const after = await perplexity(m, w);
    assert.ok(r.epochs[r.epochs.length - 1].loss < r.epochs[0].loss, 'the loss fell');
    assert.ok(after < before / 3 && after < V / 4, `perplexity ${before.toFixed(2)} → ${after.toFixed(2)} (vocabulary ${V})`);
    teacherBytes = exportOnnx(m, { metadata: tokenizerMetadata(tok) });
  });

  it('generation is deterministic per seed; greedy ignores the seed', async () => {
    const p = await Predictor.fromBytes(teacherBytes, { threads: 1 });
    const prompt = Array.from(tokenIds(tok, 'All human '));
    const a = await generate(p, prompt, 20, { seed: 3, maxLen: 16 }),
      b = await generate(p, prompt, 20, { seed: 3, maxLen: 16 }),
      c = await generate(p, prompt, 20, { seed: 4, temperature: 1.5, maxLen: 16 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const g1 = await generate(p, prompt, 20, { temperature: 0, seed: 1, maxLen: 16 }),
      g2 = await generate(p, prompt, 20, { temperature: 0, seed: 2, maxLen: 16 });
    assert.deepEqual(g1, g2);
    assert.deepEqual(g1.slice(0, prompt.length), prompt);
    await p.release();
  });

  it('distilling from cached top-k answers trains the student exactly as the live teacher on the same top-k does', async () => {
    const teacher = await Predictor.fromBytes(teacherBytes, { threads: 1 });
    const loss = [{ method: 'token_kl', weight: 1, options: { topk: 4, temperature: 2 } }];
    const o = { loss, epochs: 2, batchSize: 8, lr: 3e-3, seed: 2 };
    const live = small(7),
      cached = small(7);
    await fitLm(live, w, { ...o, teacher });
    // The cache: the teacher asked once per window, then not at all.
    const answers = await topkAnswers(teacher, w, 4);
    await fitLm(cached, w, { ...o, topk: answers });
    for (const [k, v] of live.values) assert.deepEqual(Array.from(cached.values.get(k)!), Array.from(v), `parameter ${k}`);
    await teacher.release();
  });

  it('on-policy GKD and sequence-level KD run and bring the student towards the teacher', async () => {
    const teacher = await Predictor.fromBytes(teacherBytes, { threads: 1 });
    const alone = small(3);
    await fitLm(alone, w, { loss: [{ method: 'token_ce', weight: 1 }], epochs: 3, batchSize: 8, lr: 3e-3, seed: 3 });
    const onPolicy = small(3);
    const r = await fitLm(onPolicy, w, {
      loss: [{ method: 'gkd', weight: 1, options: { beta: 0.5 } }],
      epochs: 3,
      batchSize: 8,
      lr: 3e-3,
      seed: 3,
      teacher,
      onPolicy: { fraction: 0.5, prompt: 4, refreshEvery: 2 },
    });
    assert.ok(r.epochs.every((e) => Number.isFinite(e.loss)));
    const seq = await teacherWindows(teacher, w, { prompt: 4, seed: 1 });
    assert.equal(seq.count, w.count);
    // The teacher's continuations keep each window's prompt and are not the data itself.
    for (let i = 0; i < 4; i++) assert.equal(seq.ids[i], w.ids[i]);
    assert.ok(seq.ids.some((v, i) => v !== w.ids[i]));
    const student = small(3);
    const untrained = await perplexity(student, w);
    await fitLm(student, seq, { loss: [{ method: 'token_ce', weight: 1 }], epochs: 4, batchSize: 8, lr: 1e-2, seed: 3 });
    const trained = await perplexity(student, w);
    assert.ok(
      trained < untrained * 0.7,
      `trained on the teacher's text only, perplexity on the data ${untrained.toFixed(2)} → ${trained.toFixed(2)}`,
    );
    await teacher.release();
  });

  it('teacher and student with different tokenizers are refused, naming both sizes and the first differing token', () => {
    const other = fitTokenizer('char', [`${TEXT}xyz`], { lowercase: false });
    checkSameTokenizer(tok, fitTokenizer('char', [TEXT], { lowercase: false }));
    assert.throws(
      () => checkSameTokenizer(tok, other),
      (e: Error) => {
        assert.match(e.message, new RegExp(`teacher: ${V} ids, char; student: ${tokenizerSize(other)} ids`));
        assert.match(e.message, /first difference is id \d+: .* against /);
        return true;
      },
    );
  });

  it('kdistill generate continues a prompt from the file alone (its tokenizer and context inside), the same per seed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kd-gen-'));
    writeFileSync(join(dir, 'lm.onnx'), teacherBytes);
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, 'generate', join(dir, 'lm.onnx'), ...args],
        {
          encoding: 'utf8',
        },
      );
    const a = run('--prompt', 'All human', '--tokens', '30', '--seed', '5'),
      b = run('--prompt', 'All human', '--tokens', '30', '--seed', '5');
    assert.equal(a.status, 0, a.stderr);
    assert.ok(a.stdout.startsWith('All human') && a.stdout.length > 'All human'.length + 20, a.stdout);
    assert.equal(a.stdout, b.stdout);
    const bad = run('--prompt', 'All', '--temperature', '-1');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--temperature must be a number ≥ 0/);
  });
});

describe('a language-model config (udhr-text)', () => {
  it('an unknown declaration is named, with the codes it may have meant', async () => {
    const { udhrCorpus } = await import('../src/data/node/udhr.js');
    assert.throws(() => udhrCorpus(['eng', 'ron']), /no declaration 'ron'; did you mean ron_1953, ron_1993, ron_2006\?/);
  });

  it('trains teacher, baseline and distilled student, writes files carrying the tokenizer, refuses a teacher with another', async () => {
    const { configRegistry } = await import('../src/cli/run.js');
    const { loadConfig } = await import('../src/config/node/index.js');
    const { RunDir } = await import('../src/train/run-dir.js');
    const { runExperiment } = await import('../src/frontends/run-config.js');
    const { tokenizerOf } = await import('../src/train/lm/lm-file.js');
    const dir = mkdtempSync(join(tmpdir(), 'kd-lm-run-'));
    const yaml = (teacher: string, extra = '') =>
      [
        'name: lm',
        'seed: 1',
        'threads: 2',
        `outDir: ${join(dir, 'out')}`,
        'dataset: { name: udhr-text, options: { languages: [eng], seqLen: 32 } }',
        `teacher: ${teacher}`,
        'student: { model: convlm-2x16 }',
        'loss: [{ method: token_ce, weight: 0.5 }, { method: token_kl, weight: 0.5, options: { temperature: 2 } }]',
        'epochs: 2',
        'batchSize: 16',
        'optimizer: { name: adam, lr: 0.005 }',
        extra,
      ].join('\n');
    writeFileSync(
      join(dir, 'lm.yaml'),
      yaml('{ model: lm-2x32, train: { epochs: 3, batchSize: 16, optimizer: { name: adam, lr: 0.005 } } }'),
    );
    const cfg = loadConfig(join(dir, 'lm.yaml'), configRegistry());
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    assert.deepEqual(
      s.rows.map((r) => r.role),
      ['teacher', 'baseline', 'distilled'],
    );
    const V = JSON.parse(readFileSync(join(cfg.outDir, 'tokenizer.json'), 'utf8')).vocab.length + 2;
    for (const r of s.rows) {
      assert.ok(r.language && r.language.perplexity < V / 2, `${r.role}: test perplexity ${r.language?.perplexity} (vocabulary ${V})`);
      assert.ok(r.language.sample.startsWith('Everyone has the right '));
      assert.deepEqual(
        tokenizerOf(readFileSync(join(cfg.outDir, r.file)), r.file),
        JSON.parse(readFileSync(join(cfg.outDir, 'tokenizer.json'), 'utf8')),
      );
    }
    assert.ok(s.rows[2].agreement! > 0, 'the distilled row reports agreement with the teacher');
    // A teacher file whose tokenizer differs from the one fitted on this text is refused before training.
    const other = new Model(causalLm({ vocab: 5, dim: 8, layers: 1, heads: 1, maxLen: 32 }), 1);
    const otherTok = fitTokenizer('char', ['abc'], { lowercase: false });
    writeFileSync(join(dir, 'other.onnx'), exportOnnx(other, { metadata: tokenizerMetadata(otherTok) }));
    writeFileSync(join(dir, 'bad.yaml'), yaml(`{ file: ${join(dir, 'other.onnx')} }`));
    const bad = loadConfig(join(dir, 'bad.yaml'), configRegistry());
    await assert.rejects(
      runExperiment(bad, { runDir: new RunDir(join(dir, 'bad-out')) }),
      /use different tokenizers \(.*other\.onnx: 5 ids, char; the tokenizer of the training text: \d+ ids/,
    );
  });
});

describe('the transformer text classifier masks padding', () => {
  it("its prediction does not depend on the padding's embedding or on what the padded positions would say", async () => {
    const { transformerClassifier } = await import('../src/nn/zoo/text.js');
    const m = new Model(transformerClassifier({ vocab: 30, seqLen: 8, classes: 3, dim: 16, heads: 2, layers: 2 }), 4);
    const ids = i64([5, 9, 2, 7, 0, 0, 0, 0], [1, 8]);
    const run = async () => {
      const p = await Predictor.fromBytes(exportOnnx(m), { threads: 1 });
      const l = Array.from((await p.run(ids, ['logits'])).logits.data as Float32Array);
      await p.release();
      return l;
    };
    const before = await run();
    const e = m.values.get('embed/weight')!;
    for (let d = 0; d < 16; d++) e[d] = 10 * Math.sin(d + 1); // row 0: the padding id
    const after = await run();
    before.forEach((v, i) => assert.ok(Math.abs(v - after[i]) < 1e-5, `logit ${i}: ${v} → ${after[i]}`));
  });
});
