/**
 * One experiment over several seeds: each row's test accuracy as mean ± sample std, and each student's paired
 * difference from the baseline (seed by seed, same split and data order), with the share of the teacher–baseline
 * gap it closed. A difference is called noise when its mean is no larger than the seed spread (the larger std of
 * the two rows compared): a gain smaller than how much one seed differs from another says nothing.
 */
import type { RunSummary } from '../train/report.js';
import { KdError } from '../util/errors.js';

/** Mean and sample standard deviation (n − 1; 0 for a single value). */
export function meanStd(v: readonly number[]): { mean: number; std: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, std };
}

/** One row of the summary across seeds. */
export interface SeedRow {
  role: string;
  model: string;
  /** Test accuracy of each seed, in the order of `seeds`. */
  accuracy: number[];
  mean: number;
  std: number;
  agreement?: { mean: number; std: number };
}

/** A row compared with the baseline, seed by seed. */
export interface PairedDifference {
  role: string;
  against: string;
  /** This row's accuracy minus the baseline's, per seed. */
  differences: number[];
  mean: number;
  std: number;
  /** The seed spread the mean is compared with: the larger std of the two rows. */
  spread: number;
  /** The mean difference is no larger than the spread. */
  withinNoise: boolean;
  /** (row − baseline) / (teacher − baseline) per seed, where the teacher is above the baseline. */
  gapClosed?: number[];
  /** The teacher the gap is measured to. */
  teacher?: string;
}

/** What `kdistill run --seeds` writes as `seeds.json` and the report shows first. */
export interface SeedsSummary {
  name: string;
  dataset: string;
  seeds: number[];
  /** Run directory of each seed, relative to the summary's folder. */
  runs: string[];
  rows: SeedRow[];
  paired: PairedDifference[];
  seconds: number;
}

/** Aggregates the summaries of one config run at different seeds (same rows in the same order). */
export function summarizeSeeds(summaries: readonly RunSummary[], runs: readonly string[]): SeedsSummary {
  if (summaries.length === 0) throw new KdError('BAD_CALL', 'summarizeSeeds: no runs');
  const first = summaries[0];
  const roles = first.rows.map((r) => r.role);
  for (const [i, s] of summaries.entries())
    if (s.rows.map((r) => r.role).join() !== roles.join())
      throw new KdError('SEEDS_MISMATCH', `${runs[i]}: its rows (${s.rows.map((r) => r.role)}) differ from ${runs[0]}'s (${roles})`);
  const acc = (role: string) => summaries.map((s) => s.rows.find((r) => r.role === role)!.testAccuracy);
  const rows: SeedRow[] = first.rows.map((r) => {
    const a = acc(r.role);
    const agree = summaries.map((s) => s.rows.find((x) => x.role === r.role)!.agreement);
    return {
      role: r.role,
      model: r.model,
      accuracy: a,
      ...meanStd(a),
      ...(agree.every((x) => x !== null) ? { agreement: meanStd(agree as number[]) } : {}),
    };
  });
  const paired: PairedDifference[] = [];
  const base = rows.find((r) => r.role === 'baseline');
  if (base)
    for (const r of rows) {
      if (r.role === 'baseline' || r.role === 'teacher') continue;
      const differences = r.accuracy.map((v, i) => v - base.accuracy[i]);
      const { mean, std } = meanStd(differences);
      const spread = Math.max(r.std, base.std);
      const teacherRole = first.rows.find((x) => x.role === r.role)?.agreeWith ?? undefined;
      const teacher = rows.find((x) => x.role === teacherRole);
      const gapClosed = teacher?.accuracy.every((t, i) => t > base.accuracy[i])
        ? differences.map((d, i) => d / (teacher.accuracy[i] - base.accuracy[i]))
        : undefined;
      paired.push({
        role: r.role,
        against: 'baseline',
        differences,
        mean,
        std,
        spread,
        withinNoise: Math.abs(mean) <= spread,
        ...(gapClosed ? { gapClosed, teacher: teacher!.role } : {}),
      });
    }
  return {
    name: first.name,
    dataset: first.dataset,
    seeds: summaries.map((s) => s.seed),
    runs: [...runs],
    rows,
    paired,
    seconds: summaries.reduce((a, s) => a + s.seconds, 0),
  };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const pts = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}`;

/** The table `kdistill run --seeds` prints. */
export function formatSeeds(s: SeedsSummary): string {
  const w = Math.max(11, ...s.rows.map((r) => r.role.length + 1));
  const lines = [`${s.name}: ${s.seeds.length} seeds (${s.seeds.join(', ')}), ${s.dataset}, ${s.seconds} s`];
  lines.push(`${'role'.padEnd(w)} ${'model'.padEnd(20)} test acc, mean ± std   per seed`);
  for (const r of s.rows)
    lines.push(
      `${r.role.padEnd(w)} ${r.model.replace(/^.*[\\/]/, '').padEnd(20)} ` +
        `${`${pct(r.mean)} ± ${(r.std * 100).toFixed(2)}`.padEnd(22)} ${r.accuracy.map(pct).join(' / ')}`,
    );
  for (const p of s.paired) {
    const closed = p.gapClosed?.map((g) => `${Math.round(g * 100)}%`).join(' / ');
    const gap = closed ? `; gap to ${p.teacher} closed ${closed}` : '';
    const spread = (p.spread * 100).toFixed(2);
    const noise = p.withinNoise ? `within noise (seed spread ${spread})` : `beyond the seed spread of ${spread}`;
    lines.push(
      `${p.role} − ${p.against}: ${pts(p.mean)} ± ${(p.std * 100).toFixed(2)} points (per seed ${p.differences.map(pts).join(' / ')})` +
        `${gap}; ${noise}`,
    );
  }
  return lines.join('\n');
}
