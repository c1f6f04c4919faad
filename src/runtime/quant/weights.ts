import { TensorProto_DataType as DT, type NodeProto, type TensorProto } from 'onnx-buf/dist/onnx_pb.js';
import { rint } from '../../util/rint.js';
import { floatAttr, floatsOf, intAttr, node, tensor } from './proto.js';

/** Scale and zero point of a uint8 asymmetric activation whose range includes 0 (so 0 is exact). */
export function activationParams(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, min),
    hi = Math.max(0, max);
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  return { scale, zeroPoint: Math.max(0, Math.min(255, rint(-lo / scale))) };
}

/** Where quantized weights and their DequantizeLinear nodes go. */
export interface WeightSink {
  init: Map<string, TensorProto>;
  /** DequantizeLinear nodes for weights, emitted before every other node. */
  head: NodeProto[];
}

/**
 * Symmetric int8 per-channel quantization of weight `w` along `axis` (levels −127…127, zero point 0,
 * ORT's default for weights; `levels` 7 for a 4-bit weight held in int8). Returns the name of the dequantized tensor and
 * the per-channel scales.
 */
export function quantizeWeight(w: TensorProto, axis: number, sink: WeightSink, levels = 127): { name: string; scales: Float32Array } {
  const dims = w.dims.map(Number);
  const data = floatsOf(w);
  const C = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const amax = new Float32Array(C);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % C;
    amax[c] = Math.max(amax[c], Math.abs(data[i]));
  }
  // An all-zero channel gets scale 1: any scale represents it exactly and 0 would divide by zero.
  const scales = Float32Array.from(amax, (a) => (a > 0 ? a / levels : 1));
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++)
    q[i] = Math.max(-levels, Math.min(levels, rint(Math.fround(data[i] / scales[Math.floor(i / inner) % C]))));
  const name = `${w.name}_dequantized`;
  if (!sink.init.has(`${w.name}_quantized`)) {
    sink.init.set(`${w.name}_quantized`, tensor(`${w.name}_quantized`, DT.INT8, dims, q));
    sink.init.set(`${w.name}_scale`, tensor(`${w.name}_scale`, DT.FLOAT, [C], scales));
    sink.init.set(`${w.name}_zero_point`, tensor(`${w.name}_zero_point`, DT.INT8, [C], new Int8Array(C)));
    sink.head.push(
      node('DequantizeLinear', [`${w.name}_quantized`, `${w.name}_scale`, `${w.name}_zero_point`], [name], `${w.name}/DequantizeLinear`, {
        axis,
      }),
    );
  }
  return { name, scales };
}

/**
 * A bias as int32 with scale input_scale × weight_scale[c] and zero point 0: the form QLinearConv and
 * QGemm add to their int32 accumulators, so ORT only fuses a Conv/Gemm whose bias arrives this way.
 */
export function quantizeBias(
  b: TensorProto,
  inputScale: number,
  wScales: Float32Array,
  owner: string,
  sink: WeightSink,
): string | undefined {
  const data = floatsOf(b);
  if (b.dims.length !== 1 || data.length !== wScales.length) return undefined;
  const scales = Float32Array.from(wScales, (s) => Math.fround(inputScale * s));
  const q = new Int32Array(data.length);
  for (let c = 0; c < data.length; c++) q[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, rint(data[c] / scales[c])));
  // The bias scale depends on the input's scale, so a bias shared by two nodes is quantized once per node.
  const base = sink.init.has(`${b.name}_quantized`) ? `${b.name}_${owner}` : b.name;
  sink.init.set(`${base}_quantized`, tensor(`${base}_quantized`, DT.INT32, [data.length], q));
  sink.init.set(`${base}_scale`, tensor(`${base}_scale`, DT.FLOAT, [data.length], scales));
  sink.init.set(`${base}_zero_point`, tensor(`${base}_zero_point`, DT.INT32, [data.length], new Int32Array(data.length)));
  sink.head.push(
    node(
      'DequantizeLinear',
      [`${base}_quantized`, `${base}_scale`, `${base}_zero_point`],
      [`${base}_dequantized`],
      `${base}/DequantizeLinear`,
      { axis: 0 },
    ),
  );
  return `${base}_dequantized`;
}

/** The weight input, its channel axis and the bias input of a Conv/Gemm/MatMul whose weight ORT can take per channel. */
export function weightOf(
  n: NodeProto,
  init: ReadonlyMap<string, TensorProto>,
): { w: TensorProto; axis: number; bias?: TensorProto } | undefined {
  const w = init.get(n.input[1]);
  if (!w || w.dataType !== DT.FLOAT) return undefined;
  const b = n.input[2] ? init.get(n.input[2]) : undefined;
  const bias = b && b.dataType === DT.FLOAT ? b : undefined;
  if (n.opType === 'Conv' && w.dims.length >= 3) return { w, axis: 0, bias };
  if (n.opType === 'MatMul' && w.dims.length === 2) return { w, axis: 1 };
  if (n.opType === 'Gemm' && w.dims.length === 2) {
    // alpha/beta scale the product and bias: QGemm has them, but the bias-as-int32 form assumes 1.
    if (intAttr(n, 'transA', 0) !== 0 || floatAttr(n, 'alpha', 1) !== 1 || floatAttr(n, 'beta', 1) !== 1) return undefined;
    return { w, axis: intAttr(n, 'transB', 0) ? 0 : 1, bias };
  }
  return undefined;
}
