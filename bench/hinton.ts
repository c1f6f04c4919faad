// Hinton, Vinyals & Dean (2015), MNIST experiment, reproduced with kdistill (not CI; ~20 min on 2 cores).
// Teacher 784-1200-1200-10 with dropout (0.2 input, 0.5 hidden) trained on ±2-pixel jittered images;
// student 784-800-800-10 trained alone (no regularisation) and distilled at T = 20 on unjittered images.
// Prints test errors (of 10,000) beside the paper's 67 / 146 / 74.
// Usage: npx tsx bench/hinton.ts [epochs=30] [seed=0]
import '../src/node-setup.js';
import { loadMnist } from '../src/data/node/index.js';
import { Distiller } from '../src/frontends/distiller.js';
import { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/zoo/index.js';
import { evaluateClassifier, fitClassifier } from '../src/train/classifier.js';

const epochs = Number(process.argv[2] ?? 30),
  seed = Number(process.argv[3] ?? 0);
const train = loadMnist('train'),
  test = loadMnist('test');
const steps = epochs * Math.ceil(train.n / 128);
const recipe = { epochs, batchSize: 128, lr: 1e-3, seed, schedule: { kind: 'cosine' as const, total: steps } };
const t0 = Date.now();
const log = (m: string) => console.error(`[${Math.round((Date.now() - t0) / 1000)} s] ${m}`);

const teacher = new Model(
  mlp([784, 1200, 1200, 10], { inputShape: [1, 28, 28], dropout: 0.5, inputDropout: 0.2, name: 'teacher-1200' }),
  seed + 1000,
);
await fitClassifier(teacher, train, { ...recipe, augment: { jitter: { pixels: 2 } } });
const tEval = await evaluateClassifier(teacher, test);
log(`teacher: ${Math.round((1 - tEval.accuracy) * test.n)} errors`);

const baseline = new Model(mlp([784, 800, 800, 10], { inputShape: [1, 28, 28], name: 'student-800' }), seed);
await fitClassifier(baseline, train, recipe);
const bEval = await evaluateClassifier(baseline, test);
log(`baseline: ${Math.round((1 - bEval.accuracy) * test.n)} errors`);

const d = new Distiller({
  teacher,
  student: new Model(mlp([784, 800, 800, 10], { inputShape: [1, 28, 28], name: 'student-800' }), seed),
  loss: [
    { method: 'ce', weight: 0.1 },
    { method: 'kd', weight: 0.9, options: { temperature: 20 } },
  ],
});
await d.fit(train, recipe);
const kEval = await d.evaluate(test);
log(`distilled: ${Math.round((1 - kEval.accuracy) * test.n)} errors`);

const rows = [
  ['teacher 784-1200-1200-10 (dropout, jitter)', tEval.accuracy, 67],
  ['student 784-800-800-10 alone', bEval.accuracy, 146],
  ['student 784-800-800-10 distilled, T = 20', kEval.accuracy, 74],
] as const;
console.log('| model | test errors (kdistill) | test errors (paper) |\n|---|---|---|');
for (const [name, acc, paper] of rows) console.log(`| ${name} | ${Math.round((1 - acc) * test.n)} | ${paper} |`);
console.log(
  JSON.stringify({
    epochs,
    seed,
    seconds: Math.round((Date.now() - t0) / 1000),
    errors: rows.map(([n, a]) => ({ model: n, errors: Math.round((1 - a) * test.n) })),
    agreement: kEval.agreement,
  }),
);
