import { join } from 'node:path';
import { ShardStore } from '../../src/distill/teachers/node/store.js';

/** Every entry of one teacher's float32 logits store in a cache directory: sample key → its record's bytes as hex. */
export function cacheEntries(dir: string, key32: string): Map<string, string> {
  const s = new ShardStore(join(dir, key32, 'logits.f32'), 'logits', { dtype: 'float32' });
  const m = new Map([...s.keys()].map((k) => [k, Buffer.from(s.record(k)!).toString('hex')]));
  s.close();
  return m;
}
