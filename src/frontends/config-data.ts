import type { ResolvedConfig } from '../config/index.js';
import { bundledDataset } from '../data/bundled.js';
import { loadCsv, loadImageFolder, loadJsonl } from '../data/files.js';
import { interactionsDataset } from '../data/interactions.js';
import { spamAssassinSplits } from '../data/spam-assassin.js';
import { featureStats, stratifiedSplit, take, tokenizerSize, type Dataset } from '../data/index.js';
import { activeAugment } from '../data/augment.js';
import { applyView, isIdentity, type Views } from '../data/views.js';
import { KdError } from '../util/errors.js';
import type { RunData } from '../train/plan.js';

/** Share of an own dataset (image folder, CSV, JSONL) held out as its test set; bundled datasets have official ones. */
const OWN_TEST_FRACTION = 0.2;

/**
 * Loads the config's dataset and cuts the run's splits: train, validation (if configured) and test. A run whose every
 * trained stage is data-free reads the evaluation data only (see `evaluationOnly`).
 */
export function loadData(cfg: ResolvedConfig): RunData {
  const d = cfg.dataset;
  if (cfg.stages.length && cfg.stages.every((st) => st.file !== null || st.dataFree !== null)) return evaluationOnly(cfg);
  if (d.name === 'csv' && d.views && (d.views.teacher || d.views.student)) return csvViews(cfg, d);
  if (d.name === 'csv' || d.name === 'jsonl' || !d.views) return splitsOf(cfg, loadFull(cfg));
  if (d.name === 'image-folder' && (d.views.teacher?.path || d.views.student?.path)) {
    const { teacher, student } = alignedFolders(cfg, d);
    return withViews(cfg, d.views, splitsOf(cfg, student), splitsOf(cfg, teacher));
  }
  const splits = splitsOf(cfg, loadFull(cfg));
  if (isIdentity(d.views.teacher) && isIdentity(d.views.student)) return splits;
  return withViews(cfg, d.views, splits, splits);
}

/**
 * The data of a run that trains on synthesised samples only: a bundled dataset's test split (its training split is
 * never read), or all of an own dataset, as the test set. The training split is an empty dataset of the same shape.
 */
function evaluationOnly(cfg: ResolvedConfig): RunData {
  const d = cfg.dataset;
  if (d.validation)
    throw new KdError(
      'BAD_CONFIG',
      'dataset.validation: a data-free run reads no training data to hold a validation split out of (its stages choose ' +
        'their best checkpoint on held-out synthesised samples); remove dataset.validation',
    );
  if (d.views) throw new KdError('BAD_CONFIG', 'dataset.views: paired views are not supported in a data-free run; remove dataset.views');
  const test = d.name === 'mnist' || d.name === 'fashion-mnist' ? bundledDataset(d.name, 'test') : loadFull(cfg).full;
  const train = take(test, 0, `${test.name} (no training data: data-free)`);
  if (d.name === 'csv') {
    const st = featureStats(test.x as Float32Array, test.sampleShape[0]);
    return { train, test, mean: st.mean, std: st.std };
  }
  return { train, test };
}

/** The config's dataset, whole, and its official test split when it has one; `features` overrides a CSV's feature columns. */
function loadFull(
  cfg: ResolvedConfig,
  features?: readonly (string | number)[],
  folder?: string,
): { full: Dataset; test?: Dataset; val?: Dataset; vocab?: number } {
  const d = cfg.dataset;
  switch (d.name) {
    case 'mnist':
    case 'fashion-mnist':
      return { full: bundledDataset(d.name, 'train'), test: bundledDataset(d.name, 'test') };
    case 'image-folder':
      return { full: loadImageFolder(folder ?? d.path, { size: d.options.size, channels: d.options.channels }) };
    case 'csv':
      return {
        full: loadCsv(d.path, {
          label: d.options.label,
          features: features ?? d.options.features ?? undefined,
          delimiter: d.options.delimiter,
          header: d.options.header,
        }),
      };
    case 'jsonl': {
      const t = loadJsonl(d.path, {
        textField: d.options.textField,
        labelField: d.options.labelField,
        seqLen: d.options.seqLen,
        tokenizer: d.options.tokenizer,
        vocab: d.options.vocab,
      });
      return { full: t, vocab: tokenizerSize(t.tokenizer) };
    }
    case 'movielens': {
      // Split by the data (by time within each user); the users are the models' vocabulary of ids.
      const s = interactionsDataset('movielens', { path: d.path, ...d.options });
      return { full: s.train, test: s.test, val: s.val, vocab: s.users };
    }
    case 'spam-assassin': {
      // The test set is the corpus' own test collections, never a random share of the training ones.
      const o = d.options;
      const s = spamAssassinSplits({ ...o, perGroup: o.perGroup ?? undefined, seed: cfg.seed });
      return { full: s.train, test: s.test, vocab: tokenizerSize(s.train.tokenizer) };
    }
    case 'udhr-text':
      // Running text is cut into windows by the language-model run (frontends/lm-run.ts), not into samples here.
      throw new KdError(
        'BAD_CONFIG',
        'udhr-text is a language-model corpus: run it with `kdistill run` (runExperiment), which trains language models',
      );
  }
}

/** The run's splits of loaded data: train, validation (if configured), test; a CSV's normalisation from its training split. */
function splitsOf(cfg: ResolvedConfig, loaded: { full: Dataset; test?: Dataset; val?: Dataset; vocab?: number }): RunData {
  const d = cfg.dataset;
  let { full, test } = loaded;
  const { vocab } = loaded;
  if (!test) {
    // Own data has no official split: a seeded, stratified share becomes the test set.
    const s = stratifiedSplit(full, { seed: cfg.seed, valFraction: OWN_TEST_FRACTION });
    full = s.train;
    test = s.val;
  }
  let train = full,
    val: Dataset | undefined = loaded.val;
  if (d.validation) {
    const v = d.validation;
    const split = stratifiedSplit(
      full,
      'perClass' in v ? { seed: cfg.seed, valPerClass: v.perClass } : { seed: cfg.seed, valFraction: v.fraction },
    );
    train = split.train;
    val = split.val;
  }
  if (d.trainPerClass) train = stratifiedSplit(train, { seed: cfg.seed, valPerClass: d.trainPerClass }).val;
  if (d.name === 'csv') {
    const st = featureStats(train.x as Float32Array, train.sampleShape[0]);
    return { train, val, test, mean: st.mean, std: st.std };
  }
  return { train, val, test, vocab };
}

/**
 * A CSV read as two aligned sources: the teacher's feature columns and the student's, from the same rows. Both are
 * split by the same seeded, label-only cuts, so their samples stay paired by index; each is normalised on its own.
 */
function csvViews(cfg: ResolvedConfig, d: Extract<ResolvedConfig['dataset'], { name: 'csv' }>): RunData {
  if (activeAugment(d.augment))
    throw new KdError(
      'BAD_CONFIG',
      `dataset.views: the teacher's and the student's columns are read in step, and noise of different widths would ` +
        'unpair them; remove dataset.augment',
    );
  const student = splitsOf(cfg, loadFull(cfg, d.views!.student?.features));
  const teacher = splitsOf(cfg, loadFull(cfg, d.views!.teacher?.features));
  return {
    ...student,
    teacherView: { train: teacher.train, val: teacher.val, test: teacher.test, mean: teacher.mean, std: teacher.std },
  };
}

/**
 * Paired images: the student's splits and the teacher's (the same ones, or another folder's cut alike) each seen
 * through its view's transforms. The splits are cut before, so the two stay paired by index.
 */
function withViews(cfg: ResolvedConfig, views: Views, student: RunData, teacher: RunData): RunData {
  const see = (who: 'teacher' | 'student', r: RunData) => {
    const apply = (ds: Dataset) => applyView(ds, views[who], cfg.seed, who);
    return { train: apply(r.train), val: r.val && apply(r.val), test: apply(r.test) };
  };
  return { ...student, ...see('student', student), teacherView: see('teacher', teacher) };
}

/**
 * Two image folders as aligned sources (`views.<who>.path`; a view without one reads `dataset.path`): the same class
 * folders and file names in both, so the i-th image of one is the i-th of the other.
 */
function alignedFolders(cfg: ResolvedConfig, d: Extract<ResolvedConfig['dataset'], { name: 'image-folder' }>) {
  const views = d.views!;
  const read = (who: 'teacher' | 'student') => loadFull(cfg, undefined, views[who]?.path ?? d.path);
  const t = read('teacher'),
    s = read('student');
  const tf = (t.full as { files?: readonly string[] }).files ?? [];
  const sf = (s.full as { files?: readonly string[] }).files ?? [];
  const at = tf.findIndex((f, i) => f !== sf[i]);
  if (tf.length !== sf.length || at >= 0)
    throw new KdError(
      'DATASET_INVALID',
      `dataset.views: the teacher's folder (${views.teacher?.path ?? d.path}) and the student's (${views.student?.path ?? d.path}) ` +
        `must hold the same class folders and file names, image for image; ` +
        (at >= 0
          ? `the first difference is ${tf[at] ?? 'nothing'} against ${sf[at] ?? 'nothing'}`
          : `they hold ${tf.length} and ${sf.length} images`),
    );
  return { teacher: t, student: s };
}
