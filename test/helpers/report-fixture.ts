// A finished run directory as `kdistill run` leaves it, written by hand so report tests need no training: a teacher,
// a baseline and a distilled student on 3 classes, step and epoch metrics, the resolved config and an export report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSummary } from '../../src/train/report.js';

/** Writes the run directory at `dir` with the given seed; accuracies shift with the seed so seeds differ. */
export function writeRunFixture(dir: string, seed = 0, opts: { config?: string } = {}): RunSummary {
  mkdirSync(dir, { recursive: true });
  const d = seed * 0.002;
  const row = (role: string, acc: number, confusion: number[][], agreeWith: string | null) => ({
    role,
    model: role === 'teacher' ? 'mlp-784-1200-1200-10' : 'mlp-784-30-10',
    testAccuracy: acc,
    testLoss: 0.1,
    agreement: agreeWith ? 0.97 : null,
    agreeWith,
    parameters: role === 'teacher' ? 2395210 : 23860,
    fileBytes: role === 'teacher' ? 9581487 : 96000,
    latencyMs: [
      { batch: 1, p50: 0.1, p95: 0.2 },
      { batch: 32, p50: 0.5, p95: 0.6 },
    ],
    file: `${role}.onnx`,
    confusion,
  });
  const summary: RunSummary = {
    name: 'fixture-kd',
    seed,
    dataset: 'mnist',
    trainSamples: 300,
    validationSamples: 30,
    testSamples: 30,
    classNames: ['zero', 'one', 'two'],
    rows: [
      row(
        'teacher',
        0.98,
        [
          [10, 0, 0],
          [0, 10, 0],
          [1, 0, 9],
        ],
        null,
      ),
      row(
        'baseline',
        0.9 + d,
        [
          [9, 1, 0],
          [1, 8, 1],
          [0, 0, 10],
        ],
        'teacher',
      ),
      row(
        'distilled',
        0.95 + 2 * d,
        [
          [10, 0, 0],
          [0, 9, 1],
          [0, 1, 9],
        ],
        'teacher',
      ),
    ],
    seconds: 12,
  };
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary));
  const lines: string[] = [];
  for (const stage of ['baseline', 'distilled']) {
    lines.push(JSON.stringify({ t: 0, stage, event: 'start', epochs: 3 }));
    for (let s = 0; s < 90; s++) {
      const m: Record<string, unknown> = {
        t: s,
        stage,
        step: s,
        loss: 2 / (1 + s),
        grad_norm: 1 + 1 / (1 + s),
        ce: 1.5 / (1 + s),
        acc: 0.5 + s / 200,
      };
      if (stage === 'distilled') Object.assign(m, { kd: 1 / (1 + s), agree: 0.6 + s / 250 });
      lines.push(JSON.stringify(m));
      if (s % 30 === 29)
        lines.push(
          JSON.stringify({ t: s, stage, event: 'epoch', epoch: (s + 1) / 30, valAccuracy: 0.8 + s / 1000, valLoss: 0.5 - s / 500 }),
        );
    }
  }
  writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'config.resolved.yaml'), opts.config ?? `name: fixture-kd\nseed: ${seed}\nepochs: 3\n`);
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ startedAt: '2026-12-07T00:00:00.000Z', seed, versions: { kdistill: '0.1.0' } }));
  writeFileSync(
    join(dir, 'export-report.json'),
    JSON.stringify({
      dataset: 'mnist',
      testSamples: 30,
      rows: ['fp32', 'fp16', 'int8'].map((precision, i) => ({
        role: 'student',
        precision,
        file: `student.${precision}.onnx`,
        parameters: 23860,
        fileBytes: 96000 / (i + 1),
        weightBytes: 90000 / (i + 1),
        latencyMs: [{ batch: 1, p50: 0.1, p95: 0.2 }],
        accuracy: 0.95 - i * 0.01,
        agreementWithTeacher: 0.97,
        agreementWithFp32: 1 - i * 0.01,
      })),
    }),
  );
  return summary;
}
