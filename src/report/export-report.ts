import { isQuantizationAware } from '../nn/quant/model.js';
import { parseOnnx } from '../graph/onnx.js';
import type { Dataset } from '../data/index.js';
import type { Model } from '../nn/model.js';
import { exportOnnx, Predictor } from '../runtime/inference.js';
import { quantizeInt8, toFloat16 } from '../runtime/quantize.js';
import { agreementRate, evaluateClassifier } from '../train/classifier.js';
import { KdError } from '../util/errors.js';
import { measureLatency, type Latency } from '../runtime/latency.js';

/** A precision a model is exported at. */
export type Precision = 'fp32' | 'fp16' | 'int8';

/** One model at one precision, measured on the test data. */
export interface ExportRow {
  role: 'teacher' | 'student';
  precision: Precision;
  /** File name where the model was written, if it was. */
  file?: string;
  /** Parameters of the float model (initializer elements, as `kdistill inspect` counts them). */
  parameters: number;
  fileBytes: number;
  /** Bytes of the stored weights alone (the rest of a file is graph structure and names). */
  weightBytes: number;
  latencyMs: Latency[];
  accuracy: number;
  /** Top-1 agreement with the fp32 teacher on the test data (absent without a teacher). */
  agreementWithTeacher?: number;
  /** Top-1 agreement with the same model at fp32 (what precision cost). */
  agreementWithFp32: number;
}

/** What `kdistill export` measures: every model at every precision, on one test set. */
export interface ExportReport {
  dataset: string;
  testSamples: number;
  /** Samples int8 ranges were calibrated on (absent without int8, or for a quantisation-aware student). */
  calibrationSamples?: number;
  /** The student trained quantisation-aware: its int8 file holds the scales it learned, nothing was calibrated. */
  quantizationAware?: boolean;
  threads?: number;
  rows: ExportRow[];
}

export interface ExportReportOptions {
  teacher?: Model | Uint8Array;
  student: Model | Uint8Array;
  /** Student precisions besides fp32: `true` builds the variant here (int8 needs `calibration`), bytes are measured as given. */
  variants?: { fp16?: boolean | Uint8Array; int8?: boolean | Uint8Array };
  /** Batches of training samples (model input layout, normalised as in training) for int8 ranges. */
  calibration?: readonly Float32Array[];
  test: Dataset;
  /** The normalisation the models were trained with (none for the bundled image datasets beyond /255). */
  mean?: number | readonly number[];
  std?: number | readonly number[];
  /** File names to record in the rows, by role and precision ('student.int8.onnx'). */
  files?: Partial<Record<`${'teacher' | 'student'}.${Precision}`, string>>;
  threads?: number;
  /** Calls per batch size for the latency percentiles (default 50). */
  latencyRuns?: number;
  latencyBatches?: readonly number[];
}

/** The report and the bytes of every student variant it measured (for the caller to write). */
export interface ExportResult {
  report: ExportReport;
  student: Partial<Record<Precision, Uint8Array>> & { fp32: Uint8Array };
}

/** Initializer elements and their stored bytes. */
function weights(bytes: Uint8Array): { parameters: number; weightBytes: number } {
  const g = parseOnnx(bytes).graph!;
  let parameters = 0,
    weightBytes = 0;
  for (const t of g.initializer) {
    parameters += t.dims.reduce((a, d) => a * Number(d), 1);
    weightBytes += t.rawData.length || 4 * (t.floatData.length + t.int32Data.length) + 8 * (t.int64Data.length + t.doubleData.length);
  }
  return { parameters, weightBytes };
}

/**
 * Measures the teacher (fp32) and the student at fp32 and each requested precision on the same test
 * data, one model at a time so their latencies do not share the cores: parameters, file and weight
 * bytes, latency p50/p95 (batch 1 and 32 by default), accuracy and top-1 agreement with the teacher.
 */
export async function exportReport(o: ExportReportOptions): Promise<ExportResult> {
  const bytesOf = (m: Model | Uint8Array) => (m instanceof Uint8Array ? m : exportOnnx(m));
  const student: ExportResult['student'] = { fp32: bytesOf(o.student) };
  const v = o.variants ?? {};
  if (v.fp16) student.fp16 = v.fp16 instanceof Uint8Array ? v.fp16 : toFloat16(student.fp32);
  if (v.int8 instanceof Uint8Array) student.int8 = v.int8;
  else if (v.int8) {
    if (!o.calibration?.length)
      throw new KdError('BAD_ARGUMENT', 'exportReport: int8 needs calibration batches (training samples) to measure activation ranges');
    student.int8 = await quantizeInt8(student.fp32, o.calibration, { threads: o.threads, sampleShape: o.test.sampleShape });
  }
  const models: { role: 'teacher' | 'student'; precision: Precision; bytes: Uint8Array; float: Uint8Array }[] = [];
  if (o.teacher) {
    const t = bytesOf(o.teacher);
    models.push({ role: 'teacher', precision: 'fp32', bytes: t, float: t });
  }
  for (const p of ['fp32', 'fp16', 'int8'] as const)
    if (student[p]) models.push({ role: 'student', precision: p, bytes: student[p]!, float: student.fp32 });

  const rows: ExportRow[] = [];
  const preds = new Map<string, Int32Array>();
  for (const m of models) {
    const pr = await Predictor.fromBytes(m.bytes, { threads: o.threads });
    try {
      const ev = await evaluateClassifier(pr, o.test, { mean: o.mean, std: o.std });
      preds.set(`${m.role}.${m.precision}`, ev.predictions);
      const latencyMs = await measureLatency(pr, o.test.sampleShape, o.latencyBatches ?? [1, 32], o.latencyRuns ?? 50);
      const teacherPreds = preds.get('teacher.fp32');
      rows.push({
        role: m.role,
        precision: m.precision,
        ...(o.files?.[`${m.role}.${m.precision}`] ? { file: o.files[`${m.role}.${m.precision}`] } : {}),
        parameters: weights(m.float).parameters,
        fileBytes: m.bytes.length,
        weightBytes: weights(m.bytes).weightBytes,
        latencyMs,
        accuracy: ev.accuracy,
        ...(teacherPreds ? { agreementWithTeacher: +agreementRate(ev.predictions, teacherPreds).toFixed(4) } : {}),
        agreementWithFp32: +agreementRate(ev.predictions, preds.get(`${m.role}.fp32`)!).toFixed(4),
      });
    } finally {
      await pr.release();
    }
  }
  const qat = isQuantizationAware(student.fp32);
  const calibrationSamples =
    student.int8 && o.calibration && !qat
      ? o.calibration.reduce((a, b) => a + b.length, 0) / o.test.sampleShape.reduce((a, b) => a * b, 1)
      : undefined;
  return {
    report: {
      dataset: o.test.name,
      testSamples: o.test.n,
      ...(calibrationSamples ? { calibrationSamples } : {}),
      ...(qat ? { quantizationAware: true } : {}),
      ...(o.threads ? { threads: o.threads } : {}),
      rows,
    },
    student,
  };
}

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(2)}%`);
const kib = (b: number) => (b / 1024).toFixed(1);

/** The report as a Markdown table (also readable as plain text). */
export function formatExportReport(r: ExportReport): string {
  const batches = r.rows[0]?.latencyMs.map((l) => l.batch) ?? [];
  const head = [
    'model',
    'precision',
    'params',
    'file KiB',
    'weights KiB',
    ...batches.map((b) => `p50 / p95 ms (b=${b})`),
    'test acc',
    'agree teacher',
    'agree fp32',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const x of r.rows) {
    const lat = x.latencyMs.map((l) => `${l.p50.toFixed(2)} / ${l.p95.toFixed(2)}`);
    const cells = [
      x.file ?? x.role,
      x.precision,
      x.parameters,
      kib(x.fileBytes),
      kib(x.weightBytes),
      ...lat,
      pct(x.accuracy),
      pct(x.agreementWithTeacher),
      pct(x.agreementWithFp32),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const cal = r.quantizationAware
    ? '; int8 from quantisation-aware training (its learned scales, no calibration)'
    : r.calibrationSamples
      ? `; int8 calibrated on ${r.calibrationSamples} training samples`
      : '';
  lines.push(
    '',
    `${r.dataset}: ${r.testSamples} test samples${cal}; latency on onnxruntime-node CPU${r.threads ? ` with ${r.threads} threads` : ''}.`,
  );
  return lines.join('\n');
}
