import { loadUdhr } from './src/data/udhr.js';
import { FastTextTeacher } from './src/distill/teachers/fasttext.js';
const d = loadUdhr();
const t = await FastTextTeacher.create({ classes: d.languages, samples: [] });
const conf = new Map<string, Map<string, number>>();
for (const ds of [d.train, d.test]) for (let i = 0; i < ds.n; i++) {
  const top = ([...t.ft.predict(ds.texts[i], 1, 0).keys()][0] ?? '?').slice(9);
  const m = conf.get(ds.versions[i]) ?? new Map(); m.set(top, (m.get(top) ?? 0) + 1); conf.set(ds.versions[i], m);
}
for (const v of ['068', 'roh', 'roh_sutsilv', 'roh_puter', 'wuu', 'yue', 'sco', 'nhn', 'oss', 'auv', 'vep', 'eml', 'bos_latn', 'nno', 'uzn_cyrl']) console.log(v, [...conf.get(v)!].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k}:${n}`).join(' '));
