import { expandTopk } from './answers.js';

/** How one sample's output is stored in the teacher cache. */
export interface StoreFormat {
  /** float16 halves the size at ~3 significant digits, plenty for soft targets. */
  dtype: 'float32' | 'float16';
  /** Keep only the k most probable classes of logits (with their probabilities); the rest is spread evenly on reading. */
  topk?: number;
}

/** The directory suffix of a format, so differently stored answers never mix. */
export const formatTag = (f: StoreFormat): string => (f.topk ? `top${f.topk}` : f.dtype === 'float16' ? 'f16' : 'f32');

/** Bytes one sample of `size` values takes. */
export const recordBytes = (f: StoreFormat, size: number): number => (f.topk ? 8 * f.topk : f.dtype === 'float16' ? 2 * size : 4 * size);

const NONE = 0xffffffff;

/** One sample's values → record bytes (top-k keeps the k largest logits' probabilities). */
export function encode(v: Float32Array, f: StoreFormat): Uint8Array {
  const out = new Uint8Array(recordBytes(f, v.length));
  const dv = new DataView(out.buffer);
  if (f.topk) {
    let mx = -Infinity,
      s = 0;
    for (const x of v) mx = Math.max(mx, x);
    for (const x of v) s += Math.exp(x - mx);
    const order = Array.from(v.keys())
      .sort((a, b) => v[b] - v[a])
      .slice(0, f.topk);
    // With fewer classes than k the unused slots say so (class 2^32 − 1), keeping records one size.
    for (let j = 0; j < f.topk; j++) {
      dv.setUint32(8 * j, j < order.length ? order[j] : NONE, true);
      dv.setFloat32(8 * j + 4, j < order.length ? Math.exp(v[order[j]] - mx) / s : 0, true);
    }
  } else if (f.dtype === 'float16') for (let i = 0; i < v.length; i++) dv.setUint16(2 * i, toHalf(v[i]), true);
  // float32 records are the platform's bytes (little-endian everywhere Node runs in practice).
  else out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return out;
}

/** Record bytes → one sample's values in `out` (its length is the sample's size). */
export function decode(b: Uint8Array, f: StoreFormat, out: Float32Array): void {
  // The float32 case is a warm epoch's hot path: one copy, no DataView.
  if (!f.topk && f.dtype === 'float32') {
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(b);
    return;
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (f.topk) {
    const idx: number[] = [],
      prob: number[] = [];
    for (let j = 0; j < f.topk && dv.getUint32(8 * j, true) !== NONE; j++) {
      idx.push(dv.getUint32(8 * j, true));
      prob.push(dv.getFloat32(8 * j + 4, true));
    }
    expandTopk(out, idx, prob);
  } else {
    const t = halfTable();
    for (let i = 0; i < out.length; i++) out[i] = t[dv.getUint16(2 * i, true)];
  }
}

const f32 = new Float32Array(1),
  u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bits of `v`, rounded to nearest even (overflow → ±Inf, tiny → subnormal or 0). */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0],
    sign = (x >>> 16) & 0x8000,
    exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e,
      rem = mant & ((1 << shift) - 1),
      half = 1 << (shift - 1);
    let h = mant >>> shift;
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the right rounding (up to Inf).
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** The number a half-precision bit pattern stands for. */
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >>> 10) & 0x1f,
    m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

let table: Float32Array | undefined;
/** All 65 536 halves decoded once: a lookup beats the arithmetic on every cached value read. */
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = fromHalf(h);
  }
  return table;
}

const CRC = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (zlib's), to tell a record or index entry that was cut off or damaged from a whole one. */
export function crc32(b: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < b.length; i++) c = CRC[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
