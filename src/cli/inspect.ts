import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { loadDataset, type DatasetName } from '../data/node/index.js';
import { measureLatency } from '../runtime/latency.js';
import { inspectModel } from '../report/model-info.js';
import { Predictor } from '../runtime/inference.js';
import { evaluateClassifier } from '../train/classifier.js';
import { readInput } from '../runtime/storage.js';

/** `inspect` (structure and tappable nodes of any ONNX model) and `eval` (accuracy and latency on a dataset). */
export function registerInspect(program: Command): void {
  program
    .command('inspect <model.onnx>')
    .description('inputs, outputs, parameters, op counts and the intermediate nodes a feature method can tap (with shapes)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const info = await inspectModel(readInput(file, ''), file);
      if (o.json) return console.log(JSON.stringify(info, null, 2));
      console.log(`${file}: opset ${info.opset}, producer ${info.producer || '?'}, ${info.nodes} nodes, ${info.parameters} parameters`);
      for (const i of info.inputs) console.log(`  input  ${i.name}: ${i.dtype}[${i.shape.join(', ')}]`);
      for (const x of info.outputs) console.log(`  output ${x.name}: ${x.dtype}[${x.shape.join(', ')}]`);
      console.log(
        `  ops: ${Object.entries(info.opCounts)
          .map(([k, v]) => `${k}×${v}`)
          .join(' ')}`,
      );
      console.log('  tappable nodes (shape at batch 1):');
      for (const t of info.taps) console.log(`    ${t.node.padEnd(40)} ${t.op.padEnd(20)} [${t.shape.join(', ')}]`);
    });

  program
    .command('eval <model.onnx>')
    .description('test accuracy, loss, file size and latency (p50/p95 at batch 1 and 32) of an ONNX classifier')
    .option('--dataset <name>', 'mnist | fashion-mnist', 'mnist')
    .option('--threads <n>', 'ONNX Runtime intra-op threads')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { dataset: DatasetName; threads?: string; json?: boolean }) => {
      const test = loadDataset(o.dataset, 'test');
      // fromFile names the file in every message (unreadable, not ONNX, refused by ONNX Runtime, wrong input shape).
      const p = await Predictor.fromFile(file, { threads: o.threads ? Number(o.threads) : undefined });
      const ev = await evaluateClassifier(p, test);
      const latency = await measureLatency(p, test.sampleShape);
      await p.release();
      const res = {
        model: file,
        dataset: o.dataset,
        accuracy: ev.accuracy,
        loss: +ev.loss.toFixed(5),
        fileBytes: statSync(file).size,
        latencyMs: latency,
      };
      if (o.json) return console.log(JSON.stringify(res, null, 2));
      console.log(
        `${file} on ${o.dataset} test: accuracy ${(ev.accuracy * 100).toFixed(2)}%, ` +
          `loss ${res.loss}, ${(res.fileBytes / 1024).toFixed(0)} KiB`,
      );
      for (const l of latency) console.log(`  latency batch ${l.batch}: p50 ${l.p50} ms, p95 ${l.p95} ms`);
    });
}
