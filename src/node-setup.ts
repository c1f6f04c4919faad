// kdistill on Node: the runtime (onnxruntime-node, files, worker threads), the bundled datasets of the optional dataset
// packages, and teacher caches in shard files. The package's Node entry, the CLI and the tests import this first.
import './runtime/node/index.js';
import './data/node/index.js';
import './distill/teachers/node/store.js';
import './distill/federated/node/worker-party.js';
