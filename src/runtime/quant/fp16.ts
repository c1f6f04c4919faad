import { TensorProto_DataType as DT, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf/dist/onnx_pb.js';
import { parseOnnx } from '../../graph/onnx.js';
import { cloneModel, floatsOf, node, serialise, setMetadata, tensor, toHalf } from './proto.js';

/** Which parts of a model `toFloat16` turns into float16. */
export interface Float16Options {
  /**
   * 'weights' (default): float16 initializers, each cast to float32 where it is read, so every op still
   * computes in float32. ONNX Runtime folds the casts at load time, so the file halves and the model
   * runs on any execution provider. 'compute': the whole graph in float16 with casts at the inputs and
   * outputs, for runtimes with float16 kernels (GPU). The x86 CPU provider of onnxruntime-node 1.30 has
   * no float16 Conv: it still loads such a model but inserts casts and computes in float32 anyway.
   */
  mode?: 'weights' | 'compute';
  source?: string;
}

/** Whether every value of a float32 initializer survives float16 (no ±Inf from overflow, as a −1e9 mask would give). */
function fitsHalf(t: TensorProto): boolean {
  return floatsOf(t).every((v) => !Number.isFinite(v) || Math.abs(v) <= 65504);
}

function halfTensor(t: TensorProto, name = t.name): TensorProto {
  const f = floatsOf(t);
  const h = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) h[i] = toHalf(f[i]);
  return tensor(name, DT.FLOAT16, t.dims.map(Number), h);
}

/**
 * The model with its float32 weights stored as float16; it still takes and returns float32.
 * Other initializers (int64 shapes, already-quantized tensors) are kept as they are.
 */
export function toFloat16(bytes: Uint8Array, o: Float16Options = {}): Uint8Array {
  const m = cloneModel(parseOnnx(bytes, o.source));
  if (o.mode === 'compute') computeInHalf(m);
  else weightsInHalf(m);
  setMetadata(m, { 'kdistill.precision': o.mode === 'compute' ? 'float16' : 'float16-weights' });
  return serialise(m);
}

function weightsInHalf(m: ModelProto): void {
  const g = m.graph!;
  const casts: NodeProto[] = [];
  const converted = new Set<string>();
  g.initializer = g.initializer.map((t) => {
    if (t.dataType !== DT.FLOAT || !fitsHalf(t)) return t;
    converted.add(t.name);
    // The cast keeps the original name, so no consumer changes.
    casts.push(node('Cast', [`${t.name}_fp16`], [t.name], `${t.name}/cast_fp32`, { to: DT.FLOAT }));
    return halfTensor(t, `${t.name}_fp16`);
  });
  // Old exporters also list initializers as graph inputs; those names are now node outputs.
  g.input = g.input.filter((i) => !converted.has(i.name));
  g.node = [...casts, ...g.node];
}

function computeInHalf(m: ModelProto): void {
  const g = m.graph!;
  const init = new Set(g.initializer.map((t) => t.name));
  g.initializer = g.initializer.map((t) => (t.dataType === DT.FLOAT ? halfTensor(t) : t));
  const rename = (from: string, to: string) => {
    for (const n of g.node) n.input = n.input.map((x) => (x === from ? to : x));
  };
  const isFloat = (vi: (typeof g.input)[number]) => vi.type?.value.case === 'tensorType' && vi.type.value.value.elemType === DT.FLOAT;
  const head: NodeProto[] = [];
  for (const i of g.input) {
    if (init.has(i.name) || !isFloat(i)) continue;
    rename(i.name, `${i.name}_fp16`);
    head.push(node('Cast', [i.name], [`${i.name}_fp16`], `${i.name}/cast_fp16`, { to: DT.FLOAT16 }));
  }
  const tail: NodeProto[] = [];
  for (const o of g.output) {
    if (!isFloat(o)) continue;
    rename(o.name, `${o.name}_fp16`);
    for (const n of g.node) n.output = n.output.map((x) => (x === o.name ? `${o.name}_fp16` : x));
    tail.push(node('Cast', [`${o.name}_fp16`], [o.name], `${o.name}/cast_fp32`, { to: DT.FLOAT }));
  }
  for (const n of g.node) {
    for (const a of n.attribute) {
      if (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === DT.FLOAT) a.i = BigInt(DT.FLOAT16);
      if (n.opType === 'Constant' && a.t?.dataType === DT.FLOAT) a.t = halfTensor(a.t, a.t.name);
    }
  }
  // Declared intermediate types would now be wrong; ONNX Runtime infers them again.
  g.valueInfo = [];
  g.node = [...head, ...g.node, ...tail];
}
