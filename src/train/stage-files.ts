import { runtime } from '../runtime/runtime.js';
import { readText } from '../runtime/storage.js';
import { join } from '../util/path.js';
import { KdError } from '../util/errors.js';
import type { RunDir } from './run-dir.js';

/** Stages a run finished, from its `stages.json` (absent: none). */
export function readStages(rd: RunDir): Record<string, Record<string, unknown>> {
  if (!runtime().storage.exists(rd.path('stages.json'))) return {};
  try {
    return JSON.parse(readText(rd.path('stages.json'), 'stage list'));
  } catch (e) {
    throw new KdError(
      'BAD_RUN_DIR',
      `cannot resume from ${rd.dir}: stages.json is unreadable ` +
        `(${(e as Error).message}); delete it to redo every stage from its checkpoints`,
    );
  }
}

const stepCkpt = (stage: string) => new RegExp(`^${stage.replace(/[.]/g, '\\.')}-step(\\d+)\\.ckpt$`);

/** The stage's checkpoint with the most steps, if any. */
export function latestCheckpoint(dir: string, stage: string): { path: string; file: string; step: number } | undefined {
  const found = runtime()
    .storage.list(dir)
    .map((f) => ({ f, m: stepCkpt(stage).exec(f) }))
    .filter((x) => x.m)
    .map((x) => ({ file: x.f, path: join(dir, x.f), step: Number(x.m![1]) }));
  return found.sort((a, b) => b.step - a.step)[0];
}

/** Keeps the stage's newest `keep` step checkpoints (the best one is a separate file). */
export function pruneCheckpoints(dir: string, stage: string, keep: number): void {
  const steps = runtime()
    .storage.list(dir)
    .map((f) => stepCkpt(stage).exec(f))
    .filter((m) => m)
    .map((m) => Number(m![1]))
    .sort((a, b) => b - a);
  for (const s of steps.slice(keep)) runtime().storage.remove(join(dir, `${stage}-step${s}.ckpt`));
}

/** The name of a stage's model `k` in rows and files: the stage itself, or `<stage>.peerK` for a cohort's other peers. */
export function stageModelName(stage: string, k = 0): string {
  return k === 0 ? stage : `${stage}.peer${k}`;
}

/** The ONNX file of a stage's model `k` in the run directory (the classic names for the classic stages). */
export function stageFile(stage: string, k = 0): string {
  if (k > 0) return `${stageModelName(stage, k)}.onnx`;
  return stage === 'distilled' ? 'student.onnx' : `${stage}.onnx`;
}
