import { loadUdhr, LID176_LABELS } from './src/data/udhr.js';
import { FastTextTeacher, modelLabels } from './src/distill/teachers/fasttext.js';
const d = loadUdhr();
let t = performance.now();
const T = await FastTextTeacher.create({ classes: d.languages, samples: [d.train, d.test] });
console.log('create ms', performance.now() - t, 'collisions', T.collisions, JSON.stringify(modelLabels(T.ft)) === JSON.stringify(LID176_LABELS));
for (const ds of [d.train, d.test]) {
  t = performance.now();
  const x = BigInt64Array.from(ds.ids, (v) => BigInt(v));
  const [lg] = await T.predictMany(x, [ds.n, ds.seqLen], ['logits']);
  const C = d.languages.length; let ok = 0, nonfin = 0;
  const perV = new Map();
  for (let i = 0; i < ds.n; i++) { let a = 0; for (let c = 0; c < C; c++) { if (!Number.isFinite(lg[i*C+c])) nonfin++; if (lg[i*C+c] > lg[i*C+a]) a = c; } const r = perV.get(ds.versions[i]) ?? [0,0]; r[1]++; if (a === ds.y[i]) { ok++; r[0]++; } perV.set(ds.versions[i], r); }
  console.log(ds.name, 'acc', ok / ds.n, 'ms', performance.now() - t, nonfin);
  if (ds.name.endsWith('train')) console.log([...perV].filter(([, r]) => r[0] / r[1] < 0.6).map(([v, r]) => `${v}:${(r[0]/r[1]).toFixed(2)}`).join(' '));
}
