// Loaded by `npm test` before every test file (`--import`): registers the Node runtime, its bundled datasets and
// cache store, as `import 'kdistill'` does.
import '../../src/node-setup.js';
