// Recommendation distillation on MovieLens (R's dslabs package, Debian r-cran-dslabs; not CI): a factorisation teacher,
// the small student trained alone, with score KD (softmax KL over the items' scores) and with ranking distillation
// (rd, Tang & Wang 2018), over several seeds; NDCG@10 and Recall@10 on each user's latest 20% of interactions, the
// training items left out of the ranking. One pipeline config per seed (stages in order), as kdistill runs it.
// Usage: npx tsx bench/recommendation.ts [--seeds 0,1,2] [--out bench/results/recommendation.json]
import '../src/node-setup.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { runExperiment, type RunSummary } from '../src/frontends/run-config.js';
import { RunDir } from '../src/train/run-dir.js';
import { stageTimer } from './lib/stage-times.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    out: { type: 'string', default: 'bench/results/recommendation.json' },
  },
});
const seeds = a.seeds!.split(',').map(Number);
// Recipes chosen on the validation split (each user's 10% before the test set) of seed 0; see docs/applications.md.
const T = 'mf-128',
  S = 'mf-8';
const student = 'epochs: 8, optimizer: { name: adamw, lr: 0.01, weightDecay: 0.1 }';
const STAGES = [
  `  - { name: teacher, model: ${T}, epochs: 10, optimizer: { name: adamw, lr: 0.006, weightDecay: 0.3 } }`,
  `  - { name: alone, model: ${S}, ${student} }`,
  `  - { name: kd, model: ${S}, ${student}, teachers: [teacher], ` +
    'loss: [{ method: ce, weight: 0.5 }, { method: kd, weight: 0.5, options: { temperature: 1 } }] }',
  `  - { name: rd, model: ${S}, ${student}, teachers: [teacher], loss: [{ method: ce }, { method: rd }] }`,
];
const LABEL: Record<string, string> = {
  teacher: 'teacher',
  alone: 'student alone (ce)',
  kd: 'student + score KD (0.5 ce + 0.5 kd, T = 1)',
  rd: 'student + ranking distillation (ce + rd, K = 10, λ = 1, μ = 0.1, hybrid)',
};

type Result = RunSummary & { stageSeconds: Record<string, number> };
const results: Result[] = existsSync(a.out!) ? JSON.parse(readFileSync(a.out!, 'utf8')).results : [];
const t0 = Date.now();
for (const seed of seeds) {
  if (results.some((r) => r.seed === seed)) continue;
  const text = [
    `name: bench-recommendation-${seed}`,
    `seed: ${seed}`,
    'threads: 2',
    `outDir: ${join('runs', 'bench-recommendation', `seed-${seed}`)}`,
    'dataset: { name: movielens, options: { minItemInteractions: 20 } }',
    'epochs: 8',
    'batchSize: 256',
    'schedule: { kind: cosine }',
    'stages:',
    ...STAGES,
  ].join('\n');
  const cfg = parseConfig(text, 'bench/recommendation.yaml', configRegistry());
  // Training time of each stage: from its first logged step to its last.
  const timer = stageTimer({ stepsOnly: true });
  const started = Date.now();
  const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir), onEvent: timer.onEvent });
  const stageSeconds = timer.seconds();
  results.push({ ...s, stageSeconds });
  writeFileSync(a.out!, `${JSON.stringify({ results }, null, 1)}\n`);
  console.error(
    `[${Math.round((Date.now() - t0) / 1000)} s] seed ${seed} (${Math.round((Date.now() - started) / 1000)} s): ` +
      s.rows.map((r) => `${r.role} ${r.ranking?.ndcg.toFixed(4)}/${r.ranking?.recall.toFixed(4)}`).join(', '),
  );
}

const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((p, q) => p + (q - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
const ms = (xs: number[]) => `${mean(xs).toFixed(4)} ± ${sd(xs).toFixed(4)}`;
const row = (s: Result, role: string) => s.rows.find((r) => r.role === role)!;
const first = results[0];
const seedList = results.map((r) => r.seed).join(', ');
console.log(`\n${first.dataset}: ${first.trainSamples} training / ${first.testSamples} test interactions; seeds ${seedList}\n`);
console.log('| model | | params | NDCG@10 | Recall@10 | Δ NDCG@10 vs alone (paired) | Δ Recall@10 vs alone | training s |');
console.log('|---|---|---|---|---|---|---|---|');
for (const role of first.rows.map((r) => r.role)) {
  const rs = results.map((s) => row(s, role));
  const nd = rs.map((r) => r.ranking!.ndcg),
    rc = rs.map((r) => r.ranking!.recall);
  const paired = (k: 'ndcg' | 'recall') => results.map((s) => row(s, role).ranking![k] - row(s, 'alone').ranking![k]);
  const delta = (k: 'ndcg' | 'recall') => (role === 'teacher' || role === 'alone' ? '' : ms(paired(k)));
  console.log(
    `| ${LABEL[role] ?? role} | ${rs[0].model} | ${rs[0].parameters} | ${ms(nd)} | ${ms(rc)} | ${delta('ndcg')} | ${delta('recall')} ` +
      `| ${mean(results.map((s) => s.stageSeconds[role] ?? 0)).toFixed(0)} |`,
  );
}
console.log(`\nwall time of this invocation: ${Math.round((Date.now() - t0) / 1000)} s`);
