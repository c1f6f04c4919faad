import { runtime } from '../../runtime/runtime.js';

/**
 * Content keys of teachers, for `TeacherCache`: two teachers with the same key must answer the same
 * input the same way, and a changed teacher must get a new key (its cached answers then live elsewhere).
 * Each kind is hashed with its own prefix, so an id can never collide with a URL or a file.
 */
const hash = (...parts: (string | Uint8Array)[]): string => {
  // Each part followed by a zero byte, as one buffer: the keys of caches already on disk stay what they were.
  const utf8 = new TextEncoder();
  const bytes = parts.map((p) => (typeof p === 'string' ? utf8.encode(p) : p));
  const all = new Uint8Array(bytes.reduce((a, b) => a + b.length + 1, 0));
  let at = 0;
  for (const b of bytes) {
    all.set(b, at);
    at += b.length + 1;
  }
  return runtime().sha256(all);
};

/** An ONNX teacher: the sha256 of the file's bytes. */
export const onnxKey = (bytes: Uint8Array): string => hash('onnx', bytes);

/** An HTTP teacher: its URL and a version string the user bumps when the model behind the URL changes. */
export const httpKey = (url: string, version: string): string => hash('http', url, version);

/** A JavaScript function teacher: an id the user chooses (and changes when the function does). */
export const functionKey = (id: string): string => hash('function', id);

/** An ensemble: its members' keys and weights, in order. */
export const ensembleKey = (members: readonly { key: string; weight: number }[]): string =>
  hash('ensemble', ...members.flatMap((m) => [m.key, String(m.weight)]));

/** A source that knows its own content key (function, HTTP with a version, ensembles of such). */
export interface Keyed {
  readonly cacheKey?: string;
}
