import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { StageConfig, StageTeacherConfig } from '../config/index.js';
import { teacherOutputsOf, teacherRef, type LossTerm } from '../distill/loss.js';
import { prepareTeacher } from '../distill/teacher.js';
import { TeacherCache, type CacheStats } from '../distill/teachers/cache.js';
import { HttpTeacher } from '../distill/teachers/http.js';
import { httpKey, onnxKey } from '../distill/teachers/keys.js';
import type { TeacherSource } from '../distill/teachers/source.js';
import { WorkerTeacher } from '../runtime/node/worker-teacher.js';
import { KdError } from '../util/errors.js';
import type { TeacherSlot } from './classifier.js';

/** How a stage's teacher is named in `node@teacher` references, messages and agreement columns. */
export function teacherName(t: StageTeacherConfig): string {
  return t.stage ?? (t.file ? basename(t.file).replace(/\.onnx$/i, '') : new URL(t.http!.url).host);
}

/** The feature references of `loss` that teacher `k` (named `name`) serves: `node@name`, or plain names for the first. */
function featuresOf(loss: readonly LossTerm[], name: string, k: number): string[] {
  return teacherOutputsOf(loss)
    .filter((r) => r !== 'logits')
    .filter((r) => {
      const t = teacherRef(r).teacher;
      return t === name || (t === undefined && k === 0);
    })
    .map((r) => teacherRef(r).node);
}

/** What the stage's step graph needs of teacher `k`, and the ONNX bytes (with the features it serves exposed) of a model teacher. */
export async function teacherSlot(
  st: StageConfig,
  k: number,
  stageBytes: (stage: string) => Uint8Array,
  sampleShape: readonly number[],
  classes: number,
): Promise<{ slot: TeacherSlot; bytes?: Uint8Array; key?: string }> {
  const t = st.teachers[k],
    name = teacherName(t);
  const slot = { name, weight: t.weight, classes: t.classes };
  const features = featuresOf(st.loss as LossTerm[], name, k);
  if (t.http) {
    if (features.length)
      throw new KdError(
        'NO_TEACHER_FEATURE',
        `stage '${st.name}': teacher '${name}' is an HTTP endpoint, which answers logits only; the loss reads its ${features.join(', ')}`,
      );
    const width = st.combine === 'concat' && t.classes ? t.classes.length : classes;
    return { slot: { ...slot, shapes: { logits: [width] } } };
  }
  const source = t.stage ? stageBytes(t.stage) : new Uint8Array(readFileSync(t.file!));
  const p = await prepareTeacher(
    source,
    st.loss as LossTerm[],
    t.stage ?? t.file!,
    sampleShape,
    st.combine === 'concat' ? undefined : classes,
    features,
  );
  // Keyed by the file as given, so answers `kdistill cache fill` stored for it are found whatever features are exposed.
  return { slot: { ...slot, shapes: p.shapes }, bytes: p.bytes, key: onnxKey(source) };
}

/** A running teacher: a worker-thread ONNX model or an HTTP client, behind a disk cache when the config asks for one. */
export async function openTeacher(
  t: StageTeacherConfig,
  slot: TeacherSlot,
  bytes: Uint8Array | undefined,
  fileKey: string | undefined,
  cacheDir: string,
): Promise<{ source: TeacherSource; stats?: () => CacheStats }> {
  let source: TeacherSource, key: string;
  if (t.http) {
    const { url, version, ...limits } = t.http;
    source = new HttpTeacher({ url, version, classes: slot.shapes!.logits[0], ...limits });
    key = httpKey(url, version ?? 'unversioned');
  } else {
    source = await WorkerTeacher.start(bytes!, 1);
    key = fileKey ?? onnxKey(bytes!);
  }
  if (!t.cache) return { source };
  const cache = new TeacherCache(source as TeacherSource & { cacheKey?: string }, { key, dir: cacheDir });
  return { source: cache, stats: () => cache.stats() };
}
