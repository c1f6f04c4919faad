import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../../../runtime/storage.js';
import { KdError } from '../../../util/errors.js';
import { registerAnswerStore, type AnswerStore } from '../answer-store.js';
import { crc32, decode, encode, recordBytes, type StoreFormat } from '../codec.js';
import { KeyIndex } from './key-index.js';

/**
 * Index entry: input sha256 (32 bytes), record offset in the shard (float64, exact to 2^53), record length
 * (u32), record CRC-32, then the CRC-32 of those 48 bytes, so a torn or damaged entry is recognised and skipped.
 */
const ENTRY = 52;

/** What `meta.json` of a store says: the values per sample, fixed by the first answer stored. */
interface Meta {
  version: 1;
  name: string;
  size: number;
  format: StoreFormat;
}

/**
 * Cached answers for one output name of one teacher, in one format: append-only shard files
 * (`<id>.bin`, records back to back) each with its index (`<id>.idx`, fixed-size entries). Every opening
 * that writes starts shards of its own, so runs sharing the directory never write into the same file;
 * a shard cut off by a kill keeps all its whole entries. All index files are read into a `KeyIndex` at open.
 */
export class ShardStore implements AnswerStore {
  private readonly index = new KeyIndex();
  private readonly shards: string[] = [];
  /** Per shard: whether its records were read into memory (tried once). */
  private readonly inMemory: boolean[] = [];
  private memoryLeft: number;
  private readonly fds = new Map<number, number>();
  private writer?: { shard: number; bin: number; idx: number; offset: number };
  private meta?: Meta;

  /** `memoryBytes`: how much record data is held in memory; lookups beyond it read the file (a syscall each). */
  constructor(
    readonly dir: string,
    readonly name: string,
    readonly format: StoreFormat,
    private readonly maxShardBytes = 1 << 30,
    memoryBytes = 1 << 30,
  ) {
    this.memoryLeft = memoryBytes;
    mkdirSync(dir, { recursive: true });
    const metaPath = join(dir, 'meta.json');
    if (existsSync(metaPath)) this.meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Meta;
    for (const f of readdirSync(dir)
      .filter((f) => f.endsWith('.idx'))
      .sort())
      this.load(f.slice(0, -4));
  }

  /** Values per sample, once anything was stored. */
  get size(): number | undefined {
    return this.meta?.size;
  }

  /** Entries readable now. */
  get entries(): number {
    return this.index.live;
  }

  /** Reads the sample stored under `key` into `out`; false when absent or damaged (then it is forgotten, to be recomputed). */
  get(key: string, out: Float32Array): boolean {
    const b = this.record(key);
    if (b) decode(b, this.format, out);
    return b !== undefined;
  }

  /** Every key stored and readable now (input sha256 as hex). */
  *keys(): IterableIterator<string> {
    for (const [, key] of this.index.entries()) yield key;
  }

  /** The stored record bytes under `key` (checked against its CRC), or undefined when absent or damaged (then forgotten). */
  record(key: string): Uint8Array | undefined {
    const e = this.index.find(key);
    if (e < 0) return undefined;
    let loc = this.index.loc(e);
    if (!loc.bytes && !this.inMemory[loc.shard]) {
      this.toMemory(loc.shard);
      loc = this.index.loc(e);
      if (loc.shard < 0) return undefined;
    }
    if (loc.bytes) return loc.bytes;
    let fd = this.fds.get(loc.shard);
    if (fd === undefined) {
      fd = openSync(join(this.dir, `${this.shards[loc.shard]}.bin`), 'r');
      this.fds.set(loc.shard, fd);
    }
    const b = Buffer.allocUnsafe(loc.length);
    if (readSync(fd, b, 0, loc.length, loc.offset) !== loc.length || crc32(b) !== loc.crc) {
      this.index.delete(e);
      return undefined;
    }
    return b;
  }

  /**
   * Reads a whole shard once and checks every record it holds: a warm epoch then costs a Map lookup
   * and a copy per sample instead of a read and a checksum. Damaged records are forgotten here.
   */
  private toMemory(shard: number): void {
    this.inMemory[shard] = true;
    const path = join(this.dir, `${this.shards[shard]}.bin`);
    const size = statSync(path).size;
    if (size > this.memoryLeft) return;
    this.memoryLeft -= size;
    const data = readFileSync(path);
    for (const [e] of this.index.entries(shard)) {
      const loc = this.index.loc(e);
      if (loc.bytes) continue;
      if (crc32(data.subarray(loc.offset, loc.offset + loc.length)) !== loc.crc) this.index.delete(e);
      else this.index.hold(e, data, loc.offset);
    }
  }

  /** Appends samples (input sha256 as hex, with their values), records first, then their index entries. */
  put(keys: readonly string[], values: readonly Float32Array[]): void {
    if (!keys.length) return;
    this.putRecords(
      keys,
      values.map((v) => encode(v, this.format)),
      values[0].length,
    );
  }

  /** Appends records already encoded in this store's format (`size` values per sample): what merging stores copies. */
  putRecords(keys: readonly string[], records: readonly Uint8Array[], size: number): void {
    if (!keys.length) return;
    if (!this.meta) {
      this.meta = { version: 1, name: this.name, size, format: this.format };
      writeAtomic(join(this.dir, 'meta.json'), [JSON.stringify(this.meta, null, 1)], { what: 'teacher cache metadata' });
    } else if (size !== this.meta.size)
      throw new KdError(
        'CACHE_MISMATCH',
        `teacher cache ${this.dir}: the teacher answered ${size} values per sample for '${this.name}', the ` +
          `cache holds ${this.meta.size}; the teacher changed without its key changing (bump its version or id)`,
      );
    const w = this.writerFor();
    const recLen = recordBytes(this.format, size);
    const recs = Buffer.allocUnsafe(recLen * keys.length),
      idx = Buffer.alloc(ENTRY * keys.length);
    // What this process writes stays in memory too (within the budget), so its next epoch reads no file.
    const keep = recs.length <= this.memoryLeft;
    if (keep) this.memoryLeft -= recs.length;
    const locs = keys.map((key, i) => {
      const rec = records[i];
      if (rec.length !== recLen)
        throw new KdError('CACHE_MISMATCH', `teacher cache ${this.dir}: a record of ${rec.length} bytes, this store's are ${recLen}`);
      recs.set(rec, i * recLen);
      const e = idx.subarray(i * ENTRY, (i + 1) * ENTRY);
      const loc = { offset: w.offset + i * recLen, length: recLen, crc: crc32(rec) };
      e.write(key, 0, 32, 'hex');
      e.writeDoubleLE(loc.offset, 32);
      e.writeUInt32LE(loc.length, 40);
      e.writeUInt32LE(loc.crc, 44);
      e.writeUInt32LE(crc32(e.subarray(0, 48)), 48);
      return loc;
    });
    try {
      writeAll(w.bin, recs);
      writeAll(w.idx, idx);
    } catch (e) {
      // A failed append leaves at most a torn tail, which readers skip; later writes go to a fresh shard.
      this.closeWriter();
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new KdError(
        'CACHE_WRITE',
        `cannot write the teacher cache in ${this.dir} (${code}); what it held is kept. Free some space or pass another cache directory.`,
      );
    }
    w.offset += recs.length;
    keys.forEach((key, i) => {
      const e = this.index.set(key, w.shard, locs[i].offset, recLen, locs[i].crc);
      if (keep) this.index.hold(e, recs, i * recLen);
    });
    if (w.offset >= this.maxShardBytes) this.closeWriter();
  }

  close(): void {
    this.closeWriter();
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private writerFor(): NonNullable<ShardStore['writer']> {
    if (this.writer) return this.writer;
    const id = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.shards.push(id);
    this.inMemory.push(true);
    const bin = openSync(join(this.dir, `${id}.bin`), 'wx');
    this.writer = { shard: this.shards.length - 1, bin, idx: openSync(join(this.dir, `${id}.idx`), 'wx'), offset: fstatSync(bin).size };
    return this.writer;
  }

  private closeWriter(): void {
    if (!this.writer) return;
    closeSync(this.writer.bin);
    closeSync(this.writer.idx);
    this.writer = undefined;
  }

  /** Reads one index: whole entries whose checksum holds and whose record lies inside the shard as it is on disk. */
  private load(id: string): void {
    let binSize: number, idx: Buffer;
    try {
      binSize = statSync(join(this.dir, `${id}.bin`)).size;
      idx = readFileSync(join(this.dir, `${id}.idx`));
    } catch {
      return;
    }
    const shard = this.shards.push(id) - 1;
    this.inMemory.push(false);
    for (let p = 0; p + ENTRY <= idx.length; p += ENTRY) {
      const e = idx.subarray(p, p + ENTRY);
      if (crc32(e.subarray(0, 48)) !== e.readUInt32LE(48)) continue;
      const offset = e.readDoubleLE(32),
        length = e.readUInt32LE(40);
      if (offset + length > binSize) continue;
      this.index.set(e.subarray(0, 32), shard, offset, length, e.readUInt32LE(44));
    }
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}

// Importing this module (as kdistill's Node entry points do) makes teacher caches store their answers in shard files.
registerAnswerStore((path, name, format, maxShardBytes) => new ShardStore(path, name, format, maxShardBytes));
