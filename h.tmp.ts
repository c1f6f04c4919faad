import { loadUdhr } from './src/data/udhr.js';
import { FastTextTeacher } from './src/distill/teachers/fasttext.js';
const LANGS = ['en', 'fr', 'de', 'es', 'it'];
const d = loadUdhr({ languages: LANGS, seqLen: 48, buckets: 2048 });
const t = await FastTextTeacher.create({ classes: LANGS, samples: [d.test] });
for (let i = 0; i < d.test.n; i++) { const p = t.probabilities(d.test.texts[i]); const a = p.indexOf(Math.max(...p)); if (a !== d.test.y[i]) console.log(d.test.versions[i], LANGS[a], d.test.texts[i].slice(0, 80)); }
console.log(d.versions);
