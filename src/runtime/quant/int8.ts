import { TensorProto_DataType as DT, type NodeProto } from 'onnx-buf/dist/onnx_pb.js';
import { parseOnnx } from '../../graph/onnx.js';
import { QAT_KEY, type QatParams } from '../../nn/quant/model.js';
import { weightLevels } from '../../nn/quant/spec.js';
import { KdError } from '../../util/errors.js';
import { collectRanges, floatInput, type CalibrationOptions } from './calibrate.js';
import { cloneModel, node, serialise, setMetadata, tensor } from './proto.js';
import { constants, planQdq, type PlanOptions } from './qdq-plan.js';
import { activationParams, quantizeBias, quantizeWeight, weightOf, type WeightSink } from './weights.js';

/** Calibration and scope of `quantizeInt8`. */
export type Int8Options = CalibrationOptions &
  PlanOptions & {
    /** Weight bits of a model not trained quantisation-aware: 8 (default) or 4 (levels −7…7 held in int8). */
    weightBits?: 8 | 4;
  };

/**
 * Static int8 quantization in QDQ form, as ONNX Runtime's `quantize_static` writes it for CPU: uint8
 * asymmetric activations with min/max ranges measured on `calibration` (batches of samples, row-major,
 * the model's input layout and normalisation), int8 symmetric per-channel weights for Conv, Gemm and
 * MatMul, int32 biases. The result is a standard opset-13+ ONNX model; ONNX Runtime fuses its Q/DQ
 * pairs into QLinearConv/QGemm/QLinearMatMul kernels, other runtimes can execute the pairs as written.
 * Outputs stay float32: a Gemm/MatMul that feeds only the graph outputs (the logits) keeps a float output.
 *
 * A model trained with fake quantisation (its file carries `kdistill.qat` metadata) is quantised with what it learned
 * instead: each activation's scale and zero point from training, weights at its bit width (4-bit weights are int8
 * tensors whose values stay within −7…7, as ONNX Runtime has no int4 kernels). Only tensors training did not quantise
 * (none for Conv/Linear chains) are calibrated.
 */
export async function quantizeInt8(bytes: Uint8Array, calibration: readonly Float32Array[], o: Int8Options = {}): Promise<Uint8Array> {
  const source = o.source ?? 'model';
  const m = cloneModel(parseOnnx(bytes, source));
  const opset = Number(m.opsetImport.find((x) => x.domain === '' || x.domain === 'ai.onnx')?.version ?? 0);
  // Per-channel DequantizeLinear (the `axis` attribute) exists from opset 13; raising the opset could change other ops.
  if (opset < 13)
    throw new KdError(
      'UNSUPPORTED_MODEL',
      `${source} is opset ${opset}; int8 quantization writes per-channel QuantizeLinear/DequantizeLinear, ` +
        'which need opset 13 or later (re-export the model with a newer opset)',
    );
  const g = m.graph!;
  const plan = planQdq(g, o);
  const roots = [...plan.tensors].filter((t) => !plan.shared.has(t));
  const qat = qatOf(m.metadataProps.find((p) => p.key === QAT_KEY)?.value, source);
  const learned = qat ? learnedParams(qat, roots, plan.shared) : new Map<string, { scale: number; zeroPoint: number }>();
  const calibrated = roots.filter((t) => !learned.has(t));
  if (qat && calibrated.length && !calibration.length)
    throw new KdError(
      'NO_CALIBRATION',
      `${source}: tensors ${calibrated.slice(0, 4).join(', ')} have no quantisation parameters from training; give calibration samples`,
    );
  const ranges = calibrated.length ? await collectRanges(bytes, calibrated, calibration, o) : new Map();

  const sink: WeightSink = { init: new Map(g.initializer.map((t) => [t.name, t])), head: [] };
  /** Scale/zero-point initializer names of each quantized activation. */
  const qp = new Map<string, { scale: string; zp: string; value: number }>();
  for (const t of roots) {
    const r = ranges.get(t);
    if (!r && !learned.has(t)) continue; // not float32 (a shape or index tensor): left alone
    const { scale, zeroPoint } = learned.get(t) ?? activationParams(r!.min, r!.max);
    sink.init.set(`${t}_scale`, tensor(`${t}_scale`, DT.FLOAT, [], new Float32Array([scale])));
    sink.init.set(`${t}_zero_point`, tensor(`${t}_zero_point`, DT.UINT8, [], new Uint8Array([zeroPoint])));
    qp.set(t, { scale: `${t}_scale`, zp: `${t}_zero_point`, value: scale });
  }
  for (const [t, root] of plan.shared) if (qp.has(root)) qp.set(t, qp.get(root)!);

  const qdq = (t: string, into: NodeProto[]) => {
    const p = qp.get(t)!;
    into.push(node('QuantizeLinear', [t, p.scale, p.zp], [`${t}_quantized`], `${t}/QuantizeLinear`));
    into.push(node('DequantizeLinear', [`${t}_quantized`, p.scale, p.zp], [`${t}_dequantized`], `${t}/DequantizeLinear`));
  };

  // A dropped Relu's producer writes the Relu's output name; its Q (zero point 0) does the clamping.
  const renamed = new Map<string, string>();
  for (const r of plan.droppedRelu) if (qp.has(r.output[0])) renamed.set(r.input[0], r.output[0]);

  const consts = constants(g);
  const head: NodeProto[] = [];
  const body: NodeProto[] = [];
  for (const i of g.input) if (qp.has(i.name)) qdq(i.name, head);
  for (const n of g.node) {
    if (plan.droppedRelu.has(n) && renamed.get(n.input[0]) === n.output[0]) continue;
    n.output = n.output.map((x) => renamed.get(x) ?? x);
    const inputs = [...n.input];
    for (const p of plan.reads.get(n) ?? []) if (qp.has(inputs[p])) inputs[p] = `${inputs[p]}_dequantized`;
    const wb = plan.intNodes.has(n) ? weightOf(n, sink.init) : undefined;
    if (wb) {
      const { name, scales } = quantizeWeight(wb.w, wb.axis, sink, weightLevels(qat?.bits ?? o.weightBits ?? 8));
      inputs[1] = name;
      const xs = qp.get(n.input[0])?.value;
      if (wb.bias && xs !== undefined) inputs[2] = quantizeBias(wb.bias, xs, scales, n.name || n.output[0], sink) ?? inputs[2];
    }
    n.input = inputs;
    body.push(n);
    for (const out of n.output) if (qp.has(out)) qdq(out, body);
  }
  g.node = [...sink.head, ...head, ...body];

  // Drop the float weights the quantized ones replace; keep anything a node or output still reads.
  const used = new Set([...g.node.flatMap((n) => n.input), ...g.output.map((x) => x.name)]);
  g.initializer = [...sink.init.values()].filter((t) => used.has(t.name));
  const kept = new Set(g.initializer.map((t) => t.name));
  const wasInit = new Set(consts);
  g.input = g.input.filter((i) => !wasInit.has(i.name) || kept.has(i.name));
  const per = floatInput(bytes, o).sampleShape.reduce((a, b) => a * b, 1);
  const samples = calibration.reduce((a, b) => a + b.length, 0) / per;
  const also = calibrated.length ? `, ${calibrated.length} calibrated` : '';
  const acts = qat
    ? `uint8 asymmetric activations (scale and zero point from quantisation-aware training${also})`
    : `uint8 asymmetric activations (min/max over ${samples} calibration samples)`;
  const weights =
    (qat?.bits ?? o.weightBits) === 4 ? '4-bit symmetric per-channel weights stored as int8' : 'int8 symmetric per-channel weights';
  setMetadata(m, { 'kdistill.quantization': `int8 static QDQ: ${acts}, ${weights}, int32 bias` });
  return serialise(m);
}

/** The quantisation-aware training record of a file, checked. */
function qatOf(text: string | undefined, source: string): QatParams | undefined {
  if (text === undefined) return undefined;
  let p: QatParams;
  try {
    p = JSON.parse(text) as QatParams;
  } catch {
    throw new KdError('BAD_MODEL', `${source}: its '${QAT_KEY}' metadata is not JSON; re-export the model from its run`);
  }
  if ((p.bits !== 8 && p.bits !== 4) || typeof p.activations !== 'object')
    throw new KdError('BAD_MODEL', `${source}: its '${QAT_KEY}' metadata has no bits (8 or 4) and activations; re-export the model`);
  return p;
}

/**
 * Each quantised root tensor's parameters from training: its own, or those of a tensor that shares its scale (a max-pool
 * or flatten of it, which is what the next layer read and so where training measured the range).
 */
function learnedParams(qat: QatParams, roots: readonly string[], shared: ReadonlyMap<string, string>) {
  const out = new Map<string, { scale: number; zeroPoint: number }>();
  for (const t of roots) {
    const own = qat.activations[t];
    const via =
      own ??
      [...shared]
        .filter(([, root]) => root === t)
        .map(([s]) => qat.activations[s])
        .find((x) => x);
    if (via) out.set(t, via);
  }
  return out;
}
