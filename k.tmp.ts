import { loadUdhr } from './src/data/udhr.js';
import { FastTextTeacher } from './src/distill/teachers/fasttext.js';
import { Model } from './src/nn/model.js';
import { textClassifier } from './src/nn/zoo/index.js';
import { agreementRate, evaluateClassifier, fitClassifier } from './src/train/classifier.js';
const [buckets, dim, seqLen, epochs] = [8192, 16, 64, 15];
const d = loadUdhr({ buckets, seqLen });
const T = await FastTextTeacher.create({ classes: d.languages, samples: [d.train, d.test] });
const C = d.languages.length;
const tpred = new Int32Array(d.test.n);
for (let i = 0; i < d.test.n; i++) { const p = T.probabilities(d.test.texts[i]); let a = 0; for (let c = 1; c < C; c++) if (p[c] > p[a]) a = c; tpred[i] = a; }
for (const [name, loss] of [['ce', [{ method: 'ce', weight: 1 }]], ['kd T1', [{ method: 'kd', weight: 1, options: { temperature: 1 } }]], ['kd T4', [{ method: 'kd', weight: 1, options: { temperature: 4 } }]], ['kd T2+ce', [{ method: 'ce', weight: 0.5 }, { method: 'kd', weight: 0.5, options: { temperature: 2 } }]]] as const) {
  const m = new Model(textClassifier({ vocab: buckets + 1, seqLen, classes: C, dim }), 0);
  const t = performance.now();
  await fitClassifier(m, d.train, { epochs, batchSize: 64, lr: 1e-2, schedule: { kind: 'cosine', total: epochs * Math.ceil(d.train.n / 64) }, loss: loss as never, teacher: T });
  const e = await evaluateClassifier(m, d.test);
  console.log(name, 'params', m.parameterCount(), 's', ((performance.now() - t) / 1000).toFixed(1), 'acc', e.accuracy.toFixed(4), 'agree', agreementRate(e.predictions, tpred).toFixed(4));
}
