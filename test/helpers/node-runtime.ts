// Loaded by `npm test` before every test file (`--import`): registers the Node runtime, as `import 'kdistill'` does.
import '../../src/runtime/node/index.js';
