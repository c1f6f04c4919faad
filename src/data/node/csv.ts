import { readFileSync } from 'node:fs';
import { KdError } from '../../util/errors.js';
import { parseCsv, type CsvDataset, type CsvOptions } from '../csv.js';

/** Loads a CSV file of numeric features and a class column; see `CsvOptions`. */
export function loadCsv(file: string, opts: CsvOptions = {}): CsvDataset {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KdError('DATASET_MISSING', `CSV file ${file} cannot be read (${(e as Error).message}).`);
  }
  return parseCsv(text, file, opts);
}
