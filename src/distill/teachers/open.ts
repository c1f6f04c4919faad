import { startOnnxTeacher } from '../../runtime/onnx-teacher.js';
import { KdError } from '../../util/errors.js';
import type { Combine } from '../combine.js';
import { teacherOutputsOf, teacherRef, type LossTerm } from '../loss.js';
import { TeacherCache, type CacheStats } from './cache.js';
import { HttpTeacher } from './http.js';
import { httpKey, onnxKey } from './keys.js';
import { prepareTeacher } from './prepare.js';
import type { Teacher } from '../../runtime/teacher.js';
import type { TeacherSpec } from './spec.js';

/** What a training step needs to know of one teacher (its runtime lives elsewhere). */
export interface TeacherSlot {
  /** Name used in `node@name` references and messages. */
  readonly name: string;
  /** Per-sample shapes of what it serves, by node name; `logits` defaults to the student's width. */
  readonly shapes?: Readonly<Record<string, readonly number[]>>;
  readonly weight?: number;
  readonly classes?: readonly number[] | null;
}

/** A teacher readied for one stage's loss: its slot in the step graph, and the bytes (features exposed) of an ONNX teacher. */
export interface PreparedTeacher {
  readonly spec: TeacherSpec;
  readonly slot: TeacherSlot;
  /** ONNX teachers: the model with the features the loss reads exposed as outputs. */
  readonly bytes?: Uint8Array;
  /** ONNX teachers: the cache key of the model as given (so answers `kdistill cache fill` stored for it are found). */
  readonly key?: string;
}

/** A running teacher, with the cache statistics when its answers go through the disk cache. */
export interface OpenTeacher extends PreparedTeacher {
  readonly source: Teacher;
  readonly stats?: () => CacheStats;
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

/** Where a teacher's answers come from, for one stage: the data's sample shape and classes, and its loss. */
export interface TeacherContext {
  /** The stage, in messages. */
  readonly stage: string;
  readonly loss: readonly LossTerm[];
  readonly combine: Combine;
  readonly sampleShape: readonly number[];
  readonly classes: number;
  /** ONNX bytes of an earlier stage (trained, or an untrained stand-in during preflight). */
  readonly stageBytes: (stage: string) => Uint8Array;
}

/**
 * Readies teacher `k` of a stage: the features its terms read are exposed and their shapes probed (ONNX
 * teachers), or the width of its logits is fixed (HTTP and live teachers, which answer logits only).
 */
export async function prepareStageTeacher(spec: TeacherSpec, k: number, ctx: TeacherContext): Promise<PreparedTeacher> {
  const slot = { name: spec.name, weight: spec.weight, classes: spec.classes };
  const features = featuresOf(ctx.loss, spec.name, k);
  const width = ctx.combine === 'concat' && spec.classes ? spec.classes.length : ctx.classes;
  if (spec.kind === 'http' || spec.kind === 'live') {
    const given = spec.kind === 'live' ? spec.shapes : undefined;
    const missing = features.filter((f) => !given?.[f]);
    if (missing.length) {
      const what =
        spec.kind === 'http' ? 'an HTTP endpoint, which answers logits only' : 'a teacher object whose feature shapes were not given';
      throw new KdError(
        'NO_TEACHER_FEATURE',
        `stage '${ctx.stage}': teacher '${spec.name}' is ${what}; the loss reads its ${missing.join(', ')}`,
      );
    }
    if (spec.kind === 'http' && spec.http.protocol === 'open-inference') await checkServed(spec, ctx.sampleShape, width);
    return { spec, slot: { ...slot, shapes: { logits: [width], ...given } } };
  }
  const source = spec.kind === 'stage' ? ctx.stageBytes(spec.stage) : spec.bytes;
  const label = spec.kind === 'stage' ? spec.stage : spec.label;
  const classes = ctx.combine === 'concat' ? undefined : ctx.classes;
  const p = await prepareTeacher(source, ctx.loss, label, ctx.sampleShape, classes, features);
  return { spec, slot: { ...slot, shapes: p.shapes }, bytes: p.bytes, key: onnxKey(source) };
}

/**
 * An Open Inference teacher's server and model metadata checked before anything trains. A cached teacher
 * whose server cannot be reached is let through: its answers may all be on disk, and a miss checks again.
 */
async function checkServed(spec: TeacherSpec & { kind: 'http' }, sampleShape: readonly number[], classes: number): Promise<void> {
  const t = new HttpTeacher({ ...spec.http, classes, retries: spec.cache ? 0 : spec.http.retries });
  try {
    await t.check(sampleShape, undefined);
  } catch (e) {
    const unreachable = e instanceof KdError && e.code === 'TEACHER_FAILED' && /network error|no answer within/.test(e.message);
    if (!(spec.cache && unreachable)) throw e;
  }
}

/**
 * Starts a prepared teacher: an ONNX model in its own worker thread, an HTTP client or the given object, behind the
 * disk cache if asked.
 */
export async function openTeacher(t: PreparedTeacher, cacheDir: string): Promise<OpenTeacher> {
  const spec = t.spec;
  let source: Teacher;
  let key: string | undefined;
  if (spec.kind === 'http') {
    const http = new HttpTeacher({ ...spec.http, classes: t.slot.shapes!.logits[0] });
    source = http;
    key = http.cacheKey ?? httpKey(spec.http.url, 'unversioned');
  } else if (spec.kind === 'live') {
    source = spec.teacher;
    key = (spec.teacher as { cacheKey?: string }).cacheKey;
  } else {
    // The teacher answers the next batches in its own thread while the student trains on these.
    source = await startOnnxTeacher(t.bytes!, { threads: 1, source: t.spec.name });
    key = t.key;
  }
  if (!spec.cache) return { ...t, source };
  if (!key) throw new KdError('BAD_TEACHER', `teacher '${spec.name}' cannot be cached: it has no cache key (give the object a 'cacheKey')`);
  const cache = new TeacherCache(source as Teacher & { cacheKey?: string }, { key, dir: cacheDir });
  return { ...t, source: cache, stats: () => cache.stats() };
}

/** Opens every teacher of a stage; if one fails to start, the ones already running are released. */
export async function openTeachers(prepared: readonly PreparedTeacher[], cacheDir: string): Promise<OpenTeacher[]> {
  const open: OpenTeacher[] = [];
  try {
    for (const p of prepared) open.push(await openTeacher(p, cacheDir));
  } catch (e) {
    await releaseTeachers(open);
    throw e;
  }
  return open;
}

/** Releases running teachers (threads, sockets, cache files). */
export async function releaseTeachers(open: readonly OpenTeacher[]): Promise<void> {
  for (const t of open) await t.source.release();
}
