/**
 * The report's picture for feature methods: a teacher's and the distilled student's attention maps on a few test
 * images, at the node pairs the config's feature terms compare. The map is attention transfer's (Zagoruyko &
 * Komodakis 2017): the mean over channels of the squared activation, scaled to [0, 1] per image.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadDataset, type DatasetName } from '../../data/node/index.js';
import { exposeOutputs } from '../../runtime/expose.js';
import { Predictor } from '../../runtime/inference.js';
import { ort } from '../../runtime/ort.js';
import type { AttentionFigure } from '../html/data.js';

/** Images shown per figure. */
const SHOWN = 4;

interface FeatureTerm {
  method: string;
  options?: { teacherNode?: unknown; studentNode?: unknown };
}

/**
 * The figure for a finished classic run whose loss compares 4-D features by node name, on a bundled dataset; undefined
 * when the run has none (or its models no longer expose those nodes, e.g. a node BatchNorm folding removed).
 */
export async function attentionFigure(dir: string): Promise<AttentionFigure | undefined> {
  const cfgFile = join(dir, 'config.resolved.yaml');
  if (!existsSync(cfgFile) || !existsSync(join(dir, 'student.onnx'))) return undefined;
  const cfg = parse(readFileSync(cfgFile, 'utf8')) as {
    dataset?: { name?: string };
    teacher?: { file?: string };
    loss?: FeatureTerm[];
  };
  const pairs = (cfg.loss ?? [])
    .filter((t) => typeof t.options?.teacherNode === 'string' && typeof t.options?.studentNode === 'string')
    .map((t) => ({ method: t.method, teacher: t.options!.teacherNode as string, student: t.options!.studentNode as string }));
  const name = cfg.dataset?.name;
  if (!pairs.length || (name !== 'mnist' && name !== 'fashion-mnist')) return undefined;
  const teacherFile = existsSync(join(dir, 'teacher.onnx')) ? join(dir, 'teacher.onnx') : cfg.teacher?.file;
  if (!teacherFile || !existsSync(teacherFile)) return undefined;
  const test = loadDataset(name as DatasetName, 'test');
  const size = test.sampleShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(SHOWN * size);
  for (let i = 0; i < x.length; i++) x[i] = test.x[i] / (test.x instanceof Uint8Array ? 255 : 1);
  const input = new ort.Tensor('float32', x, [SHOWN, ...test.sampleShape]);
  const maps = async (file: string, nodes: string[]) => {
    let p: Predictor;
    try {
      p = await Predictor.fromBytes(exposeOutputs(readFileSync(file), nodes, file), {}, file);
    } catch {
      return undefined; // a node the exported model no longer has: no picture rather than no report
    }
    try {
      const out = await p.run(input, nodes);
      return nodes.map((n) => attention(out[n]));
    } finally {
      await p.release();
    }
  };
  const t = await maps(
    teacherFile,
    pairs.map((q) => q.teacher),
  );
  const s = await maps(
    join(dir, 'student.onnx'),
    pairs.map((q) => q.student),
  );
  if (!t || !s || t.some((m) => !m) || s.some((m) => !m)) return undefined;
  const [h, w] = test.sampleShape.slice(-2);
  const images = Array.from({ length: SHOWN }, (_, i) => Array.from(x.subarray(i * size, i * size + h * w), (v) => +v.toFixed(3)));
  return {
    images: { height: h, width: w, values: images },
    labels: Array.from(test.y.subarray(0, SHOWN)),
    pairs: pairs.map((q, k) => ({ method: q.method, teacherNode: q.teacher, studentNode: q.student, teacher: t[k]!, student: s[k]! })),
  };
}

/** Per image: mean over channels of a², min–max scaled to [0, 1]; undefined for a tensor that is not [N, C, H, W]. */
function attention(t: ort.Tensor | undefined): AttentionFigure['pairs'][number]['teacher'] | undefined {
  if (t?.dims.length !== 4) return undefined;
  const [n, c, h, w] = t.dims;
  const d = t.data as Float32Array;
  const values: number[][] = [];
  for (let i = 0; i < n; i++) {
    const m = new Float64Array(h * w);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) m[p] += d[(i * c + ch) * h * w + p] ** 2 / c;
    let lo = Infinity,
      hi = -Infinity;
    for (const v of m) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    values.push(Array.from(m, (v) => +((v - lo) / (hi - lo || 1)).toFixed(3)));
  }
  return { height: h, width: w, values };
}
