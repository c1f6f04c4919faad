import { loadUdhr } from './src/data/udhr.js';
import { FastTextTeacher } from './src/distill/teachers/fasttext.js';
import { Model } from './src/nn/model.js';
import { textClassifier } from './src/nn/zoo/index.js';
import { agreementRate, evaluateClassifier, fitClassifier } from './src/train/classifier.js';
const [buckets, dim, seqLen, epochs, lr, kind, n] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6] ?? 0.01), process.argv[7] ?? 'meanpool', Number(process.argv[8] ?? 3)];
const d = loadUdhr({ buckets, seqLen, n });
const T = await FastTextTeacher.create({ classes: d.languages, samples: [d.train, d.test] });
const C = d.languages.length;
const tpred = new Int32Array(d.test.n);
for (let i = 0; i < d.test.n; i++) { const p = T.probabilities(d.test.texts[i]); let a = 0; for (let c = 1; c < C; c++) if (p[c] > p[a]) a = c; tpred[i] = a; }
const m = new Model(textClassifier({ vocab: buckets + 1, seqLen, classes: C, dim, kind: kind as 'meanpool', channels: 64 }), 0);
const t = performance.now();
await fitClassifier(m, d.train, { epochs, batchSize: 64, lr, schedule: { kind: 'cosine', total: epochs * Math.ceil(d.train.n / 64) }, loss: [{ method: 'kd', weight: 1, options: { temperature: 1 } }], teacher: T });
const e = await evaluateClassifier(m, d.test);
const etr = await evaluateClassifier(m, d.train);
const trp = new Int32Array(d.train.n); for (let i = 0; i < d.train.n; i++) { const p = T.probabilities(d.train.texts[i]); let a = 0; for (let c = 1; c < C; c++) if (p[c] > p[a]) a = c; trp[i] = a; }
console.log(process.argv.slice(2).join(' '), 'params', m.parameterCount(), 's', ((performance.now() - t) / 1000).toFixed(1), 'acc', e.accuracy.toFixed(4), 'agree', agreementRate(e.predictions, tpred).toFixed(4), 'train agree', agreementRate(etr.predictions, trp).toFixed(4));
