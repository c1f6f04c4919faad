import { KdError } from '../util/errors.js';
import { type AtomicIo, readInput, writeAtomic } from './storage.js';

const MAGIC = 'KDCKPT01';

/** Contents of a checkpoint: named float32 tensors plus JSON metadata (step, RNG states, config...). */
export interface Checkpoint {
  meta: Record<string, unknown>;
  tensors: Map<string, Float32Array>;
}

interface Header {
  meta: Record<string, unknown>;
  tensors: { name: string; offset: number; length: number }[];
}

/**
 * Writes a checkpoint atomically: a temporary file is written and flushed, then renamed over the
 * target, so a crash leaves either the old checkpoint or the new one, never a torn file.
 * Layout: magic, u32 header length, JSON header, zero padding to 4 bytes, raw little-endian float32 data.
 */
export function saveCheckpoint(path: string, ck: Checkpoint, opts: { io?: Partial<AtomicIo> } = {}): void {
  const entries: Header['tensors'] = [];
  let off = 0;
  for (const [name, t] of ck.tensors) {
    entries.push({ name, offset: off, length: t.length });
    off += t.length;
  }
  const header = new TextEncoder().encode(JSON.stringify({ meta: ck.meta, tensors: entries } satisfies Header));
  const pre = MAGIC.length + 4 + header.length;
  const pad = (4 - (pre % 4)) % 4;
  const head = new Uint8Array(pre + pad);
  for (let i = 0; i < MAGIC.length; i++) head[i] = MAGIC.charCodeAt(i);
  new DataView(head.buffer).setUint32(MAGIC.length, header.length, true);
  head.set(header, MAGIC.length + 4);
  writeAtomic(path, [head, ...[...ck.tensors.values()].map((t) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength))], {
    what: 'checkpoint',
    io: opts.io,
  });
}

/** Reads a checkpoint written by {@link saveCheckpoint}; a truncated or foreign file gets a clear error. */
export function loadCheckpoint(path: string): Checkpoint {
  const buf = readInput(path, 'checkpoint');
  const ascii = (from: number, to: number) => String.fromCharCode(...buf.subarray(from, to));
  if (buf.length < MAGIC.length + 4 || ascii(0, MAGIC.length) !== MAGIC)
    throw new KdError('BAD_CHECKPOINT', `${path} is not a kdistill checkpoint`);
  const hl = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(MAGIC.length, true);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(MAGIC.length + 4, MAGIC.length + 4 + hl)));
  } catch {
    throw new KdError('BAD_CHECKPOINT', `${path}: checkpoint header is corrupt (truncated file?)`);
  }
  // Parsable JSON is not yet a header: a damaged or hand-edited file must not surface as a TypeError.
  if (!isHeader(header)) throw new KdError('BAD_CHECKPOINT', `${path}: checkpoint header is corrupt (no valid tensor table)`);
  const pre = MAGIC.length + 4 + hl;
  const start = pre + ((4 - (pre % 4)) % 4);
  const total = header.tensors.reduce((a, t) => a + t.length, 0);
  if (buf.length !== start + total * 4)
    throw new KdError(
      'BAD_CHECKPOINT',
      `${path}: expected ${start + total * 4} bytes, found ${buf.length} (truncated or corrupt checkpoint)`,
    );
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + total * 4));
  const tensors = new Map<string, Float32Array>();
  const bad = header.tensors.find((t) => t.offset + t.length > total);
  if (bad) throw new KdError('BAD_CHECKPOINT', `${path}: checkpoint header is corrupt (tensor '${bad.name}' lies outside the data)`);
  for (const t of header.tensors) tensors.set(t.name, data.subarray(t.offset, t.offset + t.length));
  return { meta: header.meta, tensors };
}

function isHeader(h: unknown): h is Header {
  if (typeof h !== 'object' || h === null) return false;
  const { meta, tensors } = h as Partial<Header>;
  if (typeof meta !== 'object' || meta === null || !Array.isArray(tensors)) return false;
  return tensors.every(
    (t) =>
      typeof t === 'object' &&
      t !== null &&
      typeof t.name === 'string' &&
      Number.isInteger(t.offset) &&
      Number.isInteger(t.length) &&
      t.offset >= 0 &&
      t.length >= 0,
  );
}
