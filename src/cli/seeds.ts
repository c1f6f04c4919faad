import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/index.js';
import type { RunSummary } from '../frontends/run-config.js';
import { writeSeedsReport } from '../report/node/write-report.js';
import { formatSeeds, type SeedsSummary, summarizeSeeds } from '../report/seeds.js';
import { writeAtomic } from '../runtime/storage.js';
import { KdError } from '../util/errors.js';

/** `--seeds 0,1,2`, as `kdistill run`, `train` and `distill` take it. */
export const SEEDS_HELP =
  'run once per seed (e.g. 0,1,2), each in <outDir>/seed-<s>, every stage seed moving with it; prints and writes ' +
  "(seeds.json, report.html) every row's mean ± std and each student's paired difference from the baseline";

/** `--seeds 0,1,2`: distinct integers 0 … 2³²−1. */
export function parseSeeds(list: string): number[] {
  const seeds = list.split(',').map((x) => x.trim());
  const bad = seeds.filter((x) => !/^\d+$/.test(x) || Number(x) > 2 ** 32 - 1);
  if (bad.length || seeds.length === 0)
    throw new KdError(
      'BAD_OPTION',
      `--seeds: '${list}' is not a list of seeds; give integers 0 … 2³²−1 separated by commas, e.g. --seeds 0,1,2`,
    );
  if (new Set(seeds).size !== seeds.length) throw new KdError('BAD_OPTION', `--seeds: '${list}' names a seed twice`);
  return seeds.map(Number);
}

/**
 * The config run at `seed` into `outDir`: the run's seed and every stage's move together, each stage keeping its
 * offset from the run's (a zoo teacher's +1000), so a seed changes the models' initial weights and the data-free
 * samples as well as the batch order.
 */
export function atSeed(cfg: ResolvedConfig, seed: number, outDir: string): ResolvedConfig {
  const shift = (s: number) => (((s - cfg.seed + seed) % 2 ** 32) + 2 ** 32) % 2 ** 32;
  return { ...cfg, seed, outDir, stages: cfg.stages.map((st) => ({ ...st, seed: shift(st.seed) })) };
}

/**
 * Runs `cfg` once per seed into `<outDir>/seed-<s>` through `once` (which starts or resumes a run directory and runs
 * it), then writes `seeds.json` and the seeds report in `outDir`. With `resume`, seeds already started continue.
 */
export async function runSeeds(
  cfg: ResolvedConfig,
  seeds: readonly number[],
  once: (c: ResolvedConfig, resume: boolean) => Promise<RunSummary>,
  opts: { resume?: boolean; log: (line: string) => void },
): Promise<SeedsSummary> {
  const summaries: RunSummary[] = [];
  for (const seed of seeds) {
    const outDir = join(cfg.outDir, `seed-${seed}`);
    opts.log(`— seed ${seed}: ${outDir}`);
    summaries.push(await once(atSeed(cfg, seed, outDir), !!opts.resume && existsSync(join(outDir, 'run.json'))));
  }
  const stats = summarizeSeeds(
    summaries,
    seeds.map((s) => `seed-${s}`),
  );
  writeAtomic(join(cfg.outDir, 'seeds.json'), [`${JSON.stringify(stats, null, 2)}\n`], { what: 'summary' });
  opts.log(formatSeeds(stats));
  try {
    opts.log(`report: ${writeSeedsReport(cfg.outDir, stats)}`);
  } catch (e) {
    opts.log(`report.html not written (${(e as Error).message}); seeds.json and every seed's run are complete`);
  }
  return stats;
}
