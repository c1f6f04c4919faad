/**
 * The messages between the page (app.ts, main thread) and the worker (worker.ts) that runs the core. Only plain
 * data crosses: File objects (structured-cloneable, so the page never reads a file's bytes itself), strings,
 * numbers and transferred ArrayBuffers. Both sides import these types; nothing here runs.
 */

/** Where the page keeps a dropped input, relative to the worker's /inputs folder (and the config's `dir`). */
export type InputSlot = 'teacher' | 'student' | 'images' | 'csv' | 'jsonl';

/** One file to store under /inputs: its path there and the File to read it from (in the worker). */
export interface InputFile {
  readonly path: string;
  readonly file: File;
}

/** A registered distillation method as the form needs it: its name, family, one line, and its defaults when it has all. */
export interface MethodInfo {
  readonly name: string;
  readonly kind: string;
  readonly description: string;
  /** The option defaults when every option has one (`kd`: { temperature: 4 }); null when some option is required. */
  readonly defaults: Record<string, unknown> | null;
}

/** What `inspectModel` reports, as much of it as the page shows. */
export interface TeacherInfo {
  readonly name: string;
  readonly bytes: number;
  readonly opset: number;
  readonly producer: string;
  readonly parameters: number;
  readonly nodes: number;
  readonly inputs: readonly { name: string; dtype: string; shape: (number | string)[] }[];
  readonly outputs: readonly { name: string; dtype: string; shape: (number | string)[] }[];
  readonly taps: readonly { node: string; op: string; shape: number[] }[];
}

/** A run found under /runs that has no summary.json: it was interrupted (a reload, a closed tab) and can resume. */
export interface InterruptedRun {
  readonly name: string;
  /** The resolved config it started with, which a resume must use unchanged. */
  readonly configText: string;
  /** When the page started it (ISO time), for the banner. */
  readonly startedAt: string;
  /** The stage it was training when it stopped, and the steps of it done (from metrics.jsonl); null before the first step. */
  readonly stage: string | null;
  readonly step: number | null;
  /** That stage's newest step checkpoint, where the resume continues; null when the stage stopped before its first. */
  readonly checkpoint: string | null;
}

/** One metrics event of a run (`metrics.jsonl` line): a step's losses, an epoch's validation, a resume note. */
export type MetricEvent = Readonly<Record<string, unknown>> & { readonly stage?: string };

/** The runtime the worker's library reports (`webInfo()`). */
export interface EnvInfo {
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly providers: readonly string[];
  readonly hardwareConcurrency: number;
  readonly webgpu: boolean;
}

/** A file of a finished run, sent back for the download buttons (bytes transferred, not copied). */
export interface RunFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export type ToWorker =
  | { readonly type: 'init' }
  | { readonly type: 'configure'; readonly provider: 'wasm' | 'webgpu' }
  | { readonly type: 'inspect'; readonly file: File }
  | { readonly type: 'put-inputs'; readonly slot: InputSlot; readonly files: readonly InputFile[] }
  | { readonly type: 'validate'; readonly id: number; readonly yaml: string }
  | { readonly type: 'start'; readonly yaml: string }
  | { readonly type: 'resume-run'; readonly name: string }
  | { readonly type: 'discard-run'; readonly name: string }
  | { readonly type: 'pause' }
  | { readonly type: 'continue' };

export type FromWorker =
  | {
      readonly type: 'ready';
      readonly env: EnvInfo;
      readonly methods: readonly MethodInfo[];
      readonly interrupted: readonly InterruptedRun[];
    }
  | { readonly type: 'env'; readonly env: EnvInfo }
  | { readonly type: 'inspected'; readonly info: TeacherInfo }
  | {
      readonly type: 'inputs-stored';
      readonly slot: InputSlot;
      readonly files: number;
      readonly bytes: number;
      /** Files per class folder (images only). */
      readonly classes: Readonly<Record<string, number>>;
    }
  | { readonly type: 'validated'; readonly id: number; readonly ok: true; readonly resolved: string; readonly name: string }
  | { readonly type: 'validated'; readonly id: number; readonly ok: false; readonly message: string }
  | {
      readonly type: 'run-started';
      readonly name: string;
      readonly resumed: boolean;
      /** Stages in order with their batch size and epochs, for the progress line and images/s. */
      readonly stages: readonly { name: string; batchSize: number; epochs: number; trained: boolean }[];
      /** The events an interrupted run logged before, so a resumed run's charts start where they stopped. */
      readonly history: readonly MetricEvent[];
    }
  | { readonly type: 'events'; readonly events: readonly MetricEvent[] }
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'paused' }
  | { readonly type: 'continued' }
  | { readonly type: 'run-done'; readonly summary: unknown; readonly files: readonly RunFile[] }
  | { readonly type: 'discarded'; readonly name: string }
  | {
      readonly type: 'error';
      /** What the worker was doing: 'inspect', 'inputs', 'run', 'init', ... (the panel's heading). */
      readonly context: string;
      readonly message: string;
      readonly code: string | null;
    };
