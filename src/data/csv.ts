/**
 * Tabular classification data from CSV: numeric feature columns become float32 rows (sampleShape
 * [features]), one column holds the class. Parsing follows RFC 4180 (quoted fields may hold
 * delimiters, doubled quotes and newlines); blank lines are skipped. This file parses text; reading a
 * file is `loadCsv` in src/data/node/csv.ts.
 */
import { KdError } from '../util/errors.js';
import type { Dataset } from './dataset.js';
import { baseName, extName } from './names.js';

/** Per-feature statistics, plain JSON so the training split's can be saved and reused. */
export interface FeatureStats {
  readonly mean: readonly number[];
  /** Population standard deviation; a constant feature gets 1 so it can always be divided by. */
  readonly std: readonly number[];
}

/** How to read a CSV text: which columns, separator, header, class list and standardisation. */
export interface CsvOptions {
  /** The class column, by header name or 0-based index (default: the last column). */
  label?: string | number;
  /** Feature columns in the order wanted (default: every column but the label). */
  features?: readonly (string | number)[];
  /** Field separator (default: tab for .tsv / .tab files, else comma). */
  delimiter?: string;
  /** Whether the first row names the columns (default true); without one, columns are named '0', '1', ... */
  header?: boolean;
  /** Class names to map labels onto, e.g. the training split's, so every split agrees on indices. */
  classNames?: readonly string[];
  /** Standardise features: true with this file's own statistics, or with given ones (the training split's). */
  standardize?: boolean | FeatureStats;
}

/** A CSV dataset: float32 features, plus the column names and the raw features' statistics. */
export interface CsvDataset extends Dataset {
  readonly x: Float32Array;
  readonly kind: 'tabular';
  readonly featureNames: readonly string[];
  /** Statistics of this file's features before any standardisation. */
  readonly stats: FeatureStats;
}

interface Row {
  fields: string[];
  line: number;
}

/** Splits CSV text into records, each with the line it starts on. */
function parseRecords(text: string, delim: string, file: string): Row[] {
  const rows: Row[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let quotedAny = false;
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        quotedAny = true;
        i++;
        for (;;) {
          if (i >= n) throw new KdError('DATASET_INVALID', `${file} line ${start}: a quoted field is never closed.`);
          const ch = text[i];
          if (ch === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        // Anything between the closing quote and the delimiter is kept rather than rejected.
        while (i < n && !text.startsWith(delim, i) && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      } else {
        while (i < n && !text.startsWith(delim, i) && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      }
      fields.push(field);
      if (i < n && text.startsWith(delim, i)) {
        i += delim.length;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      break;
    }
    if (!quotedAny && fields.length === 1 && fields[0].trim() === '') continue;
    rows.push({ fields, line: start });
  }
  return rows;
}

/**
 * Maps raw label strings to class indices. Given `classNames`, each label must be one of them;
 * otherwise labels that are all non-negative integers are used as they are (classes 0..max), and
 * any other labels become classes in sorted (code-unit) order. `where(i)` names the i-th label's place for errors.
 */
export function encodeLabels(
  raw: readonly string[],
  where: (i: number) => string,
  classNames?: readonly string[],
): { y: Int32Array; classNames: string[] } {
  const y = new Int32Array(raw.length);
  let names: string[];
  if (classNames) {
    names = [...classNames];
  } else if (raw.every((r) => /^\d+$/.test(r))) {
    let max = -1;
    for (const r of raw) max = Math.max(max, Number(r));
    names = Array.from({ length: max + 1 }, (_, c) => String(c));
  } else {
    names = [...new Set(raw)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const index = new Map(names.map((c, k) => [c, k]));
  for (let i = 0; i < raw.length; i++) {
    // Integer labels with an implicit class list may have leading zeros ("07"), hence the Number fallback.
    const k = index.get(raw[i]) ?? (classNames ? undefined : index.get(String(Number(raw[i]))));
    if (k === undefined)
      throw new KdError('DATASET_INVALID', `${where(i)}: label '${raw[i]}' is not one of the classes [${names.join(', ')}].`);
    y[i] = k;
  }
  return { y, classNames: names };
}

/** Mean and (population) standard deviation of each feature of row-major `x` with `f` features. */
export function featureStats(x: Float32Array, f: number): FeatureStats {
  const n = x.length / f;
  const mean = new Array<number>(f).fill(0);
  const sq = new Array<number>(f).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) mean[j] += x[i * f + j];
  for (let j = 0; j < f; j++) mean[j] /= Math.max(n, 1);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) sq[j] += (x[i * f + j] - mean[j]) ** 2;
  const std = sq.map((s) => Math.sqrt(s / Math.max(n, 1)) || 1);
  return { mean, std };
}

/**
 * Parses CSV text of numeric features and a class column; see `CsvOptions`. `file` names the text in
 * messages and, by its base name, the dataset; a .tsv / .tab ending makes tab the default separator.
 */
export function parseCsv(text: string, file: string, opts: CsvOptions = {}): CsvDataset {
  const ext = extName(file).toLowerCase();
  const delim = opts.delimiter ?? (ext === '.tsv' || ext === '.tab' ? '\t' : ',');
  if (delim.length === 0 || delim.includes('"') || delim.includes('\n') || delim.includes('\r')) {
    throw new KdError('BAD_ARGUMENT', `CSV delimiter ${JSON.stringify(delim)} cannot separate fields.`);
  }
  const rows = parseRecords(text, delim, file);
  const hasHeader = opts.header ?? true;
  const head = hasHeader ? rows.shift() : undefined;
  if (hasHeader && !head) throw new KdError('DATASET_INVALID', `CSV file ${file} is empty: no header row.`);
  if (rows.length === 0) throw new KdError('DATASET_INVALID', `CSV file ${file} has no data rows.`);
  const columns = head ? head.fields.map((c) => c.trim()) : rows[0].fields.map((_, k) => String(k));
  const headLine = head?.line ?? rows[0].line;
  // A column is named by its header or given by its 0-based index.
  const col = (name: string | number, what: string) => {
    if (typeof name === 'number') {
      if (!Number.isInteger(name) || name < 0 || name >= columns.length)
        throw new KdError(
          'BAD_ARGUMENT',
          `${file} line ${headLine}: no ${what} column ${name}; there are ${columns.length} columns (0-based).`,
        );
      return name;
    }
    const k = columns.indexOf(name);
    if (k < 0)
      throw new KdError(
        'BAD_ARGUMENT',
        `${file} line ${headLine}: no ${what} column '${name}'; the columns are ${columns.map((c) => `'${c}'`).join(', ')}.`,
      );
    return k;
  };
  const labelCol = opts.label !== undefined ? col(opts.label, 'label') : columns.length - 1;
  const featCols = opts.features ? opts.features.map((f) => col(f, 'feature')) : columns.map((_, k) => k).filter((k) => k !== labelCol);
  if (featCols.includes(labelCol))
    throw new KdError('BAD_ARGUMENT', `${file}: column '${columns[labelCol]}' cannot be both the label and a feature.`);
  if (featCols.length === 0) throw new KdError('BAD_ARGUMENT', `${file}: no feature columns besides the label '${columns[labelCol]}'.`);
  const F = featCols.length;
  const n = rows.length;
  const x = new Float32Array(n * F);
  const raw: string[] = [];
  const where = (r: Row, k: number) => `${file} line ${r.line}, column ${k + 1} ('${columns[k]}')`;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    if (r.fields.length !== columns.length) {
      throw new KdError(
        'DATASET_INVALID',
        `${file} line ${r.line}: ${r.fields.length} columns, expected ${columns.length}` +
          `${head ? ' as in the header' : ' as in the first row'}.`,
      );
    }
    for (let j = 0; j < F; j++) {
      const k = featCols[j];
      const s = r.fields[k].trim();
      const v = s === '' ? NaN : Number(s);
      if (!Number.isFinite(v)) throw new KdError('DATASET_INVALID', `${where(r, k)}: '${r.fields[k]}' is not a number.`);
      x[i * F + j] = v;
    }
    const label = r.fields[labelCol].trim();
    if (label === '') throw new KdError('DATASET_INVALID', `${where(r, labelCol)}: missing label.`);
    raw.push(label);
  }
  const { y, classNames } = encodeLabels(raw, (i) => where(rows[i], labelCol), opts.classNames);
  const stats = featureStats(x, F);
  const s = opts.standardize === true ? stats : opts.standardize || undefined;
  if (s) {
    if (s.mean.length !== F || s.std.length !== F)
      throw new KdError('BAD_ARGUMENT', `${file}: standardize stats are for ${s.mean.length} features, the data has ${F}.`);
    if (!s.std.every((v) => v > 0 && Number.isFinite(v)))
      throw new KdError('BAD_ARGUMENT', `${file}: standardize std values must be positive and finite.`);
    for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) x[i * F + j] = (x[i * F + j] - s.mean[j]) / s.std[j];
  }
  return {
    name: baseName(file),
    kind: 'tabular',
    x,
    y,
    n,
    sampleShape: [F],
    numClasses: classNames.length,
    classNames,
    featureNames: featCols.map((k) => columns[k]),
    stats,
  };
}
