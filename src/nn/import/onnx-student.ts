/**
 * `importOnnx`: an ONNX classifier (a PyTorch export, tf2onnx, kdistill's own export) as a trainable ModelDef.
 * Its build re-emits the file's nodes under their own names, so feature terms tap them by the names
 * `kdistill inspect` prints; float initializers become parameters starting from the file's values.
 */
import { AttributeProto_AttributeType as AT, type AttributeProto, type NodeProto } from 'onnx-buf/dist/onnx_pb.js';
import { Graph, type Value } from '../../graph/graph.js';
import * as op from '../../graph/ops.js';
import { parseOnnx, tensorFromProto } from '../../graph/onnx.js';
import type { Attr, Attrs, TensorData } from '../../graph/types.js';
import { declaredInputs } from '../../runtime/inference.js';
import { KdError } from '../../util/errors.js';
import type { BuildContext, InputSpec } from '../context.js';
import { Dropout } from '../layers/dropout.js';
import { batchNorm } from '../layers/norm.js';
import { emitModel, type ModelDef } from '../model.js';
import { freezeMatcher } from './freeze.js';
import { checkTrainable, isSupported, NON_PARAM_INPUTS } from './supported.js';

/** How `importOnnx` reads a file. */
export interface ImportOptions {
  /** Parameter or node name patterns whose parameters stay fixed (see `freezeMatcher` for the syntax). */
  freeze?: readonly string[];
  /** What the file is called in messages (its path). */
  source?: string;
  /** The model's name (default: the file's graph name, or 'student'). */
  name?: string;
}

/** The core's name of a model's input and class-score output; the file's own names are restored at export. */
const CORE_INPUT = 'x';
const CORE_OUTPUT = 'logits';

/** A node as kdistill emits it: ONNX attributes decoded, with the inputs an older opset gave as attributes. */
interface PlainNode {
  readonly name: string;
  readonly opType: string;
  readonly inputs: string[];
  readonly outputs: readonly string[];
  readonly attrs: Attrs;
  /** Integer inputs moved out of attributes (opset < 13/18 `axes`, `split`, Clip's bounds), by input position. */
  readonly extra: Map<number, TensorData>;
}

/**
 * Reads an ONNX classifier into a ModelDef that trains: one input (the samples, batch on axis 0), one output of
 * class scores [N, classes]. Refused with the file and node named: more inputs or outputs, an output that is not
 * class scores, custom or control-flow ops, and ops kdistill cannot differentiate where trainable weights feed them.
 */
export function importOnnx(bytes: Uint8Array, o: ImportOptions = {}): ModelDef {
  const source = o.source ?? 'ONNX student';
  const m = parseOnnx(bytes, source);
  const g = m.graph!;
  const opset = Number(m.opsetImport.find((s) => s.domain === '' || s.domain === 'ai.onnx')?.version ?? 18n);

  const inputs = declaredInputs(m);
  if (inputs.length !== 1)
    throw new KdError(
      'BAD_STUDENT',
      `${source} takes ${inputs.length} inputs (${inputs.map((i) => `'${i.name}'`).join(', ') || 'none'}); an imported student must take ` +
        'exactly one, the samples: export the model with one input tensor (fold the others into constants or the model)',
    );
  const input = inputs[0];
  if (g.output.length !== 1)
    throw new KdError(
      'BAD_STUDENT',
      `${source} has ${g.output.length} outputs (${g.output.map((x) => `'${x.name}'`).join(', ')}); an imported student must have ` +
        'one, its class scores [N, classes]: export only the logits',
    );
  const outputName = g.output[0].name;
  const spec = inputSpec(input, source);

  const inits = new Map<string, TensorData>();
  for (const t of g.initializer) inits.set(t.name, tensorFromProto(t));
  // PyTorch's exporter shares initializers of equal value through Identity nodes (a fresh BatchNorm's scales, shifts and
  // statistics can all read one tensor): each name gets its own copy, as the model had them.
  const aliases = new Set<NodeProto>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const n of g.node)
      if (n.opType === 'Identity' && !aliases.has(n) && inits.has(n.input[0]) && n.output[0] !== outputName) {
        inits.set(n.output[0], inits.get(n.input[0])!);
        aliases.add(n);
        grew = true;
      }
  }
  const nodes = g.node.filter((n) => !aliases.has(n)).map((n, i) => plainNode(n, i, opset, source));
  for (const n of nodes) if (!isSupported(n.opType)) unsupported(n, source);

  // Which float initializers are parameters (the rest, and every integer one, stay constants) and which are frozen.
  const frozenName = freezeMatcher(o.freeze ?? []);
  const readers = new Map<string, string[]>();
  const constantUse = new Set<string>();
  for (const n of nodes)
    n.inputs.forEach((name, i) => {
      if (!inits.has(name)) return;
      readers.set(name, [...(readers.get(name) ?? []), n.name]);
      if (NON_PARAM_INPUTS[n.opType]?.includes(i)) constantUse.add(name);
    });
  const isParam = (name: string) => inits.get(name)?.dtype === 'float32' && !constantUse.has(name);
  const frozen = (name: string) => frozenName(name) || (readers.get(name) ?? []).some(frozenName);
  // A pattern that matches nothing is a typo that would silently train what the user meant to keep fixed.
  for (const p of o.freeze ?? []) {
    const hit = freezeMatcher([p]);
    const params = [...readers.keys()].filter(isParam);
    if (!params.some((q) => hit(q) || readers.get(q)!.some(hit)))
      throw new KdError(
        'BAD_FREEZE',
        `${source}: freeze pattern '${p}' matches no parameter and no node reading one (parameters: ` +
          `${params.slice(0, 6).join(', ')}${params.length > 6 ? ', …' : ''}); '*' matches any run of characters, '?' one`,
      );
  }
  // Values of Constant nodes, for the settings the importer reads itself (Dropout's ratio).
  const constants = new Map<string, TensorData>();
  for (const n of nodes) if (n.opType === 'Constant' && n.attrs.value?.kind === 'tensor') constants.set(n.outputs[0], n.attrs.value.value);
  const read = new Set([...nodes.flatMap((n) => n.inputs), outputName]);
  checkTrainable(nodes, (name) => isParam(name) && !frozen(name), source);

  const def: ModelDef = {
    name: o.name ?? (g.name && g.name !== 'main_graph' && g.name !== 'torch_jit' ? g.name : 'student'),
    inputs: { [CORE_INPUT]: spec },
    ioNames: { [CORE_INPUT]: input.name, [CORE_OUTPUT]: outputName },
    forward(ctx, ins) {
      const vals = new Map<string, Value>([[input.name, ins[CORE_INPUT]]]);
      const fileValue = (name: string, reader: PlainNode): Value => {
        const seen = vals.get(name);
        if (seen) return seen;
        const t = inits.get(name);
        if (!t) throw new KdError('BAD_ONNX', `${source}: node '${reader.name}' reads '${name}', which no earlier node produces`);
        const v = isParam(name)
          ? (frozen(name) ? ctx.buffer : ctx.param).call(ctx, name, t.shape, { kind: 'values', data: t.data as Float32Array })
          : ctx.g.initializer(name, t);
        vals.set(name, v);
        return v;
      };
      // The class scores are made under the core's name directly, so export can give them back the file's; an inner
      // value that has the core input's name (a teacher input `x` behind an adapter) steps aside for it.
      const valueName = (v: string) => (v === outputName ? CORE_OUTPUT : v === CORE_INPUT ? `${CORE_INPUT}/${source}` : v);
      for (const n of nodes) emitNode(ctx, n, fileValue, vals, inits, frozen, read, valueName, constants, source);
      const out = vals.get(outputName);
      if (!out) throw new KdError('BAD_ONNX', `${source}: no node produces the output '${outputName}'`);
      checkScores(out, outputName, source);
      return { [CORE_OUTPUT]: out.name === CORE_OUTPUT ? out : op.identity(out, CORE_OUTPUT) };
    },
  };
  // Built once now, so a shape the file's ops cannot take is refused at import, with the file named.
  try {
    emitModel(def, new Graph(def.name), 'train');
  } catch (e) {
    if (e instanceof KdError && !e.message.startsWith(source)) throw new KdError(e.code, `${source}: ${e.message}`);
    throw e;
  }
  return def;
}

/**
 * Refuses an imported student that does not fit the run's data: its input must take the data's samples and its
 * scores must have one column per class. Checked when a run is planned, before any training.
 */
export function checkStudentFits(def: ModelDef, sampleShape: readonly number[], classes: number, source: string): void {
  const spec = def.inputs[CORE_INPUT];
  const own = def.ioNames?.[CORE_INPUT] ?? CORE_INPUT;
  const takes = spec.shape.slice(1);
  if (takes.length !== sampleShape.length || takes.some((d, i) => d !== sampleShape[i]))
    throw new KdError(
      'SHAPE_MISMATCH',
      `${source} takes input '${own}' as [${spec.shape.join(', ')}], but the data's samples are [${sampleShape.join(', ')}]; ` +
        'export the student for this data (same channels and size)',
    );
  const out = emitModel(def, new Graph(def.name), 'eval').outputs[CORE_OUTPUT];
  if (out.shape[1] !== classes)
    throw new KdError(
      'SHAPE_MISMATCH',
      `${source} predicts ${out.shape[1]} classes (output '${def.ioNames?.[CORE_OUTPUT] ?? CORE_OUTPUT}' [${out.shape.join(', ')}]), ` +
        `but the data has ${classes}; export the student with a head of ${classes} classes`,
    );
}

/** The model's input as the core declares it: batch symbolic on axis 0, the rest fixed. */
function inputSpec(i: ReturnType<typeof declaredInputs>[number], source: string): InputSpec {
  if (i.dtype !== 'float32' && i.dtype !== 'int64')
    throw new KdError(
      'BAD_STUDENT',
      `${source}: input '${i.name}' is ${i.dtype ?? 'untyped'}; an imported student takes float32 (or int64 ids)`,
    );
  const dims = i.dims ?? [];
  if (dims.length < 2 || dims.slice(1).some((d) => typeof d !== 'number'))
    throw new KdError(
      'BAD_STUDENT',
      `${source}: input '${i.name}' is [${dims.join(', ')}]; an imported student needs the batch on axis 0 and fixed sizes ` +
        'for the rest (export with dynamic_axes on the batch only)',
    );
  return { dtype: i.dtype, shape: ['N', ...(dims.slice(1) as number[])] };
}

/** The output must be class scores [N, classes]. */
function checkScores(v: Value, name: string, source: string): void {
  const s = v.shape;
  if (v.dtype !== 'float32' || s.length !== 2 || s[0] !== 'N' || typeof s[1] !== 'number' || s[1] < 2)
    throw new KdError(
      'BAD_STUDENT',
      `${source}: output '${name}' is ${v.dtype}[${s.join(', ')}] per batch N; an imported student's output must be class scores ` +
        '[N, classes] (logits, float32, at least 2 classes): export the classifier head, not features, probabilities ' +
        'of one class or a map' +
        (typeof s[0] === 'number'
          ? `; its batch size is fixed at ${s[0]}: export with dynamic_axes on axis 0 of the input and output`
          : ''),
    );
}

function unsupported(n: PlainNode, source: string): never {
  throw new KdError(
    'UNSUPPORTED_OP',
    `${source}: node '${n.name}' is a ${n.opType}, an op kdistill cannot build or train; export the model without it ` +
      '(replace the layer by supported ops) or file the op as an issue',
  );
}

/** Decodes a NodeProto; a custom-domain op or an attribute kdistill does not read is refused here. */
function plainNode(n: NodeProto, i: number, opset: number, source: string): PlainNode {
  const name = n.name || `${n.opType}_${i}`;
  if (n.domain !== '' && n.domain !== 'ai.onnx')
    throw new KdError(
      'UNSUPPORTED_OP',
      `${source}: node '${name}' is ${n.opType} of domain '${n.domain}', a custom op kdistill cannot build or train; ` +
        'export the model with standard ONNX ops only, or file the op as an issue',
    );
  const attrs: Attrs = {};
  for (const a of n.attribute) attrs[a.name] = attrOf(a, name, n.opType, source);
  const node: PlainNode = { name, opType: n.opType, inputs: [...n.input], outputs: [...n.output], attrs, extra: new Map() };
  upgrade(node, opset);
  return node;
}

function attrOf(a: AttributeProto, node: string, opType: string, source: string): Attr {
  switch (a.type) {
    case AT.INT:
      return { kind: 'int', value: Number(a.i) };
    case AT.FLOAT:
      return { kind: 'float', value: a.f };
    case AT.INTS:
      return { kind: 'ints', value: a.ints.map(Number) };
    case AT.FLOATS:
      return { kind: 'floats', value: [...a.floats] };
    case AT.STRING:
      return { kind: 'string', value: new TextDecoder().decode(a.s) };
    case AT.TENSOR:
      return { kind: 'tensor', value: tensorFromProto(a.t!) };
    default:
      throw new KdError(
        'UNSUPPORTED_OP',
        `${source}: node '${node}' (${opType}) has attribute '${a.name}' of a kind kdistill does not read (subgraphs, sparse tensors); ` +
          'export the model without control flow, or file the op as an issue',
      );
  }
}

/** Attribute-to-input changes between the file's opset and the opset-18 form kdistill emits and exports. */
function upgrade(n: PlainNode, opset: number): void {
  const toInput = (attr: string, at: number, dtype: 'int64' | 'float32' = 'int64') => {
    const a = n.attrs[attr];
    if (!a) return;
    const v = a.kind === 'ints' || a.kind === 'floats' ? a.value : a.kind === 'int' || a.kind === 'float' ? [a.value] : [];
    const shape = a.kind === 'ints' || a.kind === 'floats' ? [v.length] : [];
    delete n.attrs[attr];
    while (n.inputs.length <= at) n.inputs.push('');
    n.extra.set(at, dtype === 'int64' ? op.i64(v, shape) : op.f32(v, shape));
  };
  const reduce = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare'];
  if (opset < 18 && reduce.includes(n.opType)) toInput('axes', 1);
  if (opset < 13 && ['ReduceSum', 'Squeeze', 'Unsqueeze'].includes(n.opType)) toInput('axes', 1);
  if (opset < 13 && n.opType === 'Split') toInput('split', 1);
  if (opset < 11 && n.opType === 'Clip') {
    toInput('min', 1, 'float32');
    toInput('max', 2, 'float32');
  }
  if (opset < 11 && n.opType === 'Pad') toInput('pads', 1);
}

/** Emits one file node under its own name; BatchNormalization becomes the BatchNorm layer's computation. */
function emitNode(
  ctx: BuildContext,
  n: PlainNode,
  fileValue: (name: string, reader: PlainNode) => Value,
  vals: Map<string, Value>,
  inits: ReadonlyMap<string, TensorData>,
  frozen: (name: string) => boolean,
  read: ReadonlySet<string>,
  valueName: (fileName: string) => string,
  constants: ReadonlyMap<string, TensorData>,
  source: string,
): void {
  const g = ctx.g;
  // kdistill's own exports name a single-output node and its value alike, which `Graph.node` does by itself.
  const sameName = n.outputs.length === 1 && valueName(n.outputs[0]) === n.name;
  const consumed = (k: number) => n.outputs[k] !== undefined && n.outputs[k] !== '' && read.has(n.outputs[k]);
  if (n.opType === 'Dropout') {
    // The Dropout layer (seeded masks, the identity in eval mode) at the file's ratio: an attribute before
    // opset 12, then a constant input (PyTorch: a Constant node); its mask output is not supported.
    if (consumed(1)) noExtraOutputs(n, source);
    const attr = n.attrs.ratio?.kind === 'float' ? n.attrs.ratio.value : undefined;
    const given = n.inputs[1] ? (inits.get(n.inputs[1]) ?? constants.get(n.inputs[1])) : undefined;
    const rate = attr ?? (given ? Number(given.data[0]) : 0.5);
    vals.set(n.outputs[0], new Dropout(n.name, rate).apply(ctx, fileValue(n.inputs[0], n)));
    return;
  }
  if (n.opType === 'BatchNormalization') {
    const [xName, w, b, mean, variance] = n.inputs;
    for (const p of [w, b, mean, variance])
      if (inits.get(p)?.dtype !== 'float32')
        throw new KdError(
          'UNSUPPORTED_OP',
          `${source}: BatchNormalization node '${n.name}' takes '${p}' from a computation; kdistill trains BatchNorm whose scale, shift ` +
            'and running statistics are initializers (export with do_constant_folding)',
        );
    const x = fileValue(xName, n);
    const data = (p: string) => inits.get(p)!.data as Float32Array;
    const eps = n.attrs.epsilon?.kind === 'float' ? n.attrs.epsilon.value : 1e-5;
    // ONNX momentum weighs the old running value (PyTorch exports 1 - its momentum).
    const onnxMomentum = n.attrs.momentum?.kind === 'float' ? n.attrs.momentum.value : 0.9;
    const y = batchNorm(ctx, x, {
      channels: data(w).length,
      eps,
      momentum: 1 - onnxMomentum,
      names: {
        weight: w,
        bias: b,
        mean,
        var: variance,
        out: n.name,
        outValue: sameName ? undefined : valueName(n.outputs[0]),
        inner: n.name,
      },
      init: {
        weight: { kind: 'values', data: data(w) },
        bias: { kind: 'values', data: data(b) },
        mean: { kind: 'values', data: data(mean) },
        var: { kind: 'values', data: data(variance) },
      },
      frozen: frozen(w) && frozen(b),
    });
    // Training-mode exports list the updated statistics as outputs: kdistill keeps them as the BN's buffers instead.
    for (let k = 1; k < n.outputs.length; k++) if (consumed(k)) noExtraOutputs(n, source);
    vals.set(n.outputs[0], y);
    return;
  }
  const ins = n.inputs.map((name, i): Value | string => {
    const extra = n.extra.get(i);
    if (extra) return g.initializer(`${n.name}/${i}`, extra);
    return name === '' ? '' : fileValue(name, n);
  });
  // Outputs keep the file's value names (what `kdistill inspect` lists), the nodes their node names; absent
  // optional outputs get placeholder names.
  const outNames = n.outputs.map((o, k) => (o === '' ? `${n.name}:${k}` : valueName(o)));
  const outs = g.node(n.opType, ins, n.attrs, { name: n.name, outNames: sameName ? undefined : outNames });
  n.outputs.forEach((o, k) => {
    if (o !== '') vals.set(o, outs[k]);
  });
}

function noExtraOutputs(n: PlainNode, source: string): never {
  throw new KdError(
    'UNSUPPORTED_OP',
    `${source}: node '${n.name}' (${n.opType}) has a second output that other nodes read; kdistill supports only its main output here`,
  );
}
