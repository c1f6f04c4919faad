import { Command } from 'commander';
import { KdError } from '../util/errors.js';
import { registerBench } from './bench.js';
import { registerInspect } from './inspect.js';
import { registerRun } from './run.js';
import { registerTrain } from './train.js';

const program = new Command();
program.name('kdistill').description('Knowledge distillation on ONNX Runtime: train, distill, inspect, evaluate, benchmark.').option('--debug', 'show stack traces');
registerRun(program);
registerTrain(program);
registerInspect(program);
registerBench(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof KdError && !program.opts().debug) {
    console.error(`kdistill: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
