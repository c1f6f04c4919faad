// The tables of docs/privacy.md from the runs of examples/datafree/*.yaml and examples/federated/*.yaml (each run with
// --seeds 0,1,2): mean ± std over seeds; federated rows average the parties within a seed first. Also copies each
// run's seeds.json and per-seed summaries into bench/results/.
// Usage: npx tsx bench/privacy-table.ts [--date 2026-12-07]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { meanStd } from '../src/report/seeds.js';
import type { RunSummary } from '../src/train/report.js';

const { values: a } = parseArgs({ options: { date: { type: 'string', default: new Date().toISOString().slice(0, 10) } } });
const pct = (xs: number[]) => {
  const { mean, std } = meanStd(xs);
  return `${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)}`;
};
const seedsOf = (name: string) => {
  const file = `runs/${name}/seeds.json`;
  if (!existsSync(file)) return undefined;
  const seeds = JSON.parse(readFileSync(file, 'utf8')) as { seeds: number[]; runs: string[]; seconds: number };
  const runs = seeds.runs.map((r) => JSON.parse(readFileSync(`runs/${name}/${r}/summary.json`, 'utf8')) as RunSummary);
  writeFileSync(`bench/results/${name}-seeds-${a.date}.json`, `${JSON.stringify({ seeds, summaries: runs }, null, 1)}\n`);
  return { seeds, runs };
};

console.log('| method | teacher | student test accuracy % (mean ± std) | per seed | seconds per seed |');
console.log('|---|---|---|---|---|');
for (const m of ['noise', 'unrelated', 'zskd', 'deepinversion', 'dafl']) {
  const r = seedsOf(`datafree-${m}`);
  if (!r) continue;
  const acc = r.runs.map((s) => s.rows.find((x) => x.role === 'distilled')!.testAccuracy);
  const t = r.runs[0].rows.find((x) => x.role === 'teacher')!;
  console.log(
    `| ${m} | ${t.model.replace(/^.*\//, '')} ${(t.testAccuracy * 100).toFixed(2)}% | ${pct(acc)} | ` +
      `${acc.map((v) => (v * 100).toFixed(2)).join(' / ')} | ${Math.round(r.seeds.seconds / r.runs.length)} |`,
  );
}

console.log(
  '\n| algorithm | parties: mean test accuracy % | worst party % | consensus % | ' +
    'KiB sent per party and round | KiB received | rounds missed |',
);
console.log('|---|---|---|---|---|---|---|');
let alone: number[] | undefined;
// Rows ending in -public start from the labelled public set; their baseline is alone-public.
for (const alg of ['alone', 'fedmd', 'fd', 'fedavg', 'fedmd-mixed', 'alone-public', 'fedmd-public']) {
  const r = seedsOf(`federated-${alg}`);
  if (!r) continue;
  const parties = (s: RunSummary) => s.rows.filter((x) => x.role.startsWith('party-')).map((x) => x.testAccuracy);
  const mean = r.runs.map((s) => meanStd(parties(s)).mean);
  const worst = r.runs.map((s) => Math.min(...parties(s)));
  const consensus = r.runs.map((s) => s.rows.find((x) => x.role === 'consensus')!.testAccuracy);
  const kib = (k: 'bytesUp' | 'bytesDown') =>
    (
      meanStd(
        r.runs.map(
          (s) =>
            s.federated!.parties.reduce((t, p) => t + p[k].reduce((x, y) => x + y, 0), 0) /
            s.federated!.parties.length /
            s.federated!.rounds,
        ),
      ).mean / 1024
    ).toFixed(1);
  const missed = r.runs.map((s) => s.federated!.parties.reduce((t, p) => t + p.dropped.length, 0));
  if (alg === 'alone' || alg === 'alone-public') alone = mean;
  const delta = alone && !alg.startsWith('alone') ? pct(mean.map((v, i) => v - alone![i])).replace(/^(\d)/, '+$1') : '';
  const paired = delta ? ` (paired Δ ${delta})` : '';
  console.log(
    `| ${alg} | ${pct(mean)}${paired} | ${pct(worst)} | ${pct(consensus)} | ` +
      `${kib('bytesUp')} | ${kib('bytesDown')} | ${missed.join(' / ')} |`,
  );
}
