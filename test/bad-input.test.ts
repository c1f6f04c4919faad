/**
 * Bad inputs beyond the config schema (test/config.test.ts has those): broken ONNX files, models that do
 * not fit the data or each other, ops the autodiff cannot differentiate, broken data files, labels out of
 * range, empty datasets, checkpoints on a full disk and corrupt checkpoints. Each case must end in a
 * KdError with a stable code and a message that names the culprit and the fix; a handful go through the
 * CLI to check exit code 2 (1 for bad syntax) and that no stack trace is printed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema } from 'onnx-buf/dist/onnx_pb.js';
import { PNG } from 'pngjs';
import { gradients } from '../src/autodiff/gradients.js';
import { gradRule } from '../src/autodiff/rule.js';
import { batches, checkLabels, type Dataset } from '../src/data/index.js';
import { loadCsv, loadImageFolder, loadJsonl } from '../src/data/node/index.js';
import { Distiller } from '../src/frontends/distiller.js';
import { prepareTeacher } from '../src/distill/teachers/prepare.js';
import { Graph } from '../src/graph/graph.js';
import { parseOnnx, toOnnx } from '../src/graph/onnx.js';
import * as op from '../src/graph/ops.js';
import { Linear } from '../src/nn/layers/linear.js';
import { Model, type ModelDef } from '../src/nn/model.js';
import { cnn, mlp, zooModel } from '../src/nn/zoo/index.js';
import { loadCheckpoint, saveCheckpoint } from '../src/runtime/checkpoint.js';
import { exportOnnx, Predictor } from '../src/runtime/inference.js';
import { checkClassifierStep, evaluateClassifier, fitClassifier } from '../src/train/classifier.js';
import { KdError } from '../src/util/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-bad-input-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(rel: string, content: string | Uint8Array): string {
  const file = path.join(tmp, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}
function png(rel: string, w: number, h: number): string {
  const img = new PNG({ width: w, height: h });
  img.data = Buffer.alloc(w * h * 4, 200);
  return write(rel, PNG.sync.write(img));
}
/** An error as Node's fs raises it (what a full or read-only disk looks like to writeAtomic). */
function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall });
}

// ---- fixtures: tiny models (a few hundred parameters) so every case runs in milliseconds ----

/** Teacher for 4 features and 3 classes, exported as a user would hand it over. */
const mlpTeacher = new Model(mlp([4, 8, 3], { inputShape: [4] }), 1);
const mlpBytes = exportOnnx(mlpTeacher);
const mlpFile = write('teacher.onnx', mlpBytes);
/** CNN teacher and student on 1×8×8 images: block1/relu is 8×8, block2/relu 4×4, block2/pool 2×2. */
const imgShape = [1, 8, 8] as [number, number, number];
const cnnBytes = exportOnnx(new Model(cnn([4, 8], { inputShape: imgShape, classes: 3 }), 1));
const cnnStudent = () => new Model(cnn([2, 4], { inputShape: imgShape, classes: 3 }), 0);
const kd = [
  { method: 'ce', weight: 0.5 },
  { method: 'kd', weight: 0.5 },
];
const pair = (method: string, teacherNode: string, studentNode: string) => [
  { method: 'ce', weight: 1 },
  { method, weight: 1, options: { teacherNode, studentNode } },
];

/** A model whose ONNX has no 'logits' output: scores under another name. */
const noLogits = (() => {
  const g = new Graph('scores-only');
  g.output(op.relu(g.input('x', 'float32', ['N', 4]), 'scores'));
  return toOnnx(g);
})();
/** A model with two run-time inputs, which a classifier teacher cannot be. */
const twoInputs = (() => {
  const g = new Graph('two');
  g.output(op.add(g.input('a', 'float32', ['N', 4]), g.input('b', 'float32', ['N', 4]), 'logits'));
  return toOnnx(g);
})();
/** A well-formed ONNX file with an op ONNX Runtime does not know (as from a newer or custom exporter). */
const unknownOp = (() => {
  const m = parseOnnx(mlpBytes);
  m.graph!.node[0].opType = 'FancyGemm';
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, m));
})();
/** Bytes that are valid protobuf, even ONNX, but not a model: the GraphProto alone, as some tools save it. */
const notAModel = toBinary(GraphProtoSchema, parseOnnx(mlpBytes).graph!);
let seed = 7;
const randomBytes = Uint8Array.from({ length: 4096 }, () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed >>> 24;
});

/**
 * A unary op with shape inference but no gradient rule. Chosen at run time from a few candidates, so the
 * case keeps testing the missing-rule path when one of them gets a rule later.
 */
const noGradOp = ['Cos', 'Sin', 'Clip', 'Gelu'].find((o) => !gradRule(o))!;
/** A model with a `noGradOp` node (node 'feat/odd') between two linear layers. */
const oddModel: ModelDef = {
  name: 'mlp-with-odd-op',
  inputs: { x: { dtype: 'float32', shape: ['N', 4] } },
  forward(ctx, { x }) {
    const h = new Linear('fc1', 4, 8).apply(ctx, x);
    const c = x.graph.scoped('feat', () => x.graph.node(noGradOp, [h], {}, { name: 'odd' })[0]);
    return { logits: op.identity(new Linear('fc2', 8, 3).apply(ctx, c), 'logits') };
  },
};

/** A hand-made tabular dataset. */
function table(name: string, labels: number[], features = 4): Dataset {
  return {
    name,
    kind: 'tabular',
    x: new Float32Array(labels.length * features),
    y: Int32Array.from(labels),
    n: labels.length,
    sampleShape: [features],
    numClasses: 3,
  };
}

// ---- data files ----
png('img-mixed/a/1.png', 4, 4);
png('img-mixed/b/1.png', 5, 4);
mkdirSync(path.join(tmp, 'img-empty'), { recursive: true });
write('img-noclass/readme.txt', 'images go in one folder per class');
png('img-noimages/a/1.png', 4, 4);
write('img-noimages/b/notes.txt', 'no images here');
png('img-garbage/a/1.png', 4, 4);
write('img-garbage/b/1.png', 'this is text, not a PNG');
png('img-truncated/a/1.png', 4, 4);
write(
  'img-truncated/b/1.png',
  PNG.sync.write(Object.assign(new PNG({ width: 4, height: 4 }), { data: Buffer.alloc(64, 9) })).subarray(0, 40),
);
const csv = (rel: string, text: string) => write(rel, text);
csv('ok.csv', 'a,b,c,d,label\n0,1,2,3,0\n1,2,3,4,1\n2,3,4,5,4\n');

// ---- checkpoints ----
const ckFile = path.join(tmp, 'ck', 'student-last.ckpt');
mkdirSync(path.dirname(ckFile), { recursive: true });
const ckBytes = () => readFileSync(ckFile);

interface Case {
  readonly name: string;
  readonly code: string;
  /** Fragments the message must contain (strings literally, or patterns). */
  readonly expect: readonly (string | RegExp)[];
  readonly run: () => unknown;
}

const corpus: Case[] = [
  // -- teacher ONNX files --
  {
    name: 'teacher file missing',
    code: 'MISSING_FILE',
    expect: ['cannot read teacher', 'nowhere.onnx', 'ENOENT'],
    run: () =>
      new Distiller({ teacher: path.join(tmp, 'nowhere.onnx'), student: new Model(mlp([4, 4, 3], { inputShape: [4] })), loss: kd }),
  },
  {
    name: 'teacher file empty',
    code: 'BAD_ONNX',
    expect: ['empty.onnx is empty (0 bytes)'],
    run: () => prepareTeacher(new Uint8Array(0), kd, 'empty.onnx', [4], 3),
  },
  {
    name: 'teacher file truncated',
    code: 'BAD_ONNX',
    expect: ['half.onnx is not a valid ONNX file', 'truncated'],
    run: () => prepareTeacher(mlpBytes.subarray(0, mlpBytes.length >> 1), kd, 'half.onnx', [4], 3),
  },
  {
    name: 'teacher file cut by one byte',
    code: 'BAD_ONNX',
    expect: ['cut.onnx is not a valid ONNX file'],
    run: () => prepareTeacher(mlpBytes.subarray(0, mlpBytes.length - 1), kd, 'cut.onnx', [4], 3),
  },
  {
    name: 'teacher file of random bytes',
    code: 'BAD_ONNX',
    expect: ['random.onnx is not a valid ONNX file', 'different format'],
    run: () => prepareTeacher(randomBytes, kd, 'random.onnx', [4], 3),
  },
  {
    name: 'teacher file is text (a config)',
    code: 'BAD_ONNX',
    expect: ['exp.yaml is not a valid ONNX file'],
    run: () => prepareTeacher(new TextEncoder().encode('teacher:\n  model: cnn-8-16\n'), kd, 'exp.yaml', [4], 3),
  },
  {
    name: 'teacher file is protobuf but not a model',
    code: 'BAD_ONNX',
    expect: [/graph\.pb (is not a valid ONNX file|has no graph)/],
    run: () => prepareTeacher(notAModel, kd, 'graph.pb', [4], 3),
  },
  {
    name: 'teacher without a logits output',
    code: 'NO_LOGITS',
    expect: ["scores.onnx has no output named 'logits'", 'its outputs: scores', "class scores named 'logits'"],
    run: () => prepareTeacher(noLogits, kd, 'scores.onnx', [4], 3),
  },
  {
    name: 'teacher input size differs from the data',
    code: 'SHAPE_MISMATCH',
    expect: [
      "t.onnx does not run on one sample of shape [1, 5]: it takes input 'x' as float32[N, 4]",
      'samples of [4]',
      "data's samples are [5]",
      'trained on this data',
    ],
    run: () => prepareTeacher(mlpBytes, kd, 't.onnx', [5], 3),
  },
  {
    name: 'teacher input rank differs from the data',
    code: 'SHAPE_MISMATCH',
    expect: ["data's samples are [1, 2, 2]", 'the layouts differ'],
    run: () => prepareTeacher(mlpBytes, kd, 't.onnx', [1, 2, 2], 3),
  },
  {
    name: 'teacher class count differs from the data',
    code: 'SHAPE_MISMATCH',
    expect: ['t.onnx predicts 3 classes', 'the student and data have 5'],
    run: () => prepareTeacher(mlpBytes, kd, 't.onnx', [4], 5),
  },
  {
    name: 'teacher with two inputs',
    code: 'BAD_MODEL',
    expect: ['two.onnx must take exactly one input', "'a' float32[N, 4], 'b'"],
    run: () => prepareTeacher(twoInputs, kd, 'two.onnx', [4], 4),
  },
  {
    name: 'teacher with an op ONNX Runtime lacks',
    code: 'BAD_ONNX',
    expect: ['ONNX Runtime cannot load fancy.onnx', 'FancyGemm'],
    run: () => prepareTeacher(unknownOp, kd, 'fancy.onnx', [4], 3),
  },
  {
    name: 'teacher feature node that does not exist',
    code: 'UNKNOWN_NODE',
    expect: ["tc.onnx has no node output named 'block9/relu'", 'similar: block1/relu', 'kdistill inspect'],
    run: () => prepareTeacher(cnnBytes, pair('at', 'block9/relu', 'block1/relu'), 'tc.onnx', imgShape, 3),
  },

  // -- student models and ONNX files run as students / for evaluation --
  {
    name: 'student feature node that does not exist',
    code: 'UNKNOWN_NODE',
    expect: ["student 'cnn-2-4' has no node 'block3/relu'", 'block2/relu'],
    run: async () =>
      checkClassifierStep(cnnStudent(), pair('at', 'block1/relu', 'block3/relu'), [
        {
          name: 'teacher',
          shapes: (await prepareTeacher(cnnBytes, pair('at', 'block1/relu', 'block3/relu'), 'tc.onnx', imgShape, 3)).shapes,
        },
      ]),
  },
  {
    name: 'at between maps of different resolution',
    code: 'SHAPE_MISMATCH',
    expect: ["at: student node 'block2/relu' is 4×4 spatially", "teacher node 'block1/relu' is 8×8", 'pick nodes of the same resolution'],
    run: async () =>
      checkClassifierStep(cnnStudent(), pair('at', 'block1/relu', 'block2/relu'), [
        {
          name: 'teacher',
          shapes: (await prepareTeacher(cnnBytes, pair('at', 'block1/relu', 'block2/relu'), 'tc.onnx', imgShape, 3)).shapes,
        },
      ]),
  },
  {
    name: 'fitnets regressor cannot map the sizes',
    code: 'SHAPE_MISMATCH',
    expect: ["student node 'block2/pool' is [N, 4, 2, 2]", "teacher node 'block1/relu' is [N, 4, 8, 8]", '1×1 conv', 'stride-2'],
    run: async () =>
      checkClassifierStep(cnnStudent(), pair('fitnets', 'block1/relu', 'block2/pool'), [
        {
          name: 'teacher',
          shapes: (await prepareTeacher(cnnBytes, pair('fitnets', 'block1/relu', 'block2/pool'), 'tc.onnx', imgShape, 3)).shapes,
        },
      ]),
  },
  {
    name: 'fitnets between a flat and a map feature',
    code: 'SHAPE_MISMATCH',
    expect: ["student node 'flatten' [N, 16]", "teacher node 'block1/relu' [N, 4, 8, 8]", 'both be feature maps'],
    run: async () =>
      checkClassifierStep(cnnStudent(), pair('fitnets', 'block1/relu', 'flatten'), [
        {
          name: 'teacher',
          shapes: (await prepareTeacher(cnnBytes, pair('fitnets', 'block1/relu', 'flatten'), 'tc.onnx', imgShape, 3)).shapes,
        },
      ]),
  },
  {
    name: 'op the autodiff cannot differentiate (training step)',
    code: 'NO_GRADIENT',
    expect: [`op '${noGradOp}'`, "node 'feat/odd'", 'no gradient rule'],
    run: () => checkClassifierStep(new Model(oddModel), [{ method: 'ce', weight: 1 }]),
  },
  {
    name: 'op the autodiff cannot differentiate (own graph)',
    code: 'NO_GRADIENT',
    expect: [`op '${noGradOp}'`, "node 'head/odd'"],
    run: () => {
      const g = new Graph('own');
      const w = g.input('w', 'float32', [3]);
      const c = g.scoped('head', () => g.node(noGradOp, [w], {}, { name: 'odd' })[0]);
      return gradients(op.reduceSum(c, [0], false), [w]);
    },
  },
  {
    name: 'zoo student that does not fit the data',
    code: 'SHAPE_MISMATCH',
    expect: ["model 'mlp-784-16-10' maps 784 inputs to 10 classes", '4 inputs per sample and 3 classes', 'try mlp-4-16-3'],
    run: () => zooModel('mlp-784-16-10', [4], 3),
  },
  {
    name: 'ONNX model evaluated on data of another shape',
    code: 'SHAPE_MISMATCH',
    expect: ["t.onnx takes input 'x' as float32[N, 4], but was given float32[2, 1, 2, 2]", 'another dataset'],
    run: async () => {
      const p = await Predictor.fromBytes(mlpBytes, { threads: 1 }, 't.onnx');
      return evaluateClassifier(p, { ...table('imgs', [0, 1]), sampleShape: [1, 2, 2] }).finally(() => p.release());
    },
  },
  {
    name: 'ONNX model given token ids instead of floats',
    code: 'SHAPE_MISMATCH',
    expect: ["takes input 'x' as float32[N, 4], but was given int64[2, 4]"],
    run: async () => {
      const p = await Predictor.fromBytes(mlpBytes, { threads: 1 }, 't.onnx');
      return evaluateClassifier(p, { ...table('text', [0, 1]), kind: 'text', ids: new Int32Array(8) }).finally(() => p.release());
    },
  },
  {
    name: 'ONNX model with two inputs as a predictor',
    code: 'BAD_MODEL',
    expect: ["two.onnx has 'a', 'b'"],
    run: () => Predictor.fromBytes(twoInputs, {}, 'two.onnx'),
  },
  {
    name: 'ONNX model with an op ONNX Runtime lacks as a predictor',
    code: 'BAD_ONNX',
    expect: ['ONNX Runtime cannot load fancy.onnx', 'FancyGemm'],
    run: () => Predictor.fromBytes(unknownOp, { threads: 1 }, 'fancy.onnx'),
  },
  {
    name: 'weights of another model loaded into a student',
    code: 'SHAPE_MISMATCH',
    expect: ["parameter 'fc1/weight' has 32 values", "model 'mlp-4-16-3' expects [4, 16]"],
    run: () => {
      const f = path.join(tmp, 'mlp-4-8-3.ckpt');
      saveCheckpoint(f, { meta: {}, tensors: mlpTeacher.values });
      new Model(mlp([4, 16, 3], { inputShape: [4] })).load(loadCheckpoint(f).tensors, f);
    },
  },

  // -- image folders --
  {
    name: 'image folder missing',
    code: 'DATASET_MISSING',
    expect: ['img-none does not exist'],
    run: () => loadImageFolder(path.join(tmp, 'img-none')),
  },
  {
    name: 'image folder empty',
    code: 'DATASET_INVALID',
    expect: ['img-empty has no class subfolders', 'one folder per class'],
    run: () => loadImageFolder(path.join(tmp, 'img-empty')),
  },
  {
    name: 'image folder with files but no class folders',
    code: 'DATASET_INVALID',
    expect: ['img-noclass has no class subfolders'],
    run: () => loadImageFolder(path.join(tmp, 'img-noclass')),
  },
  {
    name: 'class folder without images',
    code: 'DATASET_INVALID',
    expect: [`${path.join('img-noimages', 'b')} has no images`, '.png'],
    run: () => loadImageFolder(path.join(tmp, 'img-noimages')),
  },
  {
    name: 'image that is not an image',
    code: 'DATASET_CORRUPT',
    expect: [`${path.join('img-garbage', 'b', '1.png')} cannot be decoded`, 'neither PNG nor JPEG'],
    run: () => loadImageFolder(path.join(tmp, 'img-garbage')),
  },
  {
    name: 'truncated PNG',
    code: 'DATASET_CORRUPT',
    expect: [`${path.join('img-truncated', 'b', '1.png')} cannot be decoded as PNG (truncated or corrupt file?)`, 'Remove or replace it'],
    run: () => loadImageFolder(path.join(tmp, 'img-truncated')),
  },
  {
    name: 'images of mixed sizes',
    code: 'DATASET_INVALID',
    expect: ['is 5x4 but', 'is 4x4', 'pass size: [height, width]'],
    run: () => loadImageFolder(path.join(tmp, 'img-mixed')),
  },

  // -- CSV --
  {
    name: 'CSV file missing',
    code: 'DATASET_MISSING',
    expect: ['none.csv cannot be read', 'ENOENT'],
    run: () => loadCsv(path.join(tmp, 'none.csv')),
  },
  {
    name: 'CSV without the label column',
    code: 'BAD_ARGUMENT',
    expect: ["no label column 'class'", "'a', 'b', 'c', 'd', 'label'"],
    run: () => loadCsv(path.join(tmp, 'ok.csv'), { label: 'class' }),
  },
  {
    name: 'CSV with a non-numeric cell',
    code: 'DATASET_INVALID',
    expect: ["cell.csv line 3, column 2 ('b'): 'n/a' is not a number"],
    run: () => loadCsv(csv('cell.csv', 'a,b,label\n1,2,0\n3,n/a,1\n')),
  },
  {
    name: 'CSV with a ragged row',
    code: 'DATASET_INVALID',
    expect: ['ragged.csv line 3: 2 columns, expected 3 as in the header'],
    run: () => loadCsv(csv('ragged.csv', 'a,b,label\n1,2,0\n3,1\n')),
  },
  {
    name: 'CSV with only a header',
    code: 'DATASET_INVALID',
    expect: ['head.csv has no data rows'],
    run: () => loadCsv(csv('head.csv', 'a,b,label\n')),
  },
  {
    name: 'CSV with an unclosed quote',
    code: 'DATASET_INVALID',
    expect: ['quote.csv line 3: a quoted field is never closed'],
    run: () => loadCsv(csv('quote.csv', 'a,b,label\n1,2,0\n"3,4,1\n')),
  },
  {
    name: 'CSV label not among the training classes',
    code: 'DATASET_INVALID',
    expect: ["label 'bird' is not one of the classes [cat, dog]"],
    run: () => loadCsv(csv('bird.csv', 'a,label\n1,cat\n2,bird\n'), { classNames: ['cat', 'dog'] }),
  },
  {
    name: "CSV labels beyond the model's classes",
    code: 'BAD_LABELS',
    expect: [
      "dataset 'ok.csv': sample 2 has label 4",
      "outside the model's classes 0 to 2",
      '1 of 3 samples',
      'use a model with 5 classes',
    ],
    run: () => checkLabels(loadCsv(path.join(tmp, 'ok.csv')), 3),
  },

  // -- JSONL --
  {
    name: 'JSONL with a bad JSON line',
    code: 'DATASET_INVALID',
    expect: ['bad.jsonl line 2: invalid JSON'],
    run: () => loadJsonl(write('bad.jsonl', '{"text": "fine", "label": "a"}\n{"text": "oops", label: b}\n')),
  },
  {
    name: 'JSONL without the text field',
    code: 'DATASET_INVALID',
    expect: ["notext.jsonl line 1: missing text field 'text'"],
    run: () => loadJsonl(write('notext.jsonl', '{"body": "hi", "label": "a"}\n')),
  },
  {
    name: 'JSONL line that is not an object',
    code: 'DATASET_INVALID',
    expect: ['array.jsonl line 1: expected a JSON object'],
    run: () => loadJsonl(write('array.jsonl', '["hi", "a"]\n')),
  },
  {
    name: 'JSONL without records',
    code: 'DATASET_INVALID',
    expect: ['blank.jsonl has no records'],
    run: () => loadJsonl(write('blank.jsonl', '\n\n')),
  },

  // -- labels and empty datasets --
  {
    name: 'negative label',
    code: 'BAD_LABELS',
    expect: ["dataset 'neg': sample 1 has label -1", 'class indices from 0'],
    run: () => checkLabels(table('neg', [0, -1, 2]), 3),
  },
  {
    name: 'empty dataset (label check)',
    code: 'EMPTY_DATASET',
    expect: ["dataset 'nothing' is empty (0 samples)"],
    run: () => checkLabels(table('nothing', []), 3),
  },
  {
    name: 'empty dataset (batches)',
    code: 'EMPTY_DATASET',
    expect: ["dataset 'nothing' is empty (0 samples)"],
    run: () => batches(table('nothing', []), { batchSize: 8 }),
  },
  {
    name: 'empty dataset (training)',
    code: 'EMPTY_DATASET',
    expect: ["dataset 'nothing' is empty"],
    run: () =>
      fitClassifier(new Model(mlp([4, 4, 3], { inputShape: [4] })), table('nothing', []), { epochs: 1, threads: 1, stepsPerRun: 1 }),
  },

  // -- checkpoints: full disk, read-only, missing directory, corrupt files --
  {
    name: 'checkpoint on a full disk keeps the previous one',
    code: 'DISK_FULL',
    expect: [`cannot write checkpoint ${ckFile}: the disk is full (ENOSPC)`, 'previous checkpoint at that path is kept unchanged'],
    run: () => {
      saveCheckpoint(ckFile, { meta: { step: 1 }, tensors: new Map([['w', new Float32Array([1, 2, 3])]]) });
      const before = ckBytes();
      let written = 0;
      try {
        // The first chunk goes through, then the disk fills up: the temporary file is torn, the checkpoint must not be.
        saveCheckpoint(
          ckFile,
          { meta: { step: 2 }, tensors: new Map([['w', new Float32Array([4, 5, 6])]]) },
          {
            io: {
              writeSync: (_fd, _b, _o, len) => {
                if (written++ > 0) throw errno('ENOSPC', 'write');
                return len;
              },
            },
          },
        );
      } finally {
        assert.deepEqual(ckBytes(), before, 'the earlier checkpoint changed');
        assert.deepEqual([...loadCheckpoint(ckFile).tensors.get('w')!], [1, 2, 3]);
        assert.deepEqual(readdirSync(path.dirname(ckFile)), ['student-last.ckpt'], 'a temporary file was left behind');
      }
    },
  },
  {
    name: 'checkpoint over quota',
    code: 'DISK_FULL',
    expect: ['the disk is full (EDQUOT)'],
    run: () =>
      saveCheckpoint(
        ckFile,
        { meta: {}, tensors: new Map() },
        {
          io: {
            fsyncSync: () => {
              throw errno('EDQUOT', 'fsync');
            },
          },
        },
      ),
  },
  {
    name: 'checkpoint on a read-only file system',
    code: 'NOT_WRITABLE',
    expect: ['the location is not writable (EROFS)', 'kept unchanged'],
    run: () =>
      saveCheckpoint(
        ckFile,
        { meta: {}, tensors: new Map() },
        {
          io: {
            openSync: () => {
              throw errno('EROFS', 'open');
            },
          },
        },
      ),
  },
  {
    name: 'checkpoint rename refused',
    code: 'NOT_WRITABLE',
    expect: ['not writable (EACCES)'],
    run: () => {
      try {
        saveCheckpoint(
          ckFile,
          { meta: {}, tensors: new Map() },
          {
            io: {
              renameSync: () => {
                throw errno('EACCES', 'rename');
              },
            },
          },
        );
      } finally {
        assert.deepEqual(readdirSync(path.dirname(ckFile)), ['student-last.ckpt'], 'a temporary file was left behind');
      }
    },
  },
  {
    name: 'checkpoint into a missing directory',
    code: 'NOT_WRITABLE',
    expect: ['its directory does not exist (ENOENT)', path.join('gone', 'x.ckpt')],
    run: () => saveCheckpoint(path.join(tmp, 'gone', 'x.ckpt'), { meta: {}, tensors: new Map() }),
  },
  {
    name: 'resume from a missing checkpoint',
    code: 'MISSING_FILE',
    expect: ['cannot read checkpoint', 'none.ckpt: ENOENT'],
    run: () => loadCheckpoint(path.join(tmp, 'none.ckpt')),
  },
  {
    name: 'resume from a truncated checkpoint',
    code: 'BAD_CHECKPOINT',
    expect: ['cut.ckpt: expected', 'truncated or corrupt checkpoint'],
    run: () => loadCheckpoint(write('cut.ckpt', ckBytes().subarray(0, ckBytes().length - 4))),
  },
  {
    name: 'resume from a checkpoint cut in its header',
    code: 'BAD_CHECKPOINT',
    expect: ['head.ckpt: checkpoint header is corrupt'],
    run: () => loadCheckpoint(write('head.ckpt', ckBytes().subarray(0, 20))),
  },
  {
    name: 'resume from a checkpoint with a foreign header',
    code: 'BAD_CHECKPOINT',
    expect: ['hdr.ckpt: checkpoint header is corrupt (no valid tensor table)'],
    run: () => loadCheckpoint(write('hdr.ckpt', Buffer.concat([Buffer.from('KDCKPT01'), Buffer.from([2, 0, 0, 0]), Buffer.from('{}')]))),
  },
  {
    name: 'resume from an ONNX file',
    code: 'BAD_CHECKPOINT',
    expect: ['teacher.onnx is not a kdistill checkpoint'],
    run: () => loadCheckpoint(mlpFile),
  },
  {
    name: 'resume a training session from a truncated checkpoint',
    code: 'BAD_CHECKPOINT',
    expect: ['resume.ckpt: expected', 'truncated or corrupt checkpoint'],
    run: async () => {
      const ds = table('four', [0, 1, 2, 0]);
      const { session } = await fitClassifier(new Model(mlp([4, 4, 3], { inputShape: [4] })), ds, {
        epochs: 1,
        batchSize: 4,
        threads: 1,
        stepsPerRun: 1,
        keepSession: true,
      });
      try {
        const f = path.join(tmp, 'resume.ckpt');
        session!.saveCheckpoint(f);
        const full = readFileSync(f);
        writeFileSync(f, full.subarray(0, full.length - 8));
        session!.restoreCheckpoint(f);
      } finally {
        await session!.release();
      }
    },
  },
];

describe('bad input: library calls', () => {
  it(`the corpus has at least 30 cases (${corpus.length})`, () => assert.ok(corpus.length >= 30));
  for (const c of corpus) {
    it(c.name, async () => {
      await assert.rejects(
        async () => c.run(),
        (e: unknown) => {
          assert.ok(e instanceof KdError, `${c.name}: expected a KdError, got ${(e as Error)?.stack ?? String(e)}`);
          assert.equal(e.code, c.code, `${c.name}: code ${e.code}: ${e.message}`);
          for (const f of c.expect) {
            if (typeof f === 'string') assert.ok(e.message.includes(f), `${c.name}: message lacks ${JSON.stringify(f)}:\n${e.message}`);
            else assert.match(e.message, f, c.name);
          }
          assert.ok(!e.message.includes('\n    at '), `${c.name}: the message holds a stack trace`);
          return true;
        },
      );
    });
  }
  it('a checkpoint written after a failed one is complete', () => {
    saveCheckpoint(ckFile, { meta: { step: 3 }, tensors: new Map([['w', new Float32Array([7, 8, 9])]]) });
    assert.deepEqual([...loadCheckpoint(ckFile).tensors.get('w')!], [7, 8, 9]);
  });
});

// ---- the CLI: exit codes and one clear line. The processes start together so their start-up overlaps. ----

function cli(args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, ...args],
      { encoding: 'utf8', timeout: 120_000 },
      (err, _out, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? -1) : 0, stderr });
      },
    );
  });
}
const runYaml = (name: string, dataset: string, teacher: string) =>
  write(
    `${name}.yaml`,
    [
      `name: ${name}`,
      `outDir: ${path.join(tmp, 'runs', name)}`,
      'dataset:',
      ...dataset.split('\n').map((l) => `  ${l}`),
      'teacher:',
      `  ${teacher}`,
      'student:',
      '  model: mlp-4-4-3',
      'loss:',
      '  - { method: ce, weight: 0.5 }',
      '  - { method: kd, weight: 0.5 }',
      'epochs: 1',
      '',
    ].join('\n'),
  );
write('badcell.csv', 'a,b,c,d,label\n0,1,2,3,0\n1,x,3,4,1\n');
write('random.onnx', randomBytes);

const cliCases: { args: string[]; status: number; expect: RegExp }[] = [
  { args: ['inspect', path.join(tmp, 'random.onnx')], status: 2, expect: /random\.onnx is not a valid ONNX file/ },
  {
    args: ['eval', mlpFile, '--threads', '1'],
    status: 2,
    expect: /teacher\.onnx takes input 'x' as float32\[N, 4\], but was given float32\[1000, 1, 28, 28\]/,
  },
  {
    args: ['run', runYaml('badcell', `name: csv\npath: ${path.join(tmp, 'badcell.csv')}`, 'model: mlp-4-8-3')],
    status: 2,
    expect: /badcell\.csv line 3, column 2 \('b'\): 'x' is not a number/,
  },
  { args: ['frobnicate'], status: 1, expect: /unknown command 'frobnicate'/ },
];
const cliRuns = cliCases.map((c) => cli(c.args));

describe('bad input: command line', () => {
  for (const [k, c] of cliCases.entries()) {
    it(`kdistill ${c.args.map((a) => path.basename(a)).join(' ')} exits ${c.status} with one clear line`, async () => {
      const r = await cliRuns[k];
      assert.equal(r.status, c.status, `exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, c.expect);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'printed a stack trace');
      if (c.status === 2) assert.equal(r.stderr.trim().split('\n').length, 1, `more than one line:\n${r.stderr}`);
    });
  }
});
