import { readFileSync } from 'node:fs';
import { KdError } from '../../util/errors.js';
import { parseJsonl, type JsonlOptions, type TextDataset } from '../jsonl.js';

/** Loads a JSONL text classification file; see `JsonlOptions`. */
export function loadJsonl(file: string, opts: JsonlOptions = {}): TextDataset {
  const seqLen = opts.seqLen ?? 64;
  // Checked before reading, as it always was: a bad option should not wait for a large file.
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new KdError('BAD_ARGUMENT', `seqLen must be a positive integer, got ${seqLen}.`);
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KdError('DATASET_MISSING', `JSONL file ${file} cannot be read (${(e as Error).message}).`);
  }
  return parseJsonl(content, file, opts);
}
