import { loadUdhr, type UdhrDataset } from './src/data/udhr.js';
import { encodeText } from './src/data/text.js';
import { FastTextTeacher } from './src/distill/teachers/fasttext.js';
import { Model } from './src/nn/model.js';
import { textClassifier } from './src/nn/zoo/index.js';
import { Rng } from './src/util/rng.js';
import { agreementRate, evaluateClassifier, fitClassifier } from './src/train/classifier.js';
const [buckets, dim, seqLen, epochs, copies, wce] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]), Number(process.argv[7] ?? 0)];
const d = loadUdhr({ buckets, seqLen });
function crops(ds: UdhrDataset, k: number): UdhrDataset {
  const rng = new Rng(1); const texts: string[] = [...ds.texts], y: number[] = [...ds.y], v: string[] = [...ds.versions];
  for (let i = 0; i < ds.n; i++) for (let c = 0; c < k; c++) {
    const w = ds.texts[i].split(' ');
    let t: string;
    if (w.length >= 4) { const len = 2 + rng.int(Math.min(10, w.length - 1)); const s = rng.int(w.length - len + 1); t = w.slice(s, s + len).join(' '); }
    else { const ch = Array.from(ds.texts[i]); const len = Math.min(ch.length, 6 + rng.int(20)); const s = rng.int(ch.length - len + 1); t = ch.slice(s, s + len).join(''); }
    texts.push(t); y.push(ds.y[i]); v.push(ds.versions[i]);
  }
  const n = texts.length, ids = new Int32Array(n * seqLen);
  for (let i = 0; i < n; i++) encodeText(ds.tokenizer, texts[i], seqLen, ids, i * seqLen);
  return { ...ds, name: 'aug', n, ids, x: Float32Array.from(ids), y: Int32Array.from(y), texts, versions: v };
}
const aug = crops(d.train, copies);
const T = await FastTextTeacher.create({ classes: d.languages, samples: [aug, d.test] });
console.log('aug n', aug.n, 'collisions', T.collisions);
const C = d.languages.length;
const tpred = new Int32Array(d.test.n);
for (let i = 0; i < d.test.n; i++) { const p = T.probabilities(d.test.texts[i]); let a = 0; for (let c = 1; c < C; c++) if (p[c] > p[a]) a = c; tpred[i] = a; }
const m = new Model(textClassifier({ vocab: buckets + 1, seqLen, classes: C, dim }), 0);
const t = performance.now();
const loss = wce ? [{ method: 'ce', weight: wce }, { method: 'kd', weight: 1 - wce, options: { temperature: 1 } }] : [{ method: 'kd', weight: 1, options: { temperature: 1 } }];
await fitClassifier(m, aug, { epochs, batchSize: 64, lr: 0.01, schedule: { kind: 'cosine', total: epochs * Math.ceil(aug.n / 64) }, loss, teacher: T });
const e = await evaluateClassifier(m, d.test);
console.log(process.argv.slice(2).join(' '), 'params', m.parameterCount(), 's', ((performance.now() - t) / 1000).toFixed(1), 'acc', e.accuracy.toFixed(4), 'agree', agreementRate(e.predictions, tpred).toFixed(4));
