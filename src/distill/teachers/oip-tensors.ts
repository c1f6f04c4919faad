/**
 * Tensor data of the Open Inference Protocol (KServe v2): the datatypes, their JSON form (row-major numbers,
 * flat or nested) and their binary form (the binary-tensor extension: little-endian, row-major, no padding).
 */
import { fromHalf, toHalf } from './codec.js';

/** The numeric datatypes of the protocol, with their size in bytes. BOOL and BYTES carry no class scores. */
export const OIP_SIZES = {
  FP16: 2,
  FP32: 4,
  FP64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
} as const;
export type OipDatatype = keyof typeof OIP_SIZES;

export const isOipNumeric = (d: unknown): d is OipDatatype => typeof d === 'string' && Object.hasOwn(OIP_SIZES, d);

type Io = { get: (dv: DataView, at: number) => number; set: (dv: DataView, at: number, v: number | bigint) => void };
// Integers are read and written as they are (token ids are never rounded floats); 64-bit ones through BigInt.
const IO: Record<OipDatatype, Io> = {
  FP16: { get: (dv, at) => fromHalf(dv.getUint16(at, true)), set: (dv, at, v) => dv.setUint16(at, toHalf(Number(v)), true) },
  FP32: { get: (dv, at) => dv.getFloat32(at, true), set: (dv, at, v) => dv.setFloat32(at, Number(v), true) },
  FP64: { get: (dv, at) => dv.getFloat64(at, true), set: (dv, at, v) => dv.setFloat64(at, Number(v), true) },
  INT8: { get: (dv, at) => dv.getInt8(at), set: (dv, at, v) => dv.setInt8(at, Number(v)) },
  UINT8: { get: (dv, at) => dv.getUint8(at), set: (dv, at, v) => dv.setUint8(at, Number(v)) },
  INT16: { get: (dv, at) => dv.getInt16(at, true), set: (dv, at, v) => dv.setInt16(at, Number(v), true) },
  UINT16: { get: (dv, at) => dv.getUint16(at, true), set: (dv, at, v) => dv.setUint16(at, Number(v), true) },
  INT32: { get: (dv, at) => dv.getInt32(at, true), set: (dv, at, v) => dv.setInt32(at, Number(v), true) },
  UINT32: { get: (dv, at) => dv.getUint32(at, true), set: (dv, at, v) => dv.setUint32(at, Number(v), true) },
  INT64: { get: (dv, at) => Number(dv.getBigInt64(at, true)), set: (dv, at, v) => dv.setBigInt64(at, BigInt(v), true) },
  UINT64: { get: (dv, at) => Number(dv.getBigUint64(at, true)), set: (dv, at, v) => dv.setBigUint64(at, BigInt(v), true) },
};

/** Values → the binary form of `datatype`. */
export function toBinary(x: Float32Array | BigInt64Array, datatype: OipDatatype): Uint8Array {
  const same = (datatype === 'FP32' && x instanceof Float32Array) || (datatype === 'INT64' && x instanceof BigInt64Array);
  if (same) return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  const s = OIP_SIZES[datatype],
    out = new Uint8Array(x.length * s),
    dv = new DataView(out.buffer),
    io = IO[datatype];
  for (let i = 0; i < x.length; i++) io.set(dv, i * s, x[i]);
  return out;
}

/** The binary form of `count` values of `datatype` → float32 class scores (or features). */
export function fromBinary(b: Uint8Array, datatype: OipDatatype, count: number): Float32Array {
  const out = new Float32Array(count),
    dv = new DataView(b.buffer, b.byteOffset, b.byteLength),
    s = OIP_SIZES[datatype],
    io = IO[datatype];
  for (let i = 0; i < count; i++) out[i] = io.get(dv, i * s);
  return out;
}

/** JSON tensor data (flat, or nested to any depth, in row-major order) → numbers; undefined when something is not a number. */
export function flattenJson(data: unknown): number[] | undefined {
  const out: number[] = [];
  const walk = (v: unknown): boolean => {
    if (typeof v === 'number') return out.push(v) > 0;
    return Array.isArray(v) && v.every(walk);
  };
  return walk(data) ? out : undefined;
}
