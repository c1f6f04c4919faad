// The Node runtime is registered before anything below the CLI runs.
import '../node-setup.js';
import { Command } from 'commander';
import { KdError } from '../util/errors.js';
import { registerBench } from './bench.js';
import { registerExport } from './export.js';
import { registerGenerate } from './generate.js';
import { registerCache } from './cache.js';
import { registerInspect } from './inspect.js';
import { registerReport } from './report.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';
import { registerSynth } from './synth.js';
import { registerTrain } from './train.js';

/** Exit codes: 0 done, 1 bad command line (commander), 2 a problem with the user's input, 70 an internal error. */
export const EXIT = { ok: 0, usage: 1, input: 2, internal: 70 } as const;

const program = new Command();
program
  .name('kdistill')
  .description('Knowledge distillation on ONNX Runtime: train, distill, inspect, evaluate, benchmark.')
  .option('--debug', 'show stack traces');
registerRun(program);
registerReport(program);
registerTrain(program);
registerInspect(program);
registerBench(program);
registerExport(program);
registerCache(program);
registerServe(program);
registerSynth(program);
registerGenerate(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (program.opts().debug) throw e;
  if (e instanceof KdError) {
    console.error(`kdistill: ${e.message}`);
    process.exit(EXIT.input);
  }
  // Anything else is kdistill's fault (or ONNX Runtime's): say so briefly; --debug shows the trace.
  console.error(
    `kdistill: internal error: ${(e as Error).message ?? e}\n(run again with --debug for the stack trace, and please report it)`,
  );
  process.exit(EXIT.internal);
}
