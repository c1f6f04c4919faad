/**
 * kdistill in a browser or Web Worker (`import { runExperiment } from 'kdistill/browser'`): the same models,
 * methods, configs and experiment core as Node, on onnxruntime-web (wasm, WebGPU opt-in), with files in memory
 * and runs kept in IndexedDB. The published entry is one ES module bundle (dist/web/kdistill.js) with
 * onnxruntime-web's wasm beside it. Nothing reachable from here imports a Node module.
 */

// First: registers the browser runtime (onnxruntime-web, in-memory files, IndexedDB), so everything below finds it.
import './runtime/web/index.js';

// The browser's runtime: threads and provider, its files, persistence across reloads, the bundled samples.
export {
  configureWeb,
  flushStorage,
  forgetStored,
  restoreStorage,
  webInfo,
  webRuntime,
  webStorage,
  writeFile,
  writeFiles,
  type FileLike,
  type WebInfo,
  type WebOptions,
} from './runtime/web/index.js';
export { loadSamples, SAMPLE_DATASETS, sampleFile, type SampleName } from './frontends/web/samples.js';
export { parseWebConfig, type WebConfigOptions } from './frontends/web/config.js';

// Everything that is the same on Node.
export * from './portable.js';

// Configs parsed from text in a context the caller supplies, and datasets from the runtime's files.
export { parseConfig } from './config/index.js';
export { loadCsv, loadImageFolder, loadJsonl } from './data/files.js';
