/**
 * A quantisation-aware stage's int8 model: written from what the stage learned (no calibration) and scored beside the
 * fake-quantised graph it trained, so the summary shows whether the file computes what training measured.
 */
import type { Dataset } from '../data/index.js';
import type { EvalOptions } from './classifier.js';
import { agreementRate, evaluateClassifier } from './classifier.js';
import { QAT_KEY } from '../nn/quant/model.js';
import { parseOnnx } from '../graph/onnx.js';
import { measureLatency, type Latency } from '../runtime/latency.js';
import { Predictor } from '../runtime/inference.js';
import { quantizeInt8 } from '../runtime/quantize.js';

/** The summary row's `quantization` block. */
export interface QuantizationRow {
  readonly bits: number;
  /** Test accuracy of the fake-quantised graph (what validation measured during training). */
  readonly fakeQuantAccuracy: number;
  /** Test accuracy of the int8 file, and its top-1 agreement with the fake-quantised graph. */
  readonly int8Accuracy: number;
  readonly int8Agreement: number;
  readonly int8FileBytes: number;
  readonly int8LatencyMs: Latency[];
  readonly file: string;
}

/** The int8 model of a quantisation-aware export and the row comparing it with the fake-quantised graph `fake`. */
export async function quantizedModel(
  float: Uint8Array,
  fake: Uint8Array,
  test: Dataset,
  file: string,
  o: EvalOptions & { threads: number; sampleShape: readonly number[] },
): Promise<{ bytes: Uint8Array; row: QuantizationRow }> {
  const bytes = await quantizeInt8(float, [], { threads: o.threads, source: file });
  const bits = JSON.parse(parseOnnx(float).metadataProps.find((p) => p.key === QAT_KEY)!.value).bits as number;
  const ev = { mean: o.mean, std: o.std, threads: o.threads };
  const f = await evaluateClassifier(fake, test, { ...ev, source: `${file} (fake-quantised)` });
  const p = await Predictor.fromBytes(bytes, { threads: o.threads }, file);
  try {
    const q = await evaluateClassifier(p, test, ev);
    return {
      bytes,
      row: {
        bits,
        fakeQuantAccuracy: +f.accuracy.toFixed(4),
        int8Accuracy: +q.accuracy.toFixed(4),
        int8Agreement: +agreementRate(q.predictions, f.predictions).toFixed(4),
        int8FileBytes: bytes.length,
        int8LatencyMs: await measureLatency(p, o.sampleShape, [1, 32], 30),
        file,
      },
    };
  } finally {
    await p.release();
  }
}
