// Cross-modal distillation over seeds (not CI): examples/cross-modal/fashion-mnist-7x7.yaml run once per seed, the
// student (which sees only 7×7-pixelated images) distilled from a teacher on clean images, against the same student on
// labels alone. Prints a Markdown table of test accuracy (mean ± half-range over seeds) and each seed's numbers.
// Usage: npx tsx bench/views.ts [--seeds 0,1,2] [--config examples/cross-modal/fashion-mnist-7x7.yaml] [--out file.md]
import '../src/node-setup.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/node/index.js';
import { configRegistry } from '../src/frontends/config-registry.js';
import { runExperiment, type RunSummary } from '../src/frontends/run-config.js';

const { values: a } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    config: { type: 'string', default: 'examples/cross-modal/fashion-mnist-7x7.yaml' },
    out: { type: 'string' },
  },
});
const seeds = a.seeds!.split(',').map(Number);
const text = readFileSync(a.config!, 'utf8');
const t0 = Date.now();
const runs: RunSummary[] = [];
let describe = (_who: 'teacher' | 'student') => 'the images';
for (const seed of seeds) {
  const cfg = parseConfig(text.replace(/^seed: \d+$/m, `seed: ${seed}`), a.config!, configRegistry());
  const views = 'views' in cfg.dataset ? cfg.dataset.views : undefined;
  describe = (who) => {
    const w = views?.[who];
    if (w && 'features' in w) return `columns ${w.features.join(', ')}`;
    const v = w as { downsample?: number; noise?: number; occlude?: number } | undefined;
    const parts = [
      v?.downsample !== undefined ? `${v.downsample}×${v.downsample} blocks` : '',
      v?.noise !== undefined ? `noise σ ${v.noise}` : '',
      v?.occlude !== undefined ? `a ${v.occlude}-pixel square hidden` : '',
    ].filter(Boolean);
    return parts.length ? parts.join(', ') : 'clean';
  };
  runs.push(await runExperiment({ ...cfg, outDir: `${cfg.outDir}-seed${seed}` }));
}
const stat = (xs: number[]) => {
  const mean = xs.reduce((p, q) => p + q, 0) / xs.length;
  return { mean, half: (Math.max(...xs) - Math.min(...xs)) / 2 };
};
const pct = (v: number) => (v * 100).toFixed(2);
const when = `${new Date().toISOString().slice(0, 10)}, ${Math.round((Date.now() - t0) / 1000)} s`;
const lines = [
  `# Cross-modal distillation: \`npx tsx bench/views.ts --seeds ${a.seeds}\` (${when})`,
  '',
  `Config: \`${a.config}\`; test accuracy on each model's own view of the ${runs[0].testSamples} test images.`,
  '',
  '| model | view | test accuracy (mean ± half-range) | per seed |',
  '|---|---|---|---|',
];
const gains: number[] = [];
for (const role of ['teacher', 'baseline', 'distilled']) {
  const acc = runs.map((r) => r.rows.find((x) => x.role === role)!.testAccuracy);
  const s = stat(acc);
  const view = describe(role === 'teacher' ? 'teacher' : 'student');
  const model = runs[0].rows.find((x) => x.role === role)!.model;
  lines.push(`| ${role} ${model} | ${view} | ${pct(s.mean)}% ± ${pct(s.half)} | ${acc.map(pct).join(', ')} |`);
}
for (const r of runs)
  gains.push(r.rows.find((x) => x.role === 'distilled')!.testAccuracy - r.rows.find((x) => x.role === 'baseline')!.testAccuracy);
const g = stat(gains);
const noise = Math.max(
  stat(runs.map((r) => r.rows.find((x) => x.role === 'baseline')!.testAccuracy)).half,
  stat(runs.map((r) => r.rows.find((x) => x.role === 'distilled')!.testAccuracy)).half,
);
const sameSign = gains.every((x) => Math.sign(x) === Math.sign(g.mean));
const verdict =
  seeds.length < 3
    ? `${seeds.length} seed(s): indicative only`
    : Math.abs(g.mean) > noise && sameSign
      ? 'larger than the spread over seeds'
      : 'within the spread over seeds: noise';
const signed = (x: number) => `${x >= 0 ? '+' : ''}${pct(x)}`;
lines.push('', `Distilled − baseline, paired by seed: ${gains.map(signed).join(', ')} points (mean ${signed(g.mean)}); ${verdict}.`);
const md = `${lines.join('\n')}\n`;
console.log(md);
if (a.out) writeFileSync(a.out, md);
