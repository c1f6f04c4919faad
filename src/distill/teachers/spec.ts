import type { HttpTeacherOptions } from './http.js';
import type { Teacher } from '../../runtime/teacher.js';

/** What every teacher of a stage carries besides where its answers come from. */
interface TeacherSpecCommon {
  /** How the teacher is named in `node@name` references, messages and agreement columns. */
  readonly name: string;
  /** Its weight when several teachers are combined with `combine: weights`. */
  readonly weight: number;
  /** The classes it knows (amalgamation, `combine: concat`); null: all of the student's. */
  readonly classes: readonly number[] | null;
  /** Keep its answers on disk so that no input is asked twice. */
  readonly cache: boolean;
}

/**
 * A teacher as a run plan names it: ONNX bytes (a file, or any exporter's model), an earlier stage of the
 * same run, an HTTP endpoint, or a live {@link Teacher} object (a function, an ensemble, a user's own).
 * ONNX teachers get the features the loss reads exposed and run in a worker thread; the others answer logits.
 */
export type TeacherSpec = TeacherSpecCommon &
  (
    | { readonly kind: 'onnx'; readonly bytes: Uint8Array /** The file name, for messages. */; readonly label: string }
    | { readonly kind: 'stage'; readonly stage: string }
    | { readonly kind: 'http'; readonly http: Omit<HttpTeacherOptions, 'classes'> }
    | {
        readonly kind: 'live';
        readonly teacher: Teacher /** Its answers' per-sample shapes (default: logits of the student's width). */;
        readonly shapes?: Readonly<Record<string, readonly number[]>>;
      }
  );
