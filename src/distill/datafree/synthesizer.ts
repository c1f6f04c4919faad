/**
 * Data-free distillation as a way of producing the training inputs: a synthesiser makes samples from the teacher
 * alone (or from noise, or from unrelated data), and the stage then distils on them with any loss. Each method is
 * one file in `methods/` behind this small interface and one line in the registry.
 */
import type { z } from 'zod';
import type { Dataset } from '../../data/dataset.js';
import type { Model } from '../../nn/model.js';
import { argmaxRows } from '../../util/argmax.js';
import { KdError } from '../../util/errors.js';

/** What a synthesiser is given: the teacher and the shape, count and range of the samples to make. */
export interface SynthContext {
  /** The teacher's ONNX bytes (one input, the samples; one output, the class scores). */
  readonly teacher: Uint8Array;
  /** What the teacher is called in messages (its path). */
  readonly source: string;
  readonly sampleShape: readonly number[];
  readonly classes: number;
  /** Samples to make. */
  readonly n: number;
  readonly seed: number;
  /** The range of a sample value the teacher was trained on ([0, 1] for images scaled from bytes). */
  readonly range: readonly [number, number];
  readonly threads?: number;
  /**
   * A fresh student of the stage's architecture (each call a new one), for methods that put the student in the loop
   * (Adaptive DeepInversion's competition); absent outside a stage (`kdistill synth`).
   */
  readonly student?: () => Model;
  /** Progress for the run's log and console. */
  readonly log?: (event: Record<string, unknown>) => void;
}

/** A data-free method: its paper, its options (zod, validated before anything runs) and how it makes samples. */
export interface Synthesizer<O = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  readonly options: z.ZodType<O>;
  /** The samples, [n, ...sampleShape] row-major, within `range`. */
  synthesize(ctx: SynthContext, options: O): Promise<Float32Array>;
}

const synthesizers = new Map<string, Synthesizer>();

/** Makes a data-free method available to configs (`dataFree: { method }`) and `kdistill synth`. */
export function registerSynthesizer<O>(s: Synthesizer<O>): void {
  synthesizers.set(s.name, s as unknown as Synthesizer);
}

export function synthesizerNames(): string[] {
  return [...synthesizers.keys()];
}

/** The registered method, or an error listing the ones there are. */
export function synthesizer(name: string): Synthesizer {
  const s = synthesizers.get(name);
  if (!s) throw new KdError('UNKNOWN_METHOD', `unknown dataFree method '${name}'; known: ${synthesizerNames().join(', ')}`);
  return s;
}

/** A method's option problems as field paths and messages (an unknown key gets its own path and the known options). */
export function optionIssues(name: string, issues: readonly z.core.$ZodIssue[]): { path: string[]; message: string }[] {
  const shape = (synthesizer(name).options as unknown as { shape?: Record<string, unknown> }).shape;
  const known = shape ? Object.keys(shape) : [];
  return issues.flatMap((e) =>
    e.code === 'unrecognized_keys'
      ? e.keys.map((k) => ({
          path: [...e.path.map(String), k],
          message: `unknown option '${k}' of dataFree method '${name}'; ${optionList(known)}`,
        }))
      : [{ path: e.path.map(String), message: `${e.message} (an option of dataFree method '${name}')` }],
  );
}

const optionList = (known: readonly string[]) => (known.length ? `its options: ${known.join(', ')}` : 'it takes none');

/** Checks a method's options up front, naming the field; returns them with defaults filled in. */
export function parseSynthOptions(name: string, options: unknown, where = 'dataFree'): Record<string, unknown> {
  const r = synthesizer(name).options.safeParse(options ?? {});
  if (r.success) return r.data as Record<string, unknown>;
  const first = optionIssues(name, r.error.issues)[0];
  throw new KdError('BAD_CONFIG', `${where}.${first.path.join('.') || '(options)'}: ${first.message}`);
}

/** A transfer set: the synthesised samples labelled with the teacher's top class, and how the classes came out. */
export interface TransferSet {
  readonly data: Dataset;
  /** Samples the teacher puts in each class. */
  readonly classCounts: number[];
}

/** Wraps synthesised samples as a dataset whose labels are the teacher's predictions `logits` [n, classes]. */
export function transferSet(name: string, x: Float32Array, logits: Float32Array, ctx: SynthContext): TransferSet {
  const y = argmaxRows(logits.subarray(0, ctx.n * ctx.classes), ctx.classes),
    counts = new Array<number>(ctx.classes).fill(0);
  for (const c of y) counts[c]++;
  return { data: { name, x, y, n: ctx.n, sampleShape: ctx.sampleShape, numClasses: ctx.classes, kind: 'image' }, classCounts: counts };
}
