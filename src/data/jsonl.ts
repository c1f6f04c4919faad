/**
 * Text classification data from JSON Lines: one object per line with a text and a label field.
 * Texts become fixed-length rows of token ids (sampleShape [seqLen], 0 = padding) in `ids`. This file
 * parses text; reading a file is `loadJsonl` in src/data/node/jsonl.ts.
 */
import { KdError } from '../util/errors.js';
import { encodeLabels } from './csv.js';
import type { Dataset } from './dataset.js';
import { baseName } from './names.js';
import { encodeText, fitTokenizer, parseTokenizer, type TokenizerKind, type TokenizerSpec } from './text.js';

/** How to read a JSONL text: its fields, sequence length, tokenizer and class list. */
export interface JsonlOptions {
  /** Field holding the text (default 'text'). */
  textField?: string;
  /** Field holding the class: a string, or an integer class index (default 'label'). */
  labelField?: string;
  /** Tokens per sample; longer texts are truncated, shorter ones padded with 0 (default 64). */
  seqLen?: number;
  /**
   * A kind fits a new tokenizer on this file (default 'word'); a `TokenizerSpec` (the training
   * split's `tokenizer`) is reused as it is, so validation and test ids match training.
   */
  tokenizer?: TokenizerKind | TokenizerSpec;
  /** Vocabulary cap for 'char' / 'word', hash buckets for 'char-ngram' (default 4096); only when fitting. */
  vocab?: number;
  /** Fold case (default true); only when fitting. */
  lowercase?: boolean;
  /** Class names to map labels onto, e.g. the training split's, so every split agrees on indices. */
  classNames?: readonly string[];
}

/** A text dataset: ids per sample plus the tokenizer that made them (plain JSON, to save with a model). */
export interface TextDataset extends Dataset {
  readonly kind: 'text';
  readonly x: Float32Array;
  readonly ids: Int32Array;
  readonly seqLen: number;
  readonly tokenizer: TokenizerSpec;
  /** How many texts had more than `seqLen` tokens and were cut. */
  readonly truncated: number;
}

/** Parses JSONL text for text classification; see `JsonlOptions`. `file` names the text in messages and, by its base name, the dataset. */
export function parseJsonl(content: string, file: string, opts: JsonlOptions = {}): TextDataset {
  const textField = opts.textField ?? 'text';
  const labelField = opts.labelField ?? 'label';
  const seqLen = opts.seqLen ?? 64;
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new KdError('BAD_ARGUMENT', `seqLen must be a positive integer, got ${seqLen}.`);
  const texts: string[] = [];
  const labels: string[] = [];
  const lineOf: number[] = [];
  const lines = content.replace(/^\uFEFF/, '').split('\n');
  for (let l = 0; l < lines.length; l++) {
    const s = lines[l].trim();
    if (s === '') continue;
    const at = `${file} line ${l + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(s);
    } catch (e) {
      throw new KdError('DATASET_INVALID', `${at}: invalid JSON (${(e as Error).message}).`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw new KdError('DATASET_INVALID', `${at}: expected a JSON object, got ${s.slice(0, 40)}.`);
    const rec = obj as Record<string, unknown>;
    const text = rec[textField];
    if (text === undefined) throw new KdError('DATASET_INVALID', `${at}: missing text field '${textField}'.`);
    if (typeof text !== 'string')
      throw new KdError('DATASET_INVALID', `${at}: text field '${textField}' is ${typeof text}, expected a string.`);
    const label = rec[labelField];
    if (label === undefined || label === null || label === '')
      throw new KdError('DATASET_INVALID', `${at}: missing label field '${labelField}'.`);
    if (typeof label !== 'string' && !(typeof label === 'number' && Number.isInteger(label) && label >= 0)) {
      throw new KdError(
        'DATASET_INVALID',
        `${at}: label field '${labelField}' is ${JSON.stringify(label)}, expected a string or a non-negative integer.`,
      );
    }
    texts.push(text);
    labels.push(String(label));
    lineOf.push(l + 1);
  }
  const n = texts.length;
  if (n === 0) throw new KdError('DATASET_INVALID', `JSONL file ${file} has no records.`);
  const tok =
    typeof opts.tokenizer === 'object'
      ? parseTokenizer(opts.tokenizer)
      : fitTokenizer(opts.tokenizer ?? 'word', texts, { vocab: opts.vocab, lowercase: opts.lowercase });
  const { y, classNames } = encodeLabels(labels, (i) => `${file} line ${lineOf[i]}`, opts.classNames);
  const ids = new Int32Array(n * seqLen);
  let truncated = 0;
  for (let i = 0; i < n; i++) if (encodeText(tok, texts[i], seqLen, ids, i * seqLen) > seqLen) truncated++;
  return {
    name: baseName(file),
    kind: 'text',
    x: Float32Array.from(ids),
    ids,
    y,
    n,
    sampleShape: [seqLen],
    numClasses: classNames.length,
    classNames,
    seqLen,
    tokenizer: tok,
    truncated,
  };
}
