/**
 * Deterministic tokenizers for text classification. A tokenizer is plain JSON (`TokenizerSpec`), so
 * the one fitted on a training file can be saved and reused for validation, test and inference.
 * Id 0 is padding; every real token has an id >= 1.
 */
import { KdError } from '../util/errors.js';
import { hashString } from '../util/rng.js';

/** How text is cut into tokens: characters, words, or hashed character n-grams of words. */
export type TokenizerKind = 'char' | 'word' | 'char-ngram';

/**
 * A fitted tokenizer. `char` and `word` map their `vocab` (most frequent first) to ids 2, 3, ...,
 * with 1 for anything outside it; `char-ngram` hashes the character n-grams of each word (marked
 * `<word>`, as in fastText) into ids 1..buckets and needs no vocabulary.
 */
export type TokenizerSpec =
  | { readonly kind: 'char' | 'word'; readonly lowercase: boolean; readonly vocab: readonly string[] }
  | { readonly kind: 'char-ngram'; readonly lowercase: boolean; readonly n: number; readonly buckets: number };

/** Vocabulary or bucket count, case folding and n of a tokenizer to fit. */
export interface TokenizerOptions {
  /** Vocabulary cap for `char` / `word`, number of hash buckets for `char-ngram` (default 4096). */
  vocab?: number;
  /** Fold case before tokenizing (default true). */
  lowercase?: boolean;
  /** n-gram length for `char-ngram` (default 3). */
  n?: number;
}

/** Id of padding (never a real token). */
export const PAD_ID = 0;
/** Id of tokens outside a `char` / `word` vocabulary. */
export const UNK_ID = 1;
const DEFAULT_VOCAB = 4096;
const WORD = /[\p{L}\p{N}]+/gu;

/** Splits text into the tokenizer's units (before mapping to ids). */
function units(kind: TokenizerKind, text: string, lowercase: boolean): string[] {
  const t = lowercase ? text.toLowerCase() : text;
  if (kind === 'char') return Array.from(t);
  return t.match(WORD) ?? [];
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new KdError('BAD_ARGUMENT', `${what} must be a positive integer, got ${v}.`);
  return v;
}

/**
 * Fits a tokenizer on training texts: for `char` / `word` the `vocab` most frequent units, ties
 * broken by code-unit order so the result never depends on input order beyond the counts.
 */
export function fitTokenizer(kind: TokenizerKind, texts: Iterable<string>, opts: TokenizerOptions = {}): TokenizerSpec {
  const cap = positiveInt(opts.vocab ?? DEFAULT_VOCAB, 'vocab');
  const lowercase = opts.lowercase ?? true;
  if (kind === 'char-ngram') return { kind, lowercase, n: positiveInt(opts.n ?? 3, 'n'), buckets: cap };
  if (kind !== 'char' && kind !== 'word')
    throw new KdError('BAD_ARGUMENT', `Unknown tokenizer '${String(kind)}'; choose 'char', 'word' or 'char-ngram'.`);
  const counts = new Map<string, number>();
  for (const text of texts) for (const u of units(kind, text, lowercase)) counts.set(u, (counts.get(u) ?? 0) + 1);
  const vocab = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, cap)
    .map(([u]) => u);
  return { kind, lowercase, vocab };
}

/** Number of distinct ids including padding: the row count an embedding table needs. */
export function tokenizerSize(t: TokenizerSpec): number {
  return t.kind === 'char-ngram' ? t.buckets + 1 : t.vocab.length + 2;
}

const lookups = new WeakMap<TokenizerSpec, Map<string, number>>();

/**
 * Writes the ids of `text` into `out[offset .. offset + seqLen)`, truncating long texts and padding
 * short ones with 0. Returns how many tokens the text had before truncation.
 */
export function encodeText(t: TokenizerSpec, text: string, seqLen: number, out: Int32Array, offset = 0): number {
  const toks = units(t.kind === 'char' ? 'char' : 'word', text, t.lowercase);
  let k = 0;
  if (t.kind === 'char-ngram') {
    for (const w of toks) {
      const cps = Array.from(`<${w}>`);
      // A word shorter than n still yields one token, itself.
      const last = Math.max(0, cps.length - t.n);
      for (let s = 0; s <= last; s++, k++) {
        if (k < seqLen) out[offset + k] = 1 + (hashString(cps.slice(s, s + t.n).join('')) % t.buckets);
      }
    }
  } else {
    let ids = lookups.get(t);
    if (!ids) {
      ids = new Map(t.vocab.map((u, i) => [u, i + 2]));
      lookups.set(t, ids);
    }
    for (const u of toks) {
      if (k < seqLen) out[offset + k] = ids.get(u) ?? UNK_ID;
      k++;
    }
  }
  out.fill(PAD_ID, offset + Math.min(k, seqLen), offset + seqLen);
  return k;
}

/** Checks that a value read from JSON is a usable tokenizer, e.g. one saved with a checkpoint. */
export function parseTokenizer(v: unknown): TokenizerSpec {
  const o = v as Record<string, unknown> | null;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    typeof o.lowercase === 'boolean' &&
    (((o.kind === 'char' || o.kind === 'word') && Array.isArray(o.vocab) && o.vocab.every((u) => typeof u === 'string')) ||
      (o.kind === 'char-ngram' &&
        Number.isInteger(o.n) &&
        (o.n as number) >= 1 &&
        Number.isInteger(o.buckets) &&
        (o.buckets as number) >= 1));
  if (!ok)
    throw new KdError(
      'BAD_ARGUMENT',
      'Not a tokenizer: expected {kind: char|word, lowercase, vocab: string[]} or {kind: char-ngram, lowercase, n, buckets}.',
    );
  return o as unknown as TokenizerSpec;
}

/** All token ids of `text` (no truncation, no padding): a language model's stream. */
export function tokenIds(t: TokenizerSpec, text: string): Int32Array {
  const n = encodeText(t, text, 0, new Int32Array(0));
  const out = new Int32Array(n);
  encodeText(t, text, n, out);
  return out;
}

/** The text of ids (`char` / `word` tokenizers; words joined by spaces): padding is dropped, unknown ids become U+FFFD. */
export function decodeIds(t: TokenizerSpec, ids: ArrayLike<number>): string {
  if (t.kind === 'char-ngram') throw new KdError('BAD_ARGUMENT', 'a hashed char-ngram tokenizer cannot turn ids back into text');
  const parts: string[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i] !== PAD_ID) parts.push(ids[i] === UNK_ID ? '\uFFFD' : (t.vocab[ids[i] - 2] ?? '\uFFFD'));
  return parts.join(t.kind === 'word' ? ' ' : '');
}
