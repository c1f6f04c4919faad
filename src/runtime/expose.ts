import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DT, TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema } from 'onnx-buf/dist/onnx_pb.js';
import { parseOnnx } from '../graph/onnx.js';
import { KdError } from '../util/errors.js';
import { createSession, ort } from './ort.js';

/**
 * The model with the named intermediate values added as graph outputs, so a teacher from any exporter
 * can return features by node name. Names already among the outputs are left as they are.
 */
export function exposeOutputs(bytes: Uint8Array, names: readonly string[], source = 'model'): Uint8Array {
  const m = parseOnnx(bytes, source);
  const g = m.graph!;
  const have = new Set(g.output.map((o) => o.name));
  const produced = new Set(g.node.flatMap((n) => n.output));
  const missing = names.filter((n) => !have.has(n) && !produced.has(n));
  if (missing.length) {
    const near = [...produced].filter((p) => missing.some((x) => p.includes(x.split('/')[0]))).slice(0, 8);
    throw new KdError('UNKNOWN_NODE', `${source} has no node output named ${missing.map((x) => `'${x}'`).join(', ')}${near.length ? `; similar: ${near.join(', ')}` : ''} (\`kdistill inspect\` lists them)`);
  }
  const add = names.filter((n) => !have.has(n));
  if (!add.length) return bytes;
  const float = () => create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType: DT.FLOAT }) } });
  const out = create(ModelProtoSchema, { ...m, graph: { ...g, output: [...g.output, ...add.map((name) => create(ValueInfoProtoSchema, { name, type: float() }))] } });
  return toBinary(ModelProtoSchema, out);
}

/** Shapes of the named outputs for one sample (batch 1), found by running the model once on zeros. */
export async function probeOutputShapes(bytes: Uint8Array, outputs: readonly string[], source = 'model'): Promise<Record<string, number[]>> {
  const m = parseOnnx(bytes, source);
  const g = m.graph!;
  const init = new Set(g.initializer.map((t) => t.name));
  const s = await createSession(bytes, { threads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of g.input.filter((x) => !init.has(x.name))) {
      const t = i.type?.value.case === 'tensorType' ? i.type.value.value : undefined;
      const shape = (t?.shape?.dim ?? []).map((d) => (d.value.case === 'dimValue' && Number(d.value.value) > 0 ? Number(d.value.value) : 1));
      const n = shape.reduce((a, b) => a * b, 1);
      feeds[i.name] = t?.elemType === DT.INT64 ? new ort.Tensor('int64', new BigInt64Array(n), shape) : new ort.Tensor('float32', new Float32Array(n), shape);
    }
    const r = await s.run(feeds, [...outputs]);
    return Object.fromEntries(outputs.map((o) => [o, [...r[o].dims]]));
  } finally {
    await s.release();
  }
}
