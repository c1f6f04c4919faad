import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DT, ValueInfoProtoSchema } from 'onnx-buf/dist/onnx_pb.js';
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
    // Suggest names sharing the last path segment (PyTorch exports start with '/', so prefixes say little).
    const tail = (x: string) => x.split('/').filter(Boolean).pop() ?? x;
    const near = [...produced]
      .filter((p) => missing.some((x) => tail(p) === tail(x) || tail(p).startsWith(tail(x).replace(/_\d+$/, ''))))
      .slice(0, 8);
    throw new KdError(
      'UNKNOWN_NODE',
      `${source} has no node output named ` +
        `${missing.map((x) => `'${x}'`).join(', ')}${near.length ? `; similar: ${near.join(', ')}` : ''} ` +
        `(\`kdistill inspect\` lists them)`,
    );
  }
  const add = names.filter((n) => !have.has(n));
  if (!add.length) return bytes;
  // Keep a known element type (shape arithmetic yields int64 values); unknown ones are left for ORT to infer.
  const known = new Map(g.valueInfo.map((v) => [v.name, v.type]));
  const out = create(ModelProtoSchema, {
    ...m,
    graph: {
      ...g,
      output: [
        ...g.output,
        ...add.map((name) => create(ValueInfoProtoSchema, { name, ...(known.get(name) ? { type: known.get(name) } : {}) })),
      ],
    },
  });
  return toBinary(ModelProtoSchema, out);
}

/** A tensor of zeros: token ids (int64) or floats. */
const zeros = (int64: boolean, shape: readonly number[]): ort.Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return int64 ? new ort.Tensor('int64', new BigInt64Array(n), shape) : new ort.Tensor('float32', new Float32Array(n), shape);
};

/**
 * Shapes of the named outputs for one sample, found by running the model once on zeros of shape
 * [1, ...sampleShape] (the data's shape, so models with symbolic height/width are probed at the real size).
 */
export async function probeOutputShapes(
  bytes: Uint8Array,
  outputs: readonly string[],
  source = 'model',
  sampleShape?: readonly number[],
): Promise<Record<string, number[]>> {
  const m = parseOnnx(bytes, source);
  const g = m.graph!;
  const init = new Set(g.initializer.map((t) => t.name));
  const s = await createSession(bytes, { threads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    const inputs = g.input.filter((x) => !init.has(x.name));
    for (const i of inputs) {
      const t = i.type?.value.case === 'tensorType' ? i.type.value.value : undefined;
      const declared = (t?.shape?.dim ?? []).map((d) =>
        d.value.case === 'dimValue' && Number(d.value.value) > 0 ? Number(d.value.value) : 1,
      );
      feeds[i.name] = zeros(t?.elemType === DT.INT64, sampleShape && inputs.length === 1 ? [1, ...sampleShape] : declared);
    }
    let r: Record<string, ort.Tensor>;
    try {
      r = (await s.run(feeds, [...outputs])) as Record<string, ort.Tensor>;
    } catch (e) {
      throw new KdError(
        'SHAPE_MISMATCH',
        `${source} does not run on one sample of shape [${Object.values(feeds)
          .map((f) => f.dims.join(', '))
          .join('], [')}]: ${(e as Error).message.split('\n')[0]}`,
      );
    }
    // A graph that runs on one sample may still have the batch size baked in (a Reshape to [1, …] from an export
    // without dynamic axes); two samples find it here, not in the first training step.
    if (sampleShape && inputs.length === 1) {
      const [name] = Object.keys(feeds);
      try {
        await s.run({ [name]: zeros(feeds[name].type === 'int64', [2, ...sampleShape]) }, [...outputs]);
      } catch (e) {
        throw new KdError(
          'SHAPE_MISMATCH',
          `${source} runs on one sample but not on a batch of two: its graph fixes the batch size ` +
            `(${(e as Error).message.split('\n')[0]}). Re-export it with a dynamic batch dimension ` +
            "(PyTorch: torch.onnx.export(..., dynamic_axes={input_name: {0: 'batch'}, output_name: {0: 'batch'}}), " +
            'and flatten with x.flatten(1), not x.view(1, -1))',
        );
      }
    }
    return Object.fromEntries(outputs.map((o) => [o, [...r[o].dims]]));
  } finally {
    await s.release();
  }
}
