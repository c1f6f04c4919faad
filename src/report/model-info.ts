import { TensorProto_DataType as DT, type ValueInfoProto } from 'onnx-buf/dist/onnx_pb.js';
import { parseOnnx } from '../graph/onnx.js';
import { exposeOutputs, probeOutputShapes } from '../runtime/expose.js';

/** What `kdistill inspect` reports about an ONNX model. */
export interface ModelInfo {
  opset: number;
  producer: string;
  inputs: { name: string; dtype: string; shape: (number | string)[] }[];
  outputs: { name: string; dtype: string; shape: (number | string)[] }[];
  parameters: number;
  nodes: number;
  opCounts: Record<string, number>;
  /** Intermediate values a feature method could tap, with their shapes at batch size 1. */
  taps: { node: string; op: string; shape: number[] }[];
}

const TAPPABLE = new Set([
  'Relu',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Add',
  'Flatten',
  'Gemm',
  'MatMul',
  'Conv',
  'BatchNormalization',
  'Concat',
  'Gelu',
  'Sigmoid',
  'Tanh',
  'LayerNormalization',
]);

function dims(vi: ValueInfoProto): { dtype: string; shape: (number | string)[] } {
  const t = vi.type?.value.case === 'tensorType' ? vi.type.value.value : undefined;
  return {
    dtype: DT[t?.elemType ?? 0]?.toLowerCase() ?? 'unknown',
    shape: (t?.shape?.dim ?? []).map((d) =>
      d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?',
    ),
  };
}

/**
 * Reads an ONNX model and finds its tappable intermediate values by running it once at batch 1 with
 * every candidate exposed as an output (shapes come from ONNX Runtime, so any exporter's model works).
 */
export async function inspectModel(bytes: Uint8Array, source = 'model'): Promise<ModelInfo> {
  const m = parseOnnx(bytes, source);
  const g = m.graph!;
  const init = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((i) => !init.has(i.name)).map((i) => ({ name: i.name, ...dims(i) }));
  const outputs = g.output.map((o) => ({ name: o.name, ...dims(o) }));
  const opCounts: Record<string, number> = {};
  for (const n of g.node) opCounts[n.opType] = (opCounts[n.opType] ?? 0) + 1;
  const parameters = g.initializer.reduce((a, t) => a + t.dims.reduce((p, d) => p * Number(d), 1), 0);
  const outNames = new Set(outputs.map((o) => o.name));
  const candidates = g.node.filter((n) => TAPPABLE.has(n.opType) && n.output[0] && !outNames.has(n.output[0]));
  const taps: ModelInfo['taps'] = [];
  if (candidates.length && inputs.every((i) => i.dtype === 'float' || i.dtype === 'int64')) {
    const names = candidates.map((n) => n.output[0]);
    const shapes = await probeOutputShapes(exposeOutputs(bytes, names, source), names, source);
    for (const n of candidates) taps.push({ node: n.output[0], op: n.opType, shape: shapes[n.output[0]] });
  }
  return {
    opset: Number(m.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0),
    producer: `${m.producerName} ${m.producerVersion}`.trim(),
    inputs,
    outputs,
    parameters,
    nodes: g.node.length,
    opCounts,
    taps,
  };
}
