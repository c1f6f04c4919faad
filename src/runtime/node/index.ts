import { setRuntime } from '../runtime.js';
import { nodeRuntime } from './runtime.js';

// Importing this module is what makes kdistill run on Node: the CLI, the package's Node entry and the tests load it first.
setRuntime(nodeRuntime);

export { nodeRuntime } from './runtime.js';
export { nodeStorage } from './storage.js';
export { WorkerTeacher } from './worker-teacher.js';
