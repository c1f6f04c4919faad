import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType as DT,
  TensorProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from 'onnx-buf/dist/onnx_pb.js';
import { KdError } from '../../util/errors.js';

/*
 * Small helpers for rewriting ONNX protos in place. The quantizers work on the ModelProto rather than on
 * kdistill's Graph so they accept any exporter's float model (a teacher from PyTorch as well as a student).
 */

/** A float32 initializer's values, whether stored as raw bytes or in `float_data`. */
export function floatsOf(t: TensorProto): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new KdError('UNSUPPORTED_DTYPE', `tensor '${t.name}' is not float32 (ONNX type ${t.dataType})`);
  const n = t.dims.reduce((a, d) => a * Number(d), 1);
  if (t.rawData.length) return new Float32Array(t.rawData.slice().buffer, 0, n);
  return Float32Array.from(t.floatData);
}

/** An initializer holding `data` as raw bytes with ONNX element type `dt`. */
export function tensor(name: string, dt: DT, dims: readonly number[], data: ArrayBufferView): TensorProto {
  const raw = new Uint8Array(data.byteLength);
  raw.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return create(TensorProtoSchema, { name, dataType: dt, dims: dims.map((d) => BigInt(d)), rawData: raw });
}

type AttrValue = number | string;

/** A node with int (`number`) or string attributes: all that Cast, QuantizeLinear and DequantizeLinear take. */
export function node(opType: string, inputs: string[], outputs: string[], name: string, attrs: Record<string, AttrValue> = {}): NodeProto {
  const attribute = Object.entries(attrs).map(([k, v]) =>
    typeof v === 'number'
      ? create(AttributeProtoSchema, { name: k, type: AT.INT, i: BigInt(v) })
      : create(AttributeProtoSchema, { name: k, type: AT.STRING, s: new TextEncoder().encode(v) }),
  );
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, name, attribute });
}

/** An int attribute of a node, or `dflt` when absent. */
export function intAttr(n: NodeProto, name: string, dflt: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : dflt;
}

/** A float attribute of a node, or `dflt` when absent. */
export function floatAttr(n: NodeProto, name: string, dflt: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a ? a.f : dflt;
}

/** A deep copy, so the caller's bytes (and any ModelProto parsed from them) stay untouched. */
export function cloneModel(m: ModelProto): ModelProto {
  return fromBinary(ModelProtoSchema, toBinary(ModelProtoSchema, m));
}

export function serialise(m: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, m);
}

/** Adds metadata to the model, replacing entries of the same key. */
export function setMetadata(m: ModelProto, entries: Record<string, string>): void {
  m.metadataProps = m.metadataProps.filter((p) => !(p.key in entries));
  for (const [key, value] of Object.entries(entries)) m.metadataProps.push({ $typeName: 'onnx.StringStringEntryProto', key, value });
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * IEEE half precision with round-to-nearest-even (what numpy's astype(float16) does); values beyond
 * the half range become ±Inf, tiny ones subnormal or zero. Node 20 has no Float16Array.
 */
export function toHalf(v: number): number {
  F32[0] = v;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    mant |= 0x800000; // subnormal half: shift the implicit 1 in
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // Rounding may carry into the exponent, which correctly gives the next power of two (or Inf).
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

/** The float value of a half-precision bit pattern. */
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
