import type { ResolvedConfig } from '../config/index.js';
import { bundledDataset } from '../data/bundled.js';
import { loadCsv, loadImageFolder, loadJsonl } from '../data/files.js';
import { featureStats, stratifiedSplit, tokenizerSize, type Dataset } from '../data/index.js';
import { applyView, isIdentity } from '../data/views.js';
import type { RunData } from '../train/plan.js';

/** Share of an own dataset (image folder, CSV, JSONL) held out as its test set; bundled datasets have official ones. */
const OWN_TEST_FRACTION = 0.2;

/** Loads the config's dataset and cuts the run's splits: train, validation (if configured) and test. */
export function loadData(cfg: ResolvedConfig): RunData {
  const d = cfg.dataset;
  let full: Dataset, test: Dataset | undefined, vocab: number | undefined;
  switch (d.name) {
    case 'mnist':
    case 'fashion-mnist':
      full = bundledDataset(d.name, 'train');
      test = bundledDataset(d.name, 'test');
      break;
    case 'image-folder':
      full = loadImageFolder(d.path, { size: d.options.size, channels: d.options.channels });
      break;
    case 'csv':
      full = loadCsv(d.path, {
        label: d.options.label,
        features: d.options.features ?? undefined,
        delimiter: d.options.delimiter,
        header: d.options.header,
      });
      break;
    case 'jsonl': {
      const t = loadJsonl(d.path, {
        textField: d.options.textField,
        labelField: d.options.labelField,
        seqLen: d.options.seqLen,
        tokenizer: d.options.tokenizer,
        vocab: d.options.vocab,
      });
      vocab = tokenizerSize(t.tokenizer);
      full = t;
      break;
    }
  }
  if (!test) {
    // Own data has no official split: a seeded, stratified share becomes the test set.
    const s = stratifiedSplit(full, { seed: cfg.seed, valFraction: OWN_TEST_FRACTION });
    full = s.train;
    test = s.val;
  }
  let train = full,
    val: Dataset | undefined;
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
  const views = d.name === 'csv' || d.name === 'jsonl' ? undefined : d.views;
  if (views && !(isIdentity(views.teacher) && isIdentity(views.student))) {
    // The splits are cut once; each view is then a fixed function of every sample, so the two stay paired by index.
    const see = (who: 'teacher' | 'student') => (ds: Dataset) => applyView(ds, views[who], cfg.seed, who);
    const teacherView = { train: see('teacher')(train), val: val && see('teacher')(val), test: see('teacher')(test) };
    return { train: see('student')(train), val: val && see('student')(val), test: see('student')(test), vocab, teacherView };
  }
  if (d.name === 'csv') {
    const st = featureStats(train.x as Float32Array, train.sampleShape[0]);
    return { train, val, test, mean: st.mean, std: st.std };
  }
  return { train, val, test, vocab };
}
