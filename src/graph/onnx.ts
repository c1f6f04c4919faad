import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType as DT,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type TensorProto,
} from 'onnx-buf/dist/onnx_pb.js';
import { KdError } from '../util/errors.js';
import type { Graph } from './graph.js';
import type { Attr, DType, TensorData, ValueInfo } from './types.js';

/** The default-domain opset kdistill emits; every op it uses is implemented by onnxruntime-node 1.30 at this version. */
export const OPSET = 18;
export const IR_VERSION = 8;

const DTYPE_CODE: Record<DType, number> = { float32: DT.FLOAT, int64: DT.INT64, bool: DT.BOOL, int32: DT.INT32, float64: DT.DOUBLE };
const CODE_DTYPE = new Map<number, DType>(Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]));

function bytesOf(t: TensorData): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)) as Uint8Array;
}

export function tensorProto(name: string, t: TensorData): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: t.shape.map((d) => BigInt(d)),
    dataType: DTYPE_CODE[t.dtype],
    rawData: bytesOf(t) as Uint8Array<ArrayBuffer>,
  });
}

/** Decodes a TensorProto (raw or typed fields) into a TensorData. */
export function tensorFromProto(p: TensorProto): TensorData {
  const dtype = CODE_DTYPE.get(p.dataType);
  if (!dtype) throw new KdError('UNSUPPORTED_DTYPE', `tensor '${p.name}' has ONNX data type ${p.dataType}, which kdistill does not read`);
  const shape = p.dims.map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  if (p.rawData.length) {
    // A copy of exactly these bytes: `slice()` of a Node Buffer (what a file read gives) is a view into a shared pool.
    const buf = Uint8Array.prototype.slice.call(p.rawData).buffer;
    switch (dtype) {
      case 'float32':
        return { dtype, shape, data: new Float32Array(buf, 0, n) };
      case 'float64':
        return { dtype, shape, data: new Float64Array(buf, 0, n) };
      case 'int64':
        return { dtype, shape, data: new BigInt64Array(buf, 0, n) };
      case 'int32':
        return { dtype, shape, data: new Int32Array(buf, 0, n) };
      case 'bool':
        return { dtype, shape, data: new Uint8Array(buf, 0, n) };
    }
  }
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: Float32Array.from(p.floatData) };
    case 'float64':
      return { dtype, shape, data: Float64Array.from(p.doubleData) };
    case 'int64':
      return { dtype, shape, data: BigInt64Array.from(p.int64Data) };
    case 'int32':
      return { dtype, shape, data: Int32Array.from(p.int32Data) };
    case 'bool':
      return { dtype, shape, data: Uint8Array.from(p.int32Data) };
  }
}

function valueInfo(name: string, v: ValueInfo) {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType: DTYPE_CODE[v.dtype],
          shape: create(TensorShapeProtoSchema, {
            dim: v.shape.map((d) =>
              create(TensorShape_Dim, {
                value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
              }),
            ),
          }),
        }),
      },
    }),
  });
}
const TensorShape_Dim = TensorShapeProto_DimensionSchema;

function attrProto(name: string, a: Attr): AttributeProto {
  switch (a.kind) {
    case 'int':
      return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(Math.trunc(a.value)) });
    case 'float':
      return create(AttributeProtoSchema, { name, type: AT.FLOAT, f: a.value });
    case 'ints':
      return create(AttributeProtoSchema, { name, type: AT.INTS, ints: a.value.map((v) => BigInt(v)) });
    case 'floats':
      return create(AttributeProtoSchema, { name, type: AT.FLOATS, floats: [...a.value] });
    case 'string':
      return create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(a.value) as Uint8Array<ArrayBuffer> });
    case 'tensor':
      return create(AttributeProtoSchema, { name, type: AT.TENSOR, t: tensorProto('', a.value) });
    case 'graph':
      return create(AttributeProtoSchema, { name, type: AT.GRAPH, g: graphProto(a.value.graph as Graph) });
  }
}

/** The GraphProto of `g`; values `g` only borrows from an enclosing graph (outer scope) are not declared. */
export function graphProto(g: Graph, outputs: readonly string[] = g.outputs): GraphProto {
  return create(GraphProtoSchema, {
    name: g.name,
    node: g.nodes.map((n) =>
      create(NodeProtoSchema, {
        name: n.name,
        opType: n.opType,
        domain: n.domain ?? '',
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
      }),
    ),
    initializer: [...g.initializers].map(([name, t]) => tensorProto(name, t)),
    input: g.inputs.map((n) => valueInfo(n, g.info.get(n)!)),
    output: outputs.map((n) => {
      const i = g.info.get(n);
      if (!i) throw new KdError('UNKNOWN_VALUE', `cannot export '${n}': graph '${g.name}' has no such value`);
      return valueInfo(n, i);
    }),
  });
}

export interface ExportOptions {
  /** Values to declare as graph outputs instead of `graph.outputs`. */
  outputs?: string[];
  docString?: string;
  metadata?: Record<string, string>;
}

/** Builds the ModelProto for a graph (opset {@link OPSET}); symbolic dims become dim_params. */
export function toModelProto(g: Graph, opts: ExportOptions = {}): ModelProto {
  const graph = graphProto(g, opts.outputs ?? g.outputs);
  return create(ModelProtoSchema, {
    irVersion: BigInt(IR_VERSION),
    producerName: 'kdistill',
    producerVersion: '0.1.0',
    docString: opts.docString ?? '',
    opsetImport: [
      create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(OPSET) }),
      ...[...domainsOf(g)].map((domain) => create(OperatorSetIdProtoSchema, { domain, version: 1n })),
    ],
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({
      $typeName: 'onnx.StringStringEntryProto' as const,
      key,
      value,
    })),
    graph,
  });
}

/** Non-default operator domains used by `g` and its subgraphs (ONNX Runtime's contrib domains, all at version 1). */
function domainsOf(g: Graph, into = new Set<string>()): Set<string> {
  for (const n of g.nodes) {
    if (n.domain) into.add(n.domain);
    for (const a of Object.values(n.attrs)) if (a.kind === 'graph') domainsOf(a.value.graph as Graph, into);
  }
  return into;
}

/** Serialises a graph to ONNX protobuf bytes. */
export function toOnnx(g: Graph, opts: ExportOptions = {}): Uint8Array {
  return toBinary(ModelProtoSchema, toModelProto(g, opts));
}

/** Parses ONNX bytes; a truncated or non-ONNX file is reported as such. */
export function parseOnnx(bytes: Uint8Array, source = 'model'): ModelProto {
  // An empty file decodes as an empty message; saying "empty" points at the failed download or copy.
  if (bytes.length === 0)
    throw new KdError('BAD_ONNX', `${source} is empty (0 bytes); is it an ONNX model file that was not fully written or downloaded?`);
  let m: ModelProto;
  try {
    m = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new KdError('BAD_ONNX', `${source} is not a valid ONNX file (${(e as Error).message}); is it truncated or a different format?`);
  }
  if (!m.graph) throw new KdError('BAD_ONNX', `${source} has no graph; is it an ONNX model file?`);
  return m;
}
