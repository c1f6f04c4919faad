/**
 * Starting a model from some layers of another (DistilBERT initialises its student from every other layer of the
 * teacher): each `{ student, teacher }` pair of name prefixes maps every parameter and buffer under the student
 * prefix to the one under the teacher prefix with the same rest of the name, which must have the same shape.
 */
import { parseOnnx, tensorFromProto } from '../graph/onnx.js';
import type { Model } from '../nn/model.js';
import { KdError } from '../util/errors.js';
import type { StagePlan } from './plan.js';

/** One layer mapping: student prefix ← source prefix, or (a number) the source layer the next student layer starts from. */
export type LayerPair = { readonly student: string; readonly teacher: string };
/** A written layer mapping: prefixes, or a layer number. */
export type LayerRef = LayerPair | number;

/**
 * A model's layers in order: the name prefix up to its first numbered segment (`block1`, `encoder.layer.0`, `layer3`),
 * each counted once, in the order the model declares them. Names without a numbered segment belong to no layer.
 */
export function layersOf(names: Iterable<string>): string[] {
  const out: string[] = [];
  for (const n of names) {
    const m = /^(.*?(?:^|[/.])[A-Za-z_]*\d+)(?=[/.]|$)/.exec(n);
    if (m && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** Numbers of `layers` as prefix pairs: the k-th number is the source layer the student's k-th layer starts from. */
function numbered(st: StagePlan, student: Model, source: InitSource, layers: readonly LayerRef[]): LayerPair[] {
  const mine = layersOf(student.specs.keys());
  const theirs = layersOf(source.shapes.keys());
  let k = 0;
  return layers.map((l) => {
    if (typeof l !== 'number') return l;
    const where = `stage '${st.name}' (${st.label}): init.layers`;
    if (k >= mine.length)
      throw new KdError(
        'BAD_INIT',
        `${where}: ${layers.filter((x) => typeof x === 'number').length} layer numbers, ` +
          `but the student has ${mine.length} layers (${mine.join(', ')})`,
      );
    if (l >= theirs.length)
      throw new KdError(
        'BAD_INIT',
        `${where}: layer ${l} of '${source.name}' does not exist; it has ${theirs.length} (${theirs.join(', ')}), numbered from 0`,
      );
    return { student: mine[k++], teacher: theirs[l] };
  });
}

/** A source's values by name, with their shapes: a trained stage's model, or an ONNX file's initializers. */
export interface InitSource {
  readonly name: string;
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  values(): ReadonlyMap<string, Float32Array>;
}

/** What a stage can start from: an earlier stage (its trained values come later, from `trained`) or its ONNX file. */
export function initSourceOf(from: StagePlan, trained: () => ReadonlyMap<string, Float32Array> | undefined): InitSource {
  if (from.build) {
    const m = from.build();
    return { name: from.name, shapes: new Map([...m.specs].map(([k, s]) => [k, s.shape])), values: () => trained() ?? m.values };
  }
  const inits = parseOnnx(from.file!.bytes, from.file!.path).graph?.initializer ?? [];
  const floats = inits.filter((p) => p.dataType === 1);
  return {
    name: from.name,
    shapes: new Map(floats.map((p) => [p.name, p.dims.map(Number)])),
    values: () => new Map(floats.map((p) => [p.name, tensorFromProto(p).data as Float32Array])),
  };
}

/** Whether `name` lies under `prefix` (the prefix itself, or followed by a separator, or ending in one). */
const under = (name: string, prefix: string) =>
  name === prefix || (name.startsWith(prefix) && (/[/.]$/.test(prefix) || /[/.]/.test(name[prefix.length])));

/**
 * The student name → source name pairs of `layers`, checked: every pair must match some student parameter, and each
 * must find a source value of its shape. Errors name the stage, the pair and what is there instead.
 */
export function mapLayers(st: StagePlan, student: Model, source: InitSource, refs: readonly LayerRef[]): Map<string, string> {
  const layers = numbered(st, student, source, refs);
  const out = new Map<string, string>();
  const where = `stage '${st.name}' (${st.label}): init.layers`;
  for (const [i, { student: sp, teacher: tp }] of layers.entries()) {
    const names = [...student.specs.keys()].filter((n) => under(n, sp));
    if (!names.length) {
      const tops = [...new Set([...student.specs.keys()].map((n) => n.split(/[/.]/)[0]))].slice(0, 12);
      throw new KdError('BAD_INIT', `${where}[${i}]: '${sp}' names no parameter of the student; its layers are ${tops.join(', ')}`);
    }
    for (const n of names) {
      const from = tp + n.slice(sp.length);
      const have = student.specs.get(n)!.shape;
      const there = source.shapes.get(from);
      if (!there) {
        const near = [...source.shapes.keys()].filter((k) => under(k, tp)).slice(0, 6);
        throw new KdError(
          'BAD_INIT',
          `${where}[${i}]: the student's '${n}' would start from '${from}' of '${source.name}', which has no such value` +
            (near.length ? ` (under '${tp}' it has ${near.join(', ')})` : ` (nothing under '${tp}')`),
        );
      }
      if (there.join() !== have.join())
        throw new KdError(
          'BAD_INIT',
          `${where}[${i}]: the student's '${n}' is [${have.join(', ')}] but '${from}' of '${source.name}' is [${there.join(', ')}]; ` +
            'map layers of the same shape',
        );
      out.set(n, from);
    }
  }
  return out;
}

/** Copies the mapped values of `source` into `student`. */
export function copyLayers(student: Model, source: ReadonlyMap<string, Float32Array>, pairs: ReadonlyMap<string, string>): void {
  for (const [n, from] of pairs) student.values.get(n)!.set(source.get(from)!);
}
