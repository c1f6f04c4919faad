import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { batches, type Dataset } from '../data/index.js';
import { loadDataset, type DatasetName } from '../data/node/index.js';
import { parseOnnx } from '../graph/onnx.js';
import { exportReport, formatExportReport } from '../report/export-report.js';
import { KdError } from '../util/errors.js';
import { readInput, writeAtomic } from '../runtime/storage.js';
import { reportAfterRun } from './report.js';

interface ExportFlags {
  teacher?: string;
  fp16?: boolean;
  int8?: boolean;
  calibrate: string;
  dataset?: string;
  threads?: string;
  json?: boolean;
}

const BUNDLED = ['mnist', 'fashion-mnist'];

/** The student file, its default teacher and the dataset a run directory was trained on. */
function locate(target: string): { student: string; teacher?: string; dataset?: string } {
  if (!existsSync(target)) throw new KdError('MISSING_FILE', `${target}: no such run directory or ONNX file`);
  if (!statSync(target).isDirectory()) return { student: target };
  const student = join(target, 'student.onnx');
  if (!existsSync(student))
    throw new KdError('MISSING_FILE', `${target} has no student.onnx; is it a finished run directory? (or name the student's ONNX file)`);
  const teacher = existsSync(join(target, 'teacher.onnx')) ? join(target, 'teacher.onnx') : undefined;
  const cfg = join(target, 'config.resolved.yaml');
  const dataset = existsSync(cfg) ? (parseYaml(readFileSync(cfg, 'utf8')) as { dataset?: { name?: string } })?.dataset?.name : undefined;
  return { student, teacher, dataset };
}

/**
 * The first `n` training samples in a seeded shuffled order (a mix of classes), scaled to [0, 1] as the
 * bundled datasets are in training (no mean/std): int8 ranges must match what the model saw.
 */
function calibrationBatches(train: Dataset, n: number): Float32Array[] {
  const out: Float32Array[] = [];
  let left = Math.min(n, train.n);
  for (const b of batches(train, { batchSize: Math.min(256, left), shuffle: true, seed: 0 })) {
    const take = Math.min(b.size, left);
    // Batch views are reused by the iterator: copy.
    out.push(Float32Array.from(b.x.subarray(0, (take * b.x.length) / b.size)));
    left -= take;
    if (left <= 0) break;
  }
  return out;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new KdError('BAD_OPTION', `--${flag} must be a positive integer, got '${v}'`);
  return n;
}

/** `export`: float16 / int8 variants of a student next to it, and a report comparing them with the teacher. */
export function registerExport(program: Command): void {
  program
    .command('export <run-dir|student.onnx>')
    .description(
      'write student.fp16.onnx / student.int8.onnx next to the student and a report (export-report.md/.json): parameters, ' +
        'file size, latency p50/p95 at batch 1 and 32, test accuracy and agreement, teacher and student side by side',
    )
    .option('--teacher <teacher.onnx>', "the teacher to compare with (default: the run directory's teacher.onnx)")
    .option('--fp16', 'also write float16 weights (half the file; computes in float32)')
    .option(
      '--int8',
      'also write a static int8 QDQ model: calibrated on training images, or from the scales a quantisation-aware student learned',
    )
    .option('--calibrate <n>', 'training images for the int8 activation ranges', '512')
    .option('--dataset <name>', "mnist | fashion-mnist (default: the run's dataset, else mnist)")
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--json', 'print the report as JSON')
    .action(async (target: string, o: ExportFlags) => {
      const loc = locate(target);
      const name = o.dataset ?? loc.dataset ?? 'mnist';
      if (!BUNDLED.includes(name)) {
        throw new KdError(
          'UNSUPPORTED_DATASET',
          'kdistill export evaluates on the bundled datasets (mnist, fashion-mnist); ' +
            `${o.dataset ? `'${name}' is not one` : `${target} was trained on '${name}'`}. ` +
            `Use the library's exportReport with your own test data.`,
        );
      }
      const calibrate = positiveInt(o.calibrate, 'calibrate');
      const threads = o.threads ? positiveInt(o.threads, 'threads') : undefined;
      const teacherFile = o.teacher ?? loc.teacher;
      const test = loadDataset(name as DatasetName, 'test');
      const calibration = o.int8 ? calibrationBatches(loadDataset(name as DatasetName, 'train'), calibrate) : undefined;
      const stem = loc.student.replace(/\.onnx$/i, '');
      const dir = dirname(loc.student);
      const files = {
        'teacher.fp32': teacherFile ? basename(teacherFile) : undefined,
        'student.fp32': basename(loc.student),
        'student.fp16': `${basename(stem)}.fp16.onnx`,
        'student.int8': `${basename(stem)}.int8.onnx`,
      };
      // Parsed here so a truncated or non-ONNX file is reported by its name.
      const load = (f: string, what: string) => {
        const b = readInput(f, what);
        parseOnnx(b, f);
        return b;
      };
      const { report, student } = await exportReport({
        teacher: teacherFile ? load(teacherFile, 'teacher model') : undefined,
        student: load(loc.student, 'student model'),
        variants: { fp16: !!o.fp16, int8: !!o.int8 },
        calibration,
        test,
        files,
        threads,
      });
      if (student.fp16) writeAtomic(join(dir, files['student.fp16']), [student.fp16], { what: 'model' });
      if (student.int8) writeAtomic(join(dir, files['student.int8']), [student.int8], { what: 'model' });
      const md = formatExportReport(report);
      writeAtomic(join(dir, 'export-report.json'), [`${JSON.stringify(report, null, 2)}\n`], { what: 'report' });
      writeAtomic(join(dir, 'export-report.md'), [`${md}\n`], { what: 'report' });
      // A run directory's report.html gains the export section.
      if (existsSync(join(dir, 'summary.json'))) await reportAfterRun(dir, (l) => console.error(l));
      if (o.json) return console.log(JSON.stringify(report, null, 2));
      console.log(md);
      const written = [
        student.fp16 && files['student.fp16'],
        student.int8 && files['student.int8'],
        'export-report.json',
        'export-report.md',
      ];
      console.log(`wrote ${written.filter(Boolean).join(', ')} in ${dir}`);
    });
}
