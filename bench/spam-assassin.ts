// SpamAssassin ham/spam with a transformer teacher (not CI): examples/text/spam-assassin.yaml run at several seeds, as
// `kdistill run` runs it (the teacher trained first, the student alone, the student distilled with ce + kd). The split
// is the corpus' own: easy-ham-1 + spam-2 train (a seeded tenth held out for validation), easy-ham-2 + spam-1 + hard-ham-1
// test. Prints test accuracy overall and on the hard ham (mean ± std over seeds), each student's paired difference
// from the student alone, and the training seconds of each stage.
// Usage: npx tsx bench/spam-assassin.ts [--seeds 0,1,2] [--config examples/text/spam-assassin.yaml]
//   [--teacher-epochs N] [--epochs N] [--per-group N] [--out bench/results/spam-assassin.json]
// A quick check that it runs: npx tsx bench/spam-assassin.ts --seeds 0 --teacher-epochs 1 --epochs 1 --per-group 40 --out /tmp/sa.json
import '../src/node-setup.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { configRegistry } from '../src/cli/run.js';
import { parseConfig } from '../src/config/node/index.js';
import { runExperiment, type RunSummary } from '../src/frontends/run-config.js';
import { meanStd } from '../src/report/seeds.js';
import { RunDir } from '../src/train/run-dir.js';
import { stageTimer } from './lib/stage-times.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    config: { type: 'string', default: 'examples/text/spam-assassin.yaml' },
    'teacher-epochs': { type: 'string' },
    epochs: { type: 'string' },
    'per-group': { type: 'string' },
    out: { type: 'string', default: 'bench/results/spam-assassin.json' },
    threads: { type: 'string', default: '2' },
  },
});
const seeds = a.seeds!.split(',').map(Number);
const LABEL: Record<string, string> = {
  teacher: 'teacher',
  baseline: 'student alone (ce)',
  distilled: 'student + KD',
};
const HARD = 'hard-ham-1';

type Result = RunSummary & { stageSeconds: Record<string, number>; wallSeconds: number };
const results: Result[] = existsSync(a.out!) ? JSON.parse(readFileSync(a.out!, 'utf8')).results : [];
type Section = Record<string, unknown>;
const base = YAML.parse(readFileSync(a.config!, 'utf8')) as Section & {
  teacher: Section & { train?: Section };
  dataset: Section & { options?: Section };
};
const t0 = Date.now();
for (const seed of seeds) {
  if (results.some((r) => r.seed === seed)) continue;
  const c = structuredClone(base);
  Object.assign(c, { name: `bench-spam-assassin-${seed}`, seed, threads: Number(a.threads) });
  c.outDir = join('runs', 'bench-spam-assassin', `seed-${seed}`);
  if (a['teacher-epochs']) c.teacher.train = { ...c.teacher.train, epochs: Number(a['teacher-epochs']) };
  if (a.epochs) c.epochs = Number(a.epochs);
  if (a['per-group']) c.dataset.options = { ...c.dataset.options, perGroup: Number(a['per-group']) };
  const cfg = parseConfig(YAML.stringify(c), a.config!, configRegistry());
  // Training time of each stage: from its start event to its last epoch's validation.
  const timer = stageTimer();
  const started = Date.now();
  const s = await runExperiment(cfg, { runDir: new RunDir(cfg.outDir), onEvent: timer.onEvent });
  const stageSeconds = timer.seconds();
  results.push({ ...s, stageSeconds, wallSeconds: (Date.now() - started) / 1000 });
  writeFileSync(a.out!, `${JSON.stringify({ config: a.config, results }, null, 1)}\n`);
  console.error(
    `[${Math.round((Date.now() - t0) / 1000)} s] seed ${seed} (${Math.round((Date.now() - started) / 1000)} s): ` +
      s.rows.map((r) => `${r.role} ${(r.testAccuracy * 100).toFixed(2)}% (hard ham ${pct(r.groups?.[HARD]?.accuracy ?? NaN)})`).join(', '),
  );
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}
const ms = (xs: number[]) => {
  const { mean, std } = meanStd(xs);
  return `${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)}`;
};
const pts = (xs: number[]) => {
  const { mean, std } = meanStd(xs);
  return `${mean >= 0 ? '+' : ''}${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)}`;
};
const row = (s: Result, role: string) => s.rows.find((r) => r.role === role)!;
const hard = (s: Result, role: string) => row(s, role).groups![HARD].accuracy;
const first = results[0];
const groups = Object.entries(first.rows[0].groups ?? {}).map(([g, v]) => `${g} ${v.n}`);
console.log(
  `\n${first.dataset}: ${first.trainSamples} training / ${first.validationSamples} validation / ${first.testSamples} test messages ` +
    `(${groups.join(', ')}); seeds ${results.map((r) => r.seed).join(', ')}\n`,
);
console.log('| model | | params | test acc % | hard ham % | Δ test vs alone (paired) | Δ hard ham vs alone | training s |');
console.log('|---|---|---|---|---|---|---|---|');
for (const role of first.rows.map((r) => r.role)) {
  const acc = results.map((s) => row(s, role).testAccuracy);
  const h = results.map((s) => hard(s, role));
  const student = role !== 'teacher' && role !== 'baseline';
  const dAcc = student ? pts(results.map((s) => row(s, role).testAccuracy - row(s, 'baseline').testAccuracy)) : '';
  const dHard = student ? pts(results.map((s) => hard(s, role) - hard(s, 'baseline'))) : '';
  const secs = meanStd(results.map((s) => s.stageSeconds[role] ?? 0));
  console.log(
    `| ${LABEL[role] ?? role} | ${row(first, role).model} | ${row(first, role).parameters} | ${ms(acc)} | ${ms(h)} | ${dAcc} | ${dHard} ` +
      `| ${secs.mean.toFixed(0)} ± ${secs.std.toFixed(0)} |`,
  );
}
console.log('\nper seed (test / hard ham):');
for (const s of results)
  console.log(`  seed ${s.seed}: ${s.rows.map((r) => `${r.role} ${pct(r.testAccuracy)} / ${pct(r.groups![HARD].accuracy)}`).join(', ')}`);
const wall = meanStd(results.map((s) => s.wallSeconds));
console.log(`\nper run (all three stages, export and evaluation): ${wall.mean.toFixed(0)} ± ${wall.std.toFixed(0)} s`);
console.log(`wall time of this invocation: ${Math.round((Date.now() - t0) / 1000)} s`);
