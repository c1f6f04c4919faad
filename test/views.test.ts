// Paired views (cross-modal distillation): the teacher sees one view of each sample, the student another.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/node/index.js';
import type { Dataset } from '../src/data/dataset.js';
import { loadDataset } from '../src/data/node/index.js';
import { applyView } from '../src/data/views.js';
import { FunctionTeacher } from '../src/distill/teachers/function.js';
import { configRegistry } from '../src/frontends/config-registry.js';
import { loadData } from '../src/frontends/config-data.js';
import { runExperiment } from '../src/frontends/run-config.js';
import { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { evaluateClassifier, fitClassifier } from '../src/train/classifier.js';
import { KdError } from '../src/util/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kdistill-views-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** n grey 4×4 images whose pixels are all `fill`, except pixel 0, which holds the sample's index. */
function images(n: number, fill: number, sourceIndex?: Int32Array): Dataset {
  const x = new Uint8Array(n * 16).fill(fill);
  for (let i = 0; i < n; i++) x[i * 16] = i;
  return {
    name: 'marked',
    kind: 'image',
    x,
    y: Int32Array.from({ length: n }, (_, i) => i % 2),
    n,
    sampleShape: [1, 4, 4],
    numClasses: 2,
    sourceIndex,
  };
}

describe('applyView', () => {
  const ds = images(6, 0);
  for (let i = 0; i < ds.n; i++) for (let p = 0; p < 16; p++) ds.x[i * 16 + p] = (p * 16 + i * 3) % 256;

  it('downsample: every block of the image is its mean', () => {
    const v = applyView(ds, { downsample: 2 }, 0, 'student');
    const img = [...v.x.subarray(16, 32)];
    const src = [...ds.x.subarray(16, 32)];
    // Block (0, 0) holds pixels 0, 1, 4, 5 of the 4×4 image.
    const mean = Math.round((src[0] + src[1] + src[4] + src[5]) / 4);
    assert.deepEqual([img[0], img[1], img[4], img[5]], [mean, mean, mean, mean]);
    assert.equal(new Set(img).size <= 4, true);
    assert.deepEqual([...v.y], [...ds.y]);
  });

  it('noise and occlusion are fixed per sample: the same in every call, and keyed by the sample, not its position', () => {
    const a = applyView(ds, { noise: 0.2, occlude: 2 }, 5, 'student');
    const b = applyView(ds, { noise: 0.2, occlude: 2 }, 5, 'student');
    assert.deepEqual([...a.x], [...b.x]);
    assert.notDeepEqual([...a.x], [...applyView(ds, { noise: 0.2, occlude: 2 }, 6, 'student').x], 'another seed, another view');
    // A split holding samples 3 and 1 of the collection sees them exactly as the full set does.
    const part: Dataset = {
      ...ds,
      n: 2,
      x: Uint8Array.from([...ds.x.subarray(48, 64), ...ds.x.subarray(16, 32)]),
      y: Int32Array.of(1, 1),
      sourceIndex: Int32Array.of(3, 1),
    };
    const full = applyView({ ...ds, sourceIndex: Int32Array.from({ length: 6 }, (_, i) => i) }, { noise: 0.2, occlude: 2 }, 5, 'student');
    const p = applyView(part, { noise: 0.2, occlude: 2 }, 5, 'student');
    assert.deepEqual([...p.x.subarray(0, 16)], [...full.x.subarray(48, 64)]);
    assert.deepEqual([...p.x.subarray(16, 32)], [...full.x.subarray(16, 32)]);
    // Four pixels of each image are the black square.
    for (let i = 0; i < 6; i++)
      assert.ok([...applyView(ds, { occlude: 2 }, 1, 'student').x.subarray(i * 16, i * 16 + 16)].filter((v) => v === 0).length >= 4);
  });

  it('no view is the dataset itself; impossible views say which key', () => {
    assert.equal(applyView(ds, {}, 0, 'teacher'), ds);
    assert.throws(
      () => applyView(ds, { downsample: 5 }, 0, 'student'),
      (e: unknown) => e instanceof KdError && /views\.student\.downsample: 5 is larger than the 4×4/.test(e.message),
    );
  });
});

describe('training with paired views', () => {
  it('the teachers are asked about their view of exactly the samples the student trains on, each once per epoch', async () => {
    const n = 40;
    const student = images(n, 0);
    const teacherView = images(n, 255);
    const seen: number[] = [];
    const teacher = new FunctionTeacher(
      (b) => {
        const per = 16;
        for (let i = 0; i < b.shape[0]; i++) {
          const row = b.x.subarray(i * per, (i + 1) * per) as Float32Array;
          assert.ok(
            row.subarray(1).every((v) => v === 1),
            'the teacher sees its own view (all pixels 255)',
          );
          seen.push(Math.round(row[0] * 255));
        }
        return Array.from({ length: b.shape[0] }, () => [0, 0]);
      },
      { id: 'marks', classes: 2 },
    );
    await fitClassifier(new Model(mlp([16, 4, 2], { inputShape: [1, 4, 4] }), 1), student, {
      epochs: 2,
      batchSize: 8,
      loss: [
        { method: 'ce', weight: 1 },
        { method: 'kd', weight: 1 },
      ],
      teacher,
      teacherView,
      threads: 1,
    });
    assert.equal(seen.length, 2 * n);
    for (const epoch of [seen.slice(0, n), seen.slice(n)])
      assert.deepEqual(
        [...epoch].sort((a, b) => a - b),
        [...Array(n).keys()],
      );
  });

  it('a config run: the teacher trains and is scored on its view, the students on theirs', async () => {
    const file = path.join(tmp, 'views.yaml');
    writeFileSync(
      file,
      `name: views
seed: 3
threads: 1
outDir: ${path.join(tmp, 'views')}
dataset: { name: mnist, trainPerClass: 30, validation: { perClass: 10 }, views: { student: { downsample: 7, noise: 0.1 } } }
teacher: { model: cnn-4-8, train: { epochs: 1 } }
student: { model: cnn-4-8 }
loss: [ { method: ce, weight: 0.5 }, { method: kd, weight: 0.5 } ]
epochs: 1
batchSize: 32
`,
    );
    const cfg = parseConfig(readFileSync(file, 'utf8'), file, configRegistry());
    const summary = await runExperiment(cfg);
    const test = loadDataset('mnist', 'test');
    const degraded = applyView(test, { downsample: 7, noise: 0.1 }, 3, 'student');
    const acc = async (f: string, ds: Dataset) =>
      (await evaluateClassifier(new Uint8Array(readFileSync(path.join(cfg.outDir, f))), ds)).accuracy;
    const row = (role: string) => summary.rows.find((r) => r.role === role)!;
    assert.equal(row('teacher').testAccuracy, +(await acc('teacher.onnx', test)).toFixed(4));
    assert.equal(row('baseline').testAccuracy, +(await acc('baseline.onnx', degraded)).toFixed(4));
    assert.equal(row('distilled').testAccuracy, +(await acc('student.onnx', degraded)).toFixed(4));
    assert.notEqual(row('baseline').testAccuracy, +(await acc('baseline.onnx', test)).toFixed(4), 'the views differ');
  });

  it('views are refused where they cannot apply, naming the key', () => {
    const bad = (body: string, re: RegExp) => {
      const f = path.join(tmp, 'bad.yaml');
      assert.throws(
        () =>
          parseConfig(
            `name: bad\n${body}\nteacher: { model: cnn-4-8 }\nstudent: { model: cnn-4-8 }\nloss: [ { method: kd } ]\nepochs: 1\n`,
            f,
            configRegistry(),
            { checkFiles: false },
          ),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
      );
    };
    bad('dataset: { name: csv, path: x.csv, views: { student: { noise: 0.1 } } }', /views\.student.*noise/);
    bad('dataset: { name: mnist, views: { student: { blur: 2 } } }', /blur/);
    bad('dataset: { name: mnist, views: { pupil: {} } }', /pupil/);
  });
});

describe('paired views from two aligned sources: a CSV’s column groups', () => {
  it('the teacher reads its columns and the student others, of another width, paired row by row', async () => {
    // Class = the sign pattern of a and b; the teacher sees a and b, the student only c, a noisy copy of a.
    const rows = ['a,b,c,label'];
    for (let i = 0; i < 240; i++) {
      const a = Math.sin(i * 1.7),
        b = Math.cos(i * 2.3);
      rows.push(`${a},${b},${a + 0.3 * Math.sin(i * 5.1)},${(a > 0 ? 1 : 0) + (b > 0 ? 2 : 0)}`);
    }
    const csv = path.join(tmp, 'pairs.csv');
    writeFileSync(csv, rows.join('\n'));
    const file = path.join(tmp, 'csv-views.yaml');
    writeFileSync(
      file,
      `name: csv-views
seed: 1
threads: 1
outDir: ${path.join(tmp, 'csv-views')}
dataset: { name: csv, path: pairs.csv, options: { label: label }, views: { teacher: { features: [a, b] }, student: { features: [c] } } }
teacher: { model: mlp-2-16-4, train: { epochs: 30, optimizer: { name: adam, lr: 0.02 } } }
student: { model: mlp-1-8-4 }
loss: [ { method: ce, weight: 0.5 }, { method: kd, weight: 0.5 } ]
epochs: 2
batchSize: 32
`,
    );
    const cfg = parseConfig(readFileSync(file, 'utf8'), file, configRegistry());
    const summary = await runExperiment(cfg);
    const row = (role: string) => summary.rows.find((r) => r.role === role)!;
    // The teacher sees both signs; the student cannot know b's, so it cannot do nearly as well.
    assert.ok(row('teacher').testAccuracy > 0.8, `teacher ${row('teacher').testAccuracy}`);
    assert.ok(row('distilled').testAccuracy < 0.75, `student ${row('distilled').testAccuracy}`);
    assert.equal(row('teacher').parameters, 2 * 16 + 16 + 16 * 4 + 4);
    assert.equal(row('distilled').parameters, 8 + 8 + 8 * 4 + 4);
    // Each view is normalised on its own: the student's one column is no slice of the teacher's two.
    assert.ok(row('distilled').agreement !== null);
  });

  it('refuses augmentation noise, which would unpair the two sources', async () => {
    const file = path.join(tmp, 'csv-noise.yaml');
    writeFileSync(
      file,
      `name: csv-noise
outDir: ${path.join(tmp, 'csv-noise')}
dataset: { name: csv, path: pairs.csv, augment: { noise: { std: 0.1 } }, options: { label: label }, views: { student: { features: [c] } } }
teacher: { model: mlp-3-8-4 }
student: { model: mlp-1-8-4 }
loss: [ { method: kd } ]
epochs: 1
`,
    );
    await assert.rejects(
      runExperiment(parseConfig(readFileSync(file, 'utf8'), file, configRegistry())),
      (e: unknown) => e instanceof KdError && /dataset\.views: .*remove dataset\.augment/.test(e.message),
    );
  });
});

describe('paired views from two aligned sources: two image folders', () => {
  /** Writes `n` MNIST test digits of classes 0–2 as PNGs under dir/<class>/<i>.png, through `pixel`. */
  function folder(dir: string, pixel: (v: number) => number): void {
    const test = loadDataset('mnist', 'test');
    const count = [0, 0, 0];
    for (let i = 0; i < test.n && Math.min(...count) < 15; i++) {
      const c = test.y[i];
      if (c > 2 || count[c] >= 15) continue;
      const img = new PNG({ width: 28, height: 28 });
      for (let p = 0; p < 784; p++) {
        const v = pixel(test.x[i * 784 + p]);
        img.data.set([v, v, v, 255], 4 * p);
      }
      mkdirSync(path.join(dir, String(c)), { recursive: true });
      writeFileSync(path.join(dir, String(c), `${count[c]++}.png`), PNG.sync.write(img));
    }
  }

  it('the teacher reads one folder and the student the other, image for image', async () => {
    folder(path.join(tmp, 'clean'), (v) => v);
    folder(path.join(tmp, 'inverted'), (v) => 255 - v);
    const file = path.join(tmp, 'folders.yaml');
    const body = (student: string) => `name: folders
seed: 4
threads: 1
outDir: ${path.join(tmp, 'folders')}
dataset: { name: image-folder, path: clean, views: { student: { path: ${student} } } }
teacher: { model: cnn-4-8, train: { epochs: 2 } }
student: { model: cnn-4-8 }
loss: [ { method: ce, weight: 0.5 }, { method: kd, weight: 0.5 } ]
epochs: 1
batchSize: 16
`;
    writeFileSync(file, body('inverted'));
    const cfg = parseConfig(readFileSync(file, 'utf8'), file, configRegistry());
    const summary = await runExperiment(cfg);
    const data = loadData(cfg);
    const acc = async (f: string, ds: Dataset) =>
      (await evaluateClassifier(new Uint8Array(readFileSync(path.join(cfg.outDir, f))), ds)).accuracy;
    const row = (role: string) => summary.rows.find((r) => r.role === role)!;
    assert.equal(row('teacher').testAccuracy, +(await acc('teacher.onnx', data.teacherView!.test)).toFixed(4));
    assert.equal(row('distilled').testAccuracy, +(await acc('student.onnx', data.test)).toFixed(4));
    // The student's test images are the teacher's, inverted: the same files, in the same order.
    assert.equal(data.test.x[100], 255 - data.teacherView!.test.x[100]);
    assert.deepEqual([...data.test.y], [...data.teacherView!.test.y]);

    // A folder that does not hold the same files is refused, naming both.
    rmSync(path.join(tmp, 'inverted', '2', '14.png'));
    const bad = parseConfig(readFileSync(file, 'utf8'), file, configRegistry());
    assert.throws(
      () => loadData(bad),
      (e: unknown) =>
        e instanceof KdError && /must hold the same class folders and file names.*first difference is 2\/14\.png/.test(e.message),
    );
  });
});
