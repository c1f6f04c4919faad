// Schemes and architectures on Fashion-MNIST (not CI): every scheme against the same student trained
// alone, over several seeds, as kdistill pipelines (one config per seed, stages in order), plus the
// knowledge-amalgamation and learning-without-forgetting experiments with their own measures.
// Usage: npx tsx bench/schemes.ts [--seeds 0,1,2] [--epochs 6] [--per-class 500] [--out bench/results/schemes.json]
import '../src/node-setup.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { RunDir } from '../src/train/run-dir.js';
import { runExperiment, type RunSummary } from '../src/frontends/run-config.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '6' },
    'per-class': { type: 'string', default: '500' },
    out: { type: 'string', default: 'bench/results/schemes.json' },
    only: { type: 'string' },
  },
});
const seeds = a.seeds!.split(',').map(Number);
const S = 'cnn-8-16-32',
  T = 'cnn-32-64-128';
const kd = '[{ method: ce, weight: 0.5 }, { method: kd, weight: 0.5 }]';
const low = '[0, 1, 2, 3, 4]',
  high = '[5, 6, 7, 8, 9]';
/** Each experiment: its stages, and the rows to report (stage → label). */
const EXPERIMENTS: Record<string, { stages: string[]; extra?: string[] }> = {
  schemes: {
    stages: [
      `  - { name: teacher, model: ${T}, epochs: 10 }`,
      `  - { name: teacher-mlp, model: mlp-784-512-10, epochs: 10 }`,
      `  - { name: alone, model: ${S} }`,
      `  - { name: kd, model: ${S}, teachers: [teacher], loss: ${kd} }`,
      `  - { name: assistant, model: cnn-16-32-64, teachers: [teacher], loss: ${kd} }`,
      `  - { name: takd, model: ${S}, teachers: [assistant], loss: ${kd} }`,
      `  - { name: multi-mean, model: ${S}, teachers: [teacher, teacher-mlp], combine: mean, loss: ${kd} }`,
      `  - { name: multi-confidence, model: ${S}, teachers: [teacher, teacher-mlp], combine: confidence, loss: ${kd} }`,
      `  - { name: ban-gen2, model: ${S}, teachers: [alone], loss: [{ method: kd, options: { temperature: 1 } }] }`,
      `  - { name: ban-gen3, model: ${S}, teachers: [ban-gen2], loss: [{ method: kd, options: { temperature: 1 } }] }`,
      `  - { name: dml, cohort: [${S}, ${S}], loss: [{ method: dml }] }`,
      `  - { name: peer-ensemble, cohort: [${S}, ${S}], loss: [{ method: peer_ensemble }] }`,
      `  - { name: tfkd, model: ${S}, loss: [{ method: tfkd, options: { multiplier: 10 } }] }`,
      `  - { name: cskd, model: ${S}, loss: [{ method: ce }, { method: cskd }] }`,
      `  - { name: byot, model: ${S}, loss: [{ method: ce, weight: 0.9 }, { method: ` +
        'byot, options: { nodes: [block1/pool, block2/pool], deepNode: block3/relu } }] }',
    ],
  },
  amalgamation: {
    extra: [`report: { subsets: { low: ${low}, high: ${high} } }`],
    stages: [
      `  - { name: low, model: ${T}, classes: ${low}, loss: [{ method: ce, options: { classes: ${low} } }] }`,
      `  - { name: high, model: ${T}, classes: ${high}, loss: [{ method: ce, options: { classes: ${high} } }] }`,
      `  - { name: amalgamated, model: ${S}, teachers: [{ stage: low, classes: ${low} }, { stage: high, ` +
        `classes: ${high} }], combine: concat, loss: [{ method: kd, options: { temperature: 2 } }] }`,
      `  - { name: alone, model: ${S} }`,
    ],
  },
  lwf: {
    extra: [`report: { subsets: { old: ${low}, new: ${high} } }`],
    stages: [
      `  - { name: old, model: ${S}, classes: ${low}, loss: [{ method: ce, options: { classes: ${low} } }] }`,
      `  - { name: finetune, model: ${S}, init: old, classes: ${high}, loss: [{ method: ce, options: { classes: ${high} } }] }`,
      `  - { name: lwf, model: ${S}, init: old, classes: ${high}, teachers: [old], loss: [{ method: ce, ` +
        `options: { classes: ${high} } }, { method: kd, options: { temperature: 2, classes: ${low} } }] }`,
    ],
  },
};

const results: Record<string, RunSummary[]> = existsSync(a.out!) ? JSON.parse(readFileSync(a.out!, 'utf8')).results : {};
const t0 = Date.now();
for (const [name, e] of Object.entries(EXPERIMENTS)) {
  if (a.only && !a.only.split(',').includes(name)) continue;
  for (const seed of seeds) {
    if ((results[name] ?? []).some((r) => r.seed === seed)) continue;
    const text = [
      `name: bench-${name}-${seed}`,
      `seed: ${seed}`,
      'threads: 2',
      `outDir: ${join('runs', 'bench-schemes', `${name}-${seed}`)}`,
      `dataset: { name: fashion-mnist, validation: { perClass: 200 }, trainPerClass: ${a['per-class']} }`,
      `epochs: ${a.epochs}`,
      'optimizer: { name: adam, lr: 0.002 }',
      ...(e.extra ?? []),
      'stages:',
      ...e.stages,
    ].join('\n');
    const cfg = parseConfig(text, `bench/${name}.yaml`, configRegistry());
    const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir) });
    results[name] ??= [];
    results[name].push(s);
    writeFileSync(a.out!, `${JSON.stringify({ epochs: Number(a.epochs), perClass: Number(a['per-class']), results }, null, 1)}\n`);
    console.error(
      `[${Math.round((Date.now() - t0) / 1000)} s] ${name} seed ${seed}: ` +
        `${s.rows.map((r) => `${r.role} ${(r.testAccuracy * 100).toFixed(2)}`).join(', ')}`,
    );
  }
}

const ms = (xs: number[]) => {
  const m = xs.reduce((p, q) => p + q, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((p, q) => p + (q - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return `${(m * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)}`;
};
const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
for (const [name, runs] of Object.entries(results)) {
  const roles = runs[0].rows.map((r) => r.role);
  const subsets = Object.keys(runs[0].rows[0].subsets ?? {});
  const alone = runs.map((s) => s.rows.find((r) => r.role === 'alone')?.testAccuracy).filter((x): x is number => x !== undefined);
  console.log(`\n### ${name} (${runs.length} seeds: ${runs.map((s) => s.seed).join(', ')})\n`);
  console.log(
    `| stage | model | test accuracy % | Δ vs alone | agreement % (with) |${subsets.map((n) => ` ${n}: acc / task % |`).join('')}`,
  );
  console.log(`|---|---|---|---|---|${subsets.map(() => '---|').join('')}`);
  for (const role of roles) {
    const rs = runs.map((s) => s.rows.find((r) => r.role === role)!);
    const delta = alone.length && role !== 'alone' ? (mean(rs.map((r) => r.testAccuracy)) - mean(alone)) * 100 : undefined;
    const subsetCells = subsets
      .map((n) => ` ${ms(rs.map((r) => r.subsets![n].accuracy))} / ${ms(rs.map((r) => r.subsets![n].taskAccuracy))} |`)
      .join('');
    console.log(
      `| ${role} | ${rs[0].model} | ${ms(rs.map((r) => r.testAccuracy))} | ${delta === undefined ? '' : delta.toFixed(2)} ` +
        `| ${rs[0].agreement === null ? '—' : ms(rs.map((r) => r.agreement ?? Number.NaN))} (${rs[0].agreeWith ?? '—'}) ` +
        `|${subsetCells}`,
    );
  }
}
