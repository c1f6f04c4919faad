/**
 * A reader of R's serialization format (XDR, versions 2 and 3), enough for the data frames R packages ship: atomic
 * vectors, lists, pairlists of attributes, symbols and references, and the ALTREP forms R 3.5+ writes for compact
 * sequences and wrapped vectors. Closures, environments with contents, bytecode and other ALTREP classes are refused
 * by name. Also the index of a lazy-load database (`Rdata.rdx` / `Rdata.rdb`, how an installed package stores its
 * `data/`): which byte range of the `.rdb` holds each object. Decompression is the caller's (Node has zlib; a
 * browser has DecompressionStream), so this file stays free of Node modules.
 */
import { KdError } from '../util/errors.js';

/** An R value as read: vectors keep their R type; attributes (names, class, levels, row.names) ride along. */
export type RValue =
  | { readonly type: 'null' }
  | { readonly type: 'symbol'; readonly name: string }
  | { readonly type: 'logical' | 'integer'; readonly data: Int32Array; readonly attributes: RAttributes }
  | { readonly type: 'double'; readonly data: Float64Array; readonly attributes: RAttributes }
  | { readonly type: 'character'; readonly data: readonly (string | null)[]; readonly attributes: RAttributes }
  | { readonly type: 'list'; readonly data: readonly RValue[]; readonly attributes: RAttributes }
  | { readonly type: 'pairlist'; readonly data: readonly { tag: string | null; value: RValue }[]; readonly attributes: RAttributes }
  | { readonly type: 'environment' };

export type RAttributes = Readonly<Record<string, RValue>>;

/** R's NA for integers (and factors): the smallest 32-bit integer. */
export const R_NA_INTEGER = -2147483648;

const NILVALUE = 254,
  REFSXP = 255,
  ALTREP = 238,
  ATTRLIST = 239,
  ATTRLANG = 240,
  EMPTYENV = 242,
  BASEENV = 241,
  GLOBALENV = 253,
  PERSIST = 247,
  NAMESPACE = 249,
  PACKAGE = 248;

class Reader {
  private pos = 0;
  private readonly view: DataView;
  private readonly refs: RValue[] = [];
  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(what: string): never {
    throw new KdError('DATASET_INVALID', `${this.source}: ${what} (at byte ${this.pos}); it is not R data this reader can read`);
  }
  int(): number {
    if (this.pos + 4 > this.bytes.length) this.fail('the data ends early');
    const v = this.view.getInt32(this.pos, false);
    this.pos += 4;
    return v;
  }
  length(): number {
    const n = this.int();
    if (n !== -1) return n;
    // A long vector: its length as two 32-bit halves.
    const hi = this.int(),
      lo = this.int();
    return hi * 2 ** 32 + (lo >>> 0);
  }
  header(): void {
    if (this.bytes[0] !== 0x58 || this.bytes[1] !== 0x0a)
      this.fail(`starts with '${String.fromCharCode(this.bytes[0], this.bytes[1])}', not the XDR format's 'X\\n'`);
    this.pos = 2;
    const version = this.int();
    this.int(); // the writer's R version
    this.int(); // the oldest R that can read it
    if (version === 3) {
      const n = this.int(); // the native encoding's name
      this.pos += n;
    } else if (version !== 2) this.fail(`serialization version ${version} (2 and 3 are read)`);
  }
  string(n: number): string {
    if (this.pos + n > this.bytes.length) this.fail('a string runs past the end');
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  /** A CHARSXP's payload: its length (-1: NA), then the bytes. */
  charsxp(): string | null {
    const flags = this.int();
    if ((flags & 0xff) !== 9) this.fail(`expected a string element, found R type ${flags & 0xff}`);
    const n = this.int();
    return n === -1 ? null : this.string(n);
  }
  attributes(hasAttr: boolean): RAttributes {
    if (!hasAttr) return {};
    const a = this.item();
    if (a.type !== 'pairlist') this.fail('attributes are not a pairlist');
    return Object.fromEntries(a.data.map((e) => [e.tag ?? '', e.value]));
  }
  item(): RValue {
    const flags = this.int();
    const type = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    switch (type) {
      case NILVALUE:
        return { type: 'null' };
      case REFSXP: {
        const k = flags >> 8 || this.int();
        const v = this.refs[k - 1];
        if (!v) this.fail(`reference ${k} to an object not read yet`);
        return v;
      }
      case EMPTYENV:
      case BASEENV:
      case GLOBALENV:
        return { type: 'environment' };
      case 1: {
        // A symbol: its name, remembered for later references.
        const name = this.charsxp() ?? 'NA';
        const v: RValue = { type: 'symbol', name };
        this.refs.push(v);
        return v;
      }
      case 2:
      case ATTRLIST:
        return this.pairlist(hasAttr, hasTag);
      case 4: {
        // An environment with contents: read through so references stay numbered, kept as an opaque value.
        const v: RValue = { type: 'environment' };
        this.refs.push(v);
        this.int(); // locked
        this.item(); // enclosure
        this.item(); // frame
        this.item(); // hash table
        this.item(); // attributes
        return v;
      }
      case PERSIST:
      case NAMESPACE:
      case PACKAGE: {
        // Named references (a namespace, a lazy-load environment): a string vector of names, kept opaque.
        if (this.int() !== 0) this.fail('a named reference with a non-zero flag');
        const n = this.int();
        for (let i = 0; i < n; i++) this.charsxp();
        const v: RValue = { type: 'environment' };
        this.refs.push(v);
        return v;
      }
      case 9:
        this.fail('a bare string element outside a character vector');
        break;
      case 10:
      case 13: {
        const n = this.length();
        const data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = this.int();
        return { type: type === 10 ? 'logical' : 'integer', data, attributes: this.attributes(hasAttr) };
      }
      case 14: {
        const n = this.length();
        if (this.pos + 8 * n > this.bytes.length) this.fail('a numeric vector runs past the end');
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = this.view.getFloat64(this.pos + 8 * i, false);
        this.pos += 8 * n;
        return { type: 'double', data, attributes: this.attributes(hasAttr) };
      }
      case 16: {
        const n = this.length();
        const data: (string | null)[] = new Array(n);
        for (let i = 0; i < n; i++) data[i] = this.charsxp();
        return { type: 'character', data, attributes: this.attributes(hasAttr) };
      }
      case 19:
      case 20: {
        const n = this.length();
        const data: RValue[] = new Array(n);
        for (let i = 0; i < n; i++) data[i] = this.item();
        return { type: 'list', data, attributes: this.attributes(hasAttr) };
      }
      case ALTREP:
        return this.altrep();
      default:
        if (type === ATTRLANG || type === 6) this.fail('an R call (code, not data)');
        this.fail(`R type ${type} (closures, bytecode and external pointers are not data this reader takes)`);
    }
    return this.fail('unreachable');
  }
  private pairlist(hasAttr: boolean, hasTag: boolean): RValue {
    // A pairlist is a chain of cells: read it as a loop over its CDRs, not recursively, so long ones cannot overflow.
    const data: { tag: string | null; value: RValue }[] = [];
    const attributes = hasAttr ? this.attributes(true) : {};
    let tagged = hasTag;
    for (;;) {
      let tag: string | null = null;
      if (tagged) {
        const t = this.item();
        tag = t.type === 'symbol' ? t.name : null;
      }
      data.push({ tag, value: this.item() });
      const flags = this.int();
      const type = flags & 0xff;
      if (type === NILVALUE) break;
      if (type !== 2 && type !== ATTRLIST) {
        this.pos -= 4;
        this.item(); // a dotted pair's non-list tail: read and dropped
        break;
      }
      if (flags & (1 << 9)) this.attributes(true);
      tagged = (flags & (1 << 10)) !== 0;
    }
    return { type: 'pairlist', data, attributes };
  }
  /** ALTREP objects: the class, its state, its attributes. Compact sequences are expanded; wrappers give what they wrap. */
  private altrep(): RValue {
    const info = this.item();
    const state = this.item();
    const attr = this.item();
    const cls = info.type === 'pairlist' && info.data[0]?.value.type === 'symbol' ? info.data[0].value.name : '?';
    const attributes: RAttributes = attr.type === 'pairlist' ? Object.fromEntries(attr.data.map((e) => [e.tag ?? '', e.value])) : {};
    if ((cls === 'compact_intseq' || cls === 'compact_realseq') && state.type === 'double') {
      const [n, start, step] = state.data;
      const data = cls === 'compact_intseq' ? new Int32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = start + i * step;
      return cls === 'compact_intseq'
        ? { type: 'integer', data: data as Int32Array, attributes }
        : { type: 'double', data: data as Float64Array, attributes };
    }
    if (cls.startsWith('wrap_') && state.type === 'list' && state.data[0]) {
      const inner = state.data[0];
      return 'attributes' in inner ? ({ ...inner, attributes: { ...inner.attributes, ...attributes } } as RValue) : inner;
    }
    return this.fail(`the ALTREP class '${cls}' (compact sequences and wrappers are read)`);
  }
}

/** Reads one serialized R object (what `saveRDS`/`serialize` write, after decompression). */
export function readRSerialized(bytes: Uint8Array, source = 'R data'): RValue {
  const r = new Reader(bytes, source);
  r.header();
  return r.item();
}

/** The byte range of each object in a lazy-load database's `.rdb`, read from its decompressed `.rdx` index. */
export function lazyLoadIndex(rdx: Uint8Array, source = 'Rdata.rdx'): Map<string, { offset: number; length: number }> {
  const index = readRSerialized(rdx, source);
  const variables = index.type === 'list' ? listField(index, 'variables') : undefined;
  if (variables?.type !== 'list') throw new KdError('DATASET_INVALID', `${source} is not a lazy-load index (no 'variables' list)`);
  const names = variables.attributes.names;
  const out = new Map<string, { offset: number; length: number }>();
  variables.data.forEach((v, i) => {
    const name = names?.type === 'character' ? names.data[i] : null;
    if (name && (v.type === 'integer' || v.type === 'double') && v.data.length === 2)
      out.set(name, { offset: Number(v.data[0]), length: Number(v.data[1]) });
  });
  return out;
}

/**
 * How a lazy-load database compresses one object: after its 4-byte uncompressed length, zlib data (`compressed =
 * TRUE`, or a 'Z' type byte), or a type byte naming bzip2 ('2'), xz ('X') or none ('0').
 */
export function lazyLoadBlob(blob: Uint8Array): { uncompressed: number; method: 'zlib' | 'bzip2' | 'xz' | 'none'; data: Uint8Array } {
  const uncompressed = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0, false);
  const t = blob[4];
  // zlib streams start with 0x78; anything else is R's type byte.
  if (t === 0x78) return { uncompressed, method: 'zlib', data: blob.subarray(4) };
  const method = t === 0x5a ? 'zlib' : t === 0x32 ? 'bzip2' : t === 0x58 ? 'xz' : t === 0x30 ? 'none' : undefined;
  if (!method) throw new KdError('DATASET_INVALID', `a lazy-load object has compression type byte ${t}, which R does not write`);
  return { uncompressed, method, data: blob.subarray(5) };
}

/** A named element of an R list (a data frame's column), if present. */
export function listField(v: RValue, name: string): RValue | undefined {
  if (v.type !== 'list') return undefined;
  const names = v.attributes.names;
  if (names?.type !== 'character') return undefined;
  const i = names.data.indexOf(name);
  return i < 0 ? undefined : v.data[i];
}
