import { Predictor } from './inference.js';
import { runtime } from './runtime.js';
import type { Teacher } from './teacher.js';

/** Options of {@link startOnnxTeacher}. */
export interface OnnxTeacherOptions {
  /** Intra-op threads of the teacher's session (default 1: the student gets the rest). */
  threads?: number;
  /** What the model is called in messages (its file); marks a refused model as the user's file. */
  source?: string;
}

/**
 * An ONNX teacher: in a worker thread where the runtime has one (its answers then overlap the student's
 * step), else a {@link Predictor} in the calling thread.
 */
export async function startOnnxTeacher(bytes: Uint8Array, opts: OnnxTeacherOptions = {}): Promise<Teacher> {
  const rt = runtime(),
    threads = opts.threads ?? 1;
  if (rt.startWorkerTeacher) return rt.startWorkerTeacher(bytes, threads);
  return Predictor.fromBytes(bytes, { threads }, opts.source);
}
