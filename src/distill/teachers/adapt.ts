/**
 * Teacher adapters compiled into the teacher's ONNX graph: nodes prepended to its input turn the samples the core
 * feeds (the data's [N, C, H, W], pixels in [0, 1]) into what the teacher was trained on (channels, size, layout,
 * mean/std), and nodes appended to its output turn its class scores into logits named `logits`. The result is
 * still one ONNX model, so it runs wherever a teacher runs (worker thread, browser) and its cache key is new.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  ModelProtoSchema,
  TensorProto_DataType as DT,
  TensorShapeProto_DimensionSchema,
  ValueInfoProtoSchema,
  type ModelProto,
  type TypeProto_Tensor,
  type ValueInfoProto,
} from 'onnx-buf/dist/onnx_pb.js';
import { parseOnnx } from '../../graph/onnx.js';
import type { TensorData } from '../../graph/types.js';
import { declaredInputs, describeInput, type DeclaredInput } from '../../runtime/inference.js';
import { KdError } from '../../util/errors.js';
import {
  checkAdapter,
  teacherInputSchema,
  teacherOutputSchema,
  type ResolvedInputAdapter,
  type ResolvedOutputAdapter,
  type TeacherInputAdapter,
  type TeacherOutputAdapter,
} from './adapter-spec.js';
import { interpolation } from './bilinear.js';
import { GraphEdit } from './graph-edit.js';

/** Options of {@link adaptTeacher}. */
export interface AdaptTeacherOptions {
  /** Which input takes the samples and how they are converted; absent: the input is used as it is. */
  readonly input?: TeacherInputAdapter;
  /** Which output holds the class scores and what they are; absent: the output named `logits`, or the only output, as logits. */
  readonly output?: TeacherOutputAdapter;
  /** The data's per-sample shape ([C, H, W] for images): the adapted input is declared with it and checked against the teacher's. */
  readonly sampleShape?: readonly number[];
  /** The teacher's file, in messages. */
  readonly source?: string;
  /** Where the adapters are written in a config, in messages (`teacher`, `stages[2].teachers[0]`). */
  readonly key?: string;
}

/** The smallest normal float32 (2^-126): probabilities are clamped to it before the log, so a 0 gives a finite logit. */
const TINY = 2 ** -126;

/**
 * The teacher's ONNX bytes with the adapters compiled in: one input (the data's samples as the core feeds them) and
 * an output `logits`. Without adapters the bytes are returned as they are, except that a teacher with one output not
 * named `logits` has it taken as its logits (exporters name outputs arbitrarily: `output`, `23`, `dense_1`).
 */
export function adaptTeacher(bytes: Uint8Array, opts: AdaptTeacherOptions = {}): Uint8Array {
  const source = opts.source ?? 'teacher';
  const key = opts.key ?? 'teacher';
  const input = opts.input === undefined ? undefined : checkAdapter(teacherInputSchema, opts.input, `${key}.input`, source);
  let output = opts.output === undefined ? undefined : checkAdapter(teacherOutputSchema, opts.output, `${key}.output`, source);
  const m = parseOnnx(bytes, source);
  const outs = m.graph!.output;
  if (!output && outs.length === 1 && outs[0].name !== 'logits') output = { kind: 'logits' };
  const inits = new Set(m.graph!.initializer.map((t) => t.name));
  const batched = (v: ValueInfoProto) => inits.has(v.name) || !fixedBatch(v);
  const flat = flattens(m, opts.input?.name, opts.sampleShape);
  if (!input && !output && !flat && m.graph!.input.every(batched) && outs.every(batched)) return bytes;
  const e = new GraphEdit(m.graph!);
  // Exporters fix the batch to the example input's (torch.onnx.export without dynamic_axes); the core feeds any batch,
  // and the preflight's two-sample run says so if the graph itself depends on the fixed size.
  e.inputs = e.inputs.map((v) => (batched(v) ? v : openBatch(v)));
  e.outputs = e.outputs.map((v) => (fixedBatch(v) ? openBatch(v) : v));
  if (input || flat) adaptInput(e, m, input ?? {}, { source, key, sampleShape: opts.sampleShape, flat });
  if (output) adaptOutput(e, output, source, key);
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, { ...m, graph: e.graph() }));
}

/**
 * Whether the teacher takes each sample as one flat vector of the data's sample size (an MLP exported on
 * `x.view(-1, 784)`): the samples are then flattened in their row-major order, PyTorch's and NumPy's.
 */
function flattens(m: ModelProto, name: string | undefined, s: readonly number[] | undefined): boolean {
  if (!s || s.length < 2) return false;
  const inputs = declaredInputs(m);
  const tin = inputs.find((i) => i.name === (name ?? inputs[0]?.name));
  const want = tin?.dims?.slice(1);
  return want?.length === 1 && want[0] === s.reduce((a, b) => a * b, 1);
}

const f32 = (shape: number[], values: readonly number[]): TensorData => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
const i64 = (values: readonly number[]): TensorData => ({
  dtype: 'int64',
  shape: [values.length],
  data: BigInt64Array.from(values.map(BigInt)),
});
const list = (inputs: readonly DeclaredInput[]) => inputs.map((i) => `'${i.name}' ${describeInput(i)}`).join(', ');
const dims = (s: readonly (number | string)[]) => `[${s.join(', ')}]`;

/** The default-domain opset the teacher was exported with (Resize's inputs changed at 11 and 13). */
function opsetOf(m: ModelProto): number {
  const o = m.opsetImport.find((x) => x.domain === '' || x.domain === 'ai.onnx');
  return o ? Number(o.version) : 1;
}

/** The teacher input that takes the samples: the named one, or the only one; every other input is refused by name. */
function pickInput(m: ModelProto, name: string | undefined, source: string, key: string): DeclaredInput {
  const inputs = declaredInputs(m);
  if (name !== undefined && !inputs.some((i) => i.name === name))
    throw new KdError(
      'UNKNOWN_INPUT',
      `${source} has no input named '${name}' (its inputs: ${inputs.length ? list(inputs) : 'none'}); set ${key}.input.name to one of them`,
    );
  const others = inputs.filter((i) => i.name !== (name ?? inputs[0]?.name));
  if (inputs.length === 0) throw new KdError('BAD_MODEL', `${source} takes no input; a teacher takes the samples as its one input`);
  if (others.length)
    throw new KdError(
      'BAD_MODEL',
      `${source} takes ${inputs.length} inputs (${list(inputs)}); ` +
        (name === undefined ? `name the one that takes the samples with ${key}.input.name — but ` : `besides '${name}', `) +
        `kdistill feeds a teacher one tensor, so ${others.map((i) => `'${i.name}'`).join(', ')} would have no value: ` +
        'export the teacher with the samples as its only input (the others made constants)',
    );
  return inputs.find((i) => i.name === (name ?? inputs[0].name))!;
}

/**
 * What would make samples of `have` fit a teacher that takes samples of `want` (per sample, images [C, H, W] or
 * [H, W, C]): the `input:` keys to set, as `{ channels: 3, size: [32, 32] }`, or '' when none would.
 */
export function inputHint(want: readonly (number | string)[], have: readonly number[]): string {
  if (want.length !== 3 || have.length !== 3) return '';
  const n = (d: number | string) => (typeof d === 'number' ? d : undefined);
  const [a, b, c] = want.map(n);
  // A last dim of 1 or 3 after two larger ones reads as channels last.
  const nhwc = (c === 1 || c === 3) && a !== 1 && a !== 3;
  const [ch, h, w] = nhwc ? [c, a, b] : [a, b, c];
  const keys: string[] = [];
  if (ch !== undefined && ch !== have[0] && (ch === 3 || ch === 1)) keys.push(`channels: ${ch}`);
  if (h !== undefined && w !== undefined && (h !== have[1] || w !== have[2])) keys.push(`size: [${h}, ${w}]`);
  if (nhwc) keys.push('layout: NHWC');
  return keys.length ? `{ ${keys.join(', ')} }` : '';
}

interface InputContext {
  readonly source: string;
  readonly key: string;
  readonly sampleShape?: readonly number[];
  /** The teacher takes each sample flattened (see `flattens`): the last step. */
  readonly flat?: boolean;
}

/**
 * Prepends the input conversion: repeat grey to 3 channels, resize, transpose to NHWC, normalise, flatten, in that
 * order.
 */
function adaptInput(e: GraphEdit, m: ModelProto, a: ResolvedInputAdapter, ctx: InputContext): void {
  const { source, key, sampleShape: s } = ctx;
  const at = `${key}.input`;
  const tin = pickInput(m, a.name, source, key);
  const image = a.size !== undefined || a.layout !== undefined || a.channels !== undefined;
  // Naming the input of a token-id teacher is fine; converting its values is not.
  if ((image || a.mean !== undefined || a.std !== undefined) && tin.dtype !== undefined && tin.dtype !== 'float32')
    throw new KdError('BAD_MODEL', `${source} takes input '${tin.name}' as ${describeInput(tin)}; ${at} converts float samples only`);
  const rank = s ? s.length + 1 : (tin.dims?.length ?? 4);
  if (image && rank !== 4)
    throw new KdError(
      'BAD_ADAPTER',
      `${source}: ${at}: size, layout and channels convert images [C, H, W]; ` +
        (s ? `the data's samples are [${s.join(', ')}]` : `the teacher's input '${tin.name}' is ${describeInput(tin)}`),
    );
  const dataChannels = s?.[0];
  if (a.channels === 3 && dataChannels !== undefined && dataChannels !== 1 && dataChannels !== 3)
    throw new KdError(
      'BAD_ADAPTER',
      `${source}: ${at}.channels: 3 repeats grey (1-channel) images; the data's have ${dataChannels} channels`,
    );
  if (a.channels === 1 && dataChannels !== undefined && dataChannels !== 1)
    throw new KdError(
      'BAD_ADAPTER',
      `${source}: ${at}.channels: 1 takes grey images, but the data's have ${dataChannels} channels (an adapter only repeats grey to 3)`,
    );
  // The samples after each step, where the data's shape is known; a numeric per-sample shape is checked against the teacher's.
  const channels = a.channels ?? dataChannels;
  const hw = a.size ?? (s && rank === 4 ? [s[1], s[2]] : undefined);
  const adapted = ctx.flat
    ? [s!.reduce((p, q) => p * q, 1)]
    : s && rank === 4 && channels !== undefined && hw
      ? a.layout === 'NHWC'
        ? [hw[0], hw[1], channels]
        : [channels, hw[0], hw[1]]
      : s && !image
        ? [...s]
        : undefined;
  const want = tin.dims?.slice(1);
  if (adapted && want) {
    const fits = want.length === adapted.length && want.every((d, k) => typeof d !== 'number' || d === adapted[k]);
    if (!fits) {
      const hint = inputHint(want, s!);
      throw new KdError(
        'SHAPE_MISMATCH',
        `${source} takes input '${tin.name}' as ${describeInput(tin)}, i.e. samples of ${dims(want)}, but ${at} turns the data's ` +
          `[${s!.join(', ')}] samples into [${adapted.join(', ')}]; ` +
          (hint ? `set ${at}: ${hint}` : `set ${at} (size, channels, layout) to what the teacher takes`),
      );
    }
  }
  // The per-channel constants broadcast along the channel axis of the teacher's layout.
  const perChannel = (v: number | readonly number[], what: 'mean' | 'std'): string => {
    const values = typeof v === 'number' ? [v] : v;
    const declared = want?.[a.layout === 'NHWC' ? 2 : 0];
    const c = channels ?? (typeof declared === 'number' ? declared : undefined);
    if (values.length > 1 && c !== undefined && values.length !== c)
      throw new KdError(
        'BAD_ADAPTER',
        `${source}: ${at}.${what} has ${values.length} values but the teacher's input gets ${c} channels; ` +
          `give one value per channel (${c}), or one for all`,
      );
    const shape =
      values.length === 1
        ? [1]
        : rank === 4 && a.layout === 'NHWC'
          ? [1, 1, 1, values.length]
          : [1, values.length, ...new Array<number>(rank - 2).fill(1)];
    return e.constant(what, f32(shape, values));
  };

  // Each step maps the current value to the named output; the last one writes the teacher's input itself.
  const steps: ((x: string, out: string) => string)[] = [];
  if (a.channels === 3 && dataChannels !== 3) {
    // Expand broadcasts a 1-channel batch to 3 channels (and leaves a 3-channel one as it is when the data's shape is unknown).
    const three = e.constant('channels', i64([1, 3, 1, 1]));
    steps.push((x, out) => e.node(e.before, 'Expand', [x, three], out));
  }
  const size = a.size;
  if (size && !(s && s[1] === size[0] && s[2] === size[1])) {
    const opset = opsetOf(m);
    if (opset < 11)
      throw new KdError(
        'BAD_MODEL',
        `${source}: ${at}.size needs ONNX Resize of opset 11 or later (the file is opset ${opset}); ` +
          're-export the teacher with opset_version ≥ 11',
      );
    const from = s && rank === 4 ? ([s[1], s[2]] as const) : undefined;
    // With the data's size known, the bilinear resize is Ah · x · Awᵀ, two MatMuls with constant interpolation matrices:
    // the same numbers, and differentiable, so data-free methods can take input gradients through the adapter.
    if (from)
      steps.push((x, out) => {
        const awT = e.constant('resize_w', f32([from[1], size[1]], interpolation(from[1], size[1], true)));
        const rows = e.node(e.before, 'MatMul', [x, awT], e.fresh('kdistill_adapt/resized_w'));
        return e.node(e.before, 'MatMul', [e.constant('resize_h', f32([size[0], from[0]], interpolation(from[0], size[0]))), rows], out);
      });
    else
      steps.push((x, out) => {
        // Resize takes the full output shape: the batch's N and C, then the teacher's H and W.
        const nc = e.node(
          e.before,
          'Slice',
          [e.node(e.before, 'Shape', [x], e.fresh('kdistill_adapt/shape')), e.constant('zero', i64([0])), e.constant('two', i64([2]))],
          e.fresh('kdistill_adapt/nc'),
        );
        const sizes = e.node(e.before, 'Concat', [nc, e.constant('size', i64(size))], e.fresh('kdistill_adapt/sizes'), { axis: 0 });
        // Opsets 11 and 12 require the roi and scales inputs (empty when sizes are given); later ones let them be left out.
        const unused = opset < 13 ? [e.constant('roi', f32([0], [])), e.constant('scales', f32([0], []))] : ['', ''];
        // 'pytorch_half_pixel' is F.interpolate(mode='bilinear', align_corners=False) exactly (also for a size of 1).
        return e.node(e.before, 'Resize', [x, ...unused, sizes], out, {
          mode: 'linear',
          coordinate_transformation_mode: 'pytorch_half_pixel',
        });
      });
  }
  if (a.layout === 'NHWC') steps.push((x, out) => e.node(e.before, 'Transpose', [x], out, { perm: [0, 2, 3, 1] }));
  const mean = a.mean === undefined ? undefined : perChannel(a.mean, 'mean');
  if (mean) steps.push((x, out) => e.node(e.before, 'Sub', [x, mean], out));
  const std = a.std === undefined ? undefined : perChannel(a.std, 'std');
  if (std) steps.push((x, out) => e.node(e.before, 'Div', [x, std], out));
  if (ctx.flat) steps.push((x, out) => e.node(e.before, 'Flatten', [x], out, { axis: 1 }));
  if (!steps.length) return;

  const raw = e.fresh(`${tin.name}_raw`);
  steps.reduce((x, step, k) => step(x, k === steps.length - 1 ? tin.name : e.fresh('kdistill_adapt/x')), raw);

  // The teacher's input becomes an inner value; the graph takes the raw samples instead, of the data's shape where it is known.
  const old = e.inputs.find((i) => i.name === tin.name)!;
  e.inputs = e.inputs.map((i) => (i.name === tin.name ? rawInfo(raw, old, s, rank) : i));
  e.valueInfo.push(old);
}

/** Whether a declared tensor has a fixed first (batch) dimension and at least one more. */
function fixedBatch(v: ValueInfoProto): boolean {
  const t = v.type?.value.case === 'tensorType' ? v.type.value.value : undefined;
  const d = t?.shape?.dim;
  return !!d && d.length >= 2 && d[0].value.case === 'dimValue';
}

/** The declaration with a symbolic batch dimension `N` in place of its fixed one. */
function openBatch(v: ValueInfoProto): ValueInfoProto {
  const t = v.type!.value.value as TypeProto_Tensor;
  const dim = [create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: 'N' } }), ...t.shape!.dim.slice(1)];
  return create(ValueInfoProtoSchema, {
    name: v.name,
    docString: v.docString,
    type: { value: { case: 'tensorType', value: { elemType: t.elemType, shape: { dim } } } },
  });
}

/** The declaration of the raw input: float32, the teacher's batch dimension, then the data's sample shape (or unknown dims). */
function rawInfo(name: string, old: ValueInfoProto, s: readonly number[] | undefined, rank: number): ValueInfoProto {
  const t = old.type?.value.case === 'tensorType' ? old.type.value.value : undefined;
  const batch = t?.shape?.dim[0] ?? create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: 'N' } });
  const rest = s
    ? s.map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } }))
    : new Array(rank - 1).fill(0).map(() => create(TensorShapeProto_DimensionSchema, {}));
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: 'tensorType', value: { elemType: DT.FLOAT, shape: { dim: [batch, ...rest] } } } },
  });
}

/** Appends the output conversion: the chosen output as `logits` (probabilities through a log). */
function adaptOutput(e: GraphEdit, a: ResolvedOutputAdapter, source: string, key: string): void {
  const outs = e.outputs.map((o) => o.name);
  const listed = outs.map((o) => `'${o}'`).join(', ');
  let chosen = a.name;
  if (chosen === undefined) {
    if (outs.length === 1) chosen = outs[0];
    else if (outs.includes('logits')) chosen = 'logits';
    else
      throw new KdError(
        'NO_LOGITS',
        `${source} has ${outs.length} outputs (${listed}) and none is named 'logits'; ` +
          `name the one with the class scores with ${key}.output.name`,
      );
  } else if (!outs.includes(chosen))
    throw new KdError(
      'UNKNOWN_OUTPUT',
      `${source} has no output named '${chosen}' (its outputs: ${listed}); set ${key}.output.name to one of them`,
    );
  if (chosen === 'logits' && a.kind !== 'probs') return;
  // Another value called `logits` (or the probabilities themselves) steps aside for the adapted output.
  if (e.has('logits')) {
    const moved = e.fresh(`logits_${a.kind}`);
    e.rename('logits', moved);
    if (chosen === 'logits') chosen = moved;
  }
  const from = chosen;
  const decl = e.outputs.find((o) => o.name === from)!;
  if (a.kind === 'probs') {
    // softmax(log p) = p; the clamp keeps a probability of 0 from becoming -Infinity (and NaN in a KL term).
    const clamped = e.node(e.after, 'Max', [from, e.constant('tiny', f32([1], [TINY]))], e.fresh('kdistill_adapt/clamped'));
    e.node(e.after, 'Log', [clamped], 'logits');
  } else e.node(e.after, 'Identity', [from], 'logits');
  e.outputs = e.outputs.map((o) => (o.name === from ? create(ValueInfoProtoSchema, { ...decl, name: 'logits' }) : o));
}
