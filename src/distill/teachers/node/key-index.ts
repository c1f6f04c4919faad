/**
 * Where each stored sample's record is, by the sample's sha256: an open-addressing hash table over typed arrays.
 * A JavaScript `Map` of hex strings costs about 200 bytes per entry and holds at most 2^24 (16.7 M) entries; this
 * holds about 70 bytes per entry outside the JS heap and grows until memory runs out, so a cache of 100 M samples
 * can be opened (7 GB of index) where a `Map` could not open one of 17 M.
 */
const EMPTY = -1;
const KEY = 32;
/** Keys live in pages of 2^20 entries (32 MiB), so no single array nears the 4 GiB limit of one typed array. */
const PAGE_BITS = 20;
const PAGE = 1 << PAGE_BITS;

export class KeyIndex {
  /** Entries in insertion order: key bytes, shard, offset, length, CRC, and the in-memory buffer holding the record. */
  private readonly pages: Uint8Array[] = [];
  private shard = new Int32Array(0);
  private offset = new Float64Array(0);
  private len = new Uint32Array(0);
  private crcs = new Uint32Array(0);
  /** Index into `buffers` (−1: read from the shard file), and the record's position in that buffer. */
  private buf = new Int32Array(0);
  private at = new Float64Array(0);
  private readonly buffers: Uint8Array[] = [];
  /** Hash slots → entry number, or EMPTY. */
  private slots = new Int32Array(16).fill(EMPTY);
  private count = 0;
  /** Entries whose record is known and readable (deleted ones stay in the arrays, marked by shard −1). */
  live = 0;

  /** The entry of `key` (64 hex characters), or −1. */
  find(key: string): number {
    const k = Buffer.from(key, 'hex');
    for (let s = this.home(k); ; s = (s + 1) & (this.slots.length - 1)) {
      const e = this.slots[s];
      if (e === EMPTY) return -1;
      if (this.same(e, k)) return this.shard[e] < 0 ? -1 : e;
    }
  }

  /** Adds or moves `key` (hex, or its 32 bytes) to a record; returns its entry. */
  set(key: string | Uint8Array, shard: number, offset: number, length: number, crc: number): number {
    const k = typeof key === 'string' ? Buffer.from(key, 'hex') : key;
    if ((this.count + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    let s = this.home(k);
    for (; this.slots[s] !== EMPTY; s = (s + 1) & (this.slots.length - 1)) {
      const e = this.slots[s];
      if (this.same(e, k)) {
        if (this.shard[e] < 0) this.live++;
        this.place(e, shard, offset, length, crc);
        return e;
      }
    }
    if (this.count === this.shard.length) this.grow(Math.max(1024, this.count * 2));
    const e = this.count++;
    const p = e >>> PAGE_BITS,
      o = (e & (PAGE - 1)) * KEY;
    // The last page grows by doubling up to a full page, so a small cache holds a small index.
    if (p === this.pages.length) this.pages.push(new Uint8Array(1024 * KEY));
    if (o >= this.pages[p].length) {
      const bigger = new Uint8Array(Math.min(PAGE * KEY, this.pages[p].length * 2));
      bigger.set(this.pages[p]);
      this.pages[p] = bigger;
    }
    this.pages[p].set(k, o);
    this.slots[s] = e;
    this.live++;
    this.place(e, shard, offset, length, crc);
    return e;
  }

  /** Forgets an entry's record (damaged): lookups miss it until it is stored again. */
  delete(e: number): void {
    if (this.shard[e] < 0) return;
    this.shard[e] = -1;
    this.live--;
  }

  /** Keeps the entry's record bytes in memory: `buffer[at .. at + length]`. */
  hold(e: number, buffer: Uint8Array, at: number): void {
    let b = this.buffers.lastIndexOf(buffer);
    if (b < 0) b = this.buffers.push(buffer) - 1;
    this.buf[e] = b;
    this.at[e] = at;
  }

  /** The record of entry `e`: where it lies in its shard file, and its bytes when they are in memory. */
  loc(e: number): { shard: number; offset: number; length: number; crc: number; bytes?: Uint8Array } {
    const b = this.buf[e];
    const length = this.len[e];
    return {
      shard: this.shard[e],
      offset: this.offset[e],
      length,
      crc: this.crcs[e],
      ...(b >= 0 ? { bytes: this.buffers[b].subarray(this.at[e], this.at[e] + length) } : {}),
    };
  }

  /** Live entries (optionally of one shard) as [entry, key in hex]. */
  *entries(shard?: number): IterableIterator<[number, string]> {
    for (let e = 0; e < this.count; e++)
      if (this.shard[e] >= 0 && (shard === undefined || this.shard[e] === shard)) yield [e, Buffer.from(this.key(e)).toString('hex')];
  }

  private place(e: number, shard: number, offset: number, length: number, crc: number): void {
    this.shard[e] = shard;
    this.offset[e] = offset;
    this.len[e] = length;
    this.crcs[e] = crc;
    this.buf[e] = -1;
  }

  /** The key is a sha256: its first four bytes are already uniformly spread. */
  private home(k: Uint8Array): number {
    return ((k[0] | (k[1] << 8) | (k[2] << 16) | (k[3] << 24)) >>> 0) & (this.slots.length - 1);
  }

  private key(e: number): Uint8Array {
    const o = (e & (PAGE - 1)) * KEY;
    return this.pages[e >>> PAGE_BITS].subarray(o, o + KEY);
  }

  private same(e: number, k: Uint8Array): boolean {
    const page = this.pages[e >>> PAGE_BITS],
      o = (e & (PAGE - 1)) * KEY;
    for (let i = 0; i < KEY; i++) if (page[o + i] !== k[i]) return false;
    return true;
  }

  private grow(cap: number): void {
    const copy = <T extends Int32Array | Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a as never);
      return b;
    };
    this.shard = copy(this.shard, (n) => new Int32Array(n));
    this.offset = copy(this.offset, (n) => new Float64Array(n));
    this.len = copy(this.len, (n) => new Uint32Array(n));
    this.crcs = copy(this.crcs, (n) => new Uint32Array(n));
    this.buf = copy(this.buf, (n) => new Int32Array(n));
    this.at = copy(this.at, (n) => new Float64Array(n));
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size).fill(EMPTY);
    for (let e = 0; e < this.count; e++) {
      let s = this.home(this.key(e));
      while (this.slots[s] !== EMPTY) s = (s + 1) & (size - 1);
      this.slots[s] = e;
    }
  }
}
