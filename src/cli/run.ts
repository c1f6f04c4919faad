import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { configToYaml, loadConfig, readConfigFile } from '../config/node/index.js';
import { methodRegistry } from '../distill/registry.js';
import { configRegistry } from '../frontends/config-registry.js';
import { loadPlugins } from '../frontends/node/plugins.js';
import { RunDir } from '../train/run-dir.js';
import { runExperiment, type RunSummary } from '../frontends/run-config.js';
import { formatSeeds, summarizeSeeds } from '../report/seeds.js';
import { writeSeedsReport } from '../report/node/write-report.js';
import { KdError } from '../util/errors.js';
import { writeAtomic } from '../runtime/storage.js';
import { reportAfterRun } from './report.js';

export { configRegistry } from '../frontends/config-registry.js';

/** `run <config.yaml>` (teacher → baseline → distilled → summary) and `methods` (the registry). */
export function registerRun(program: Command): void {
  program
    .command('run <config>')
    .description(
      'run an experiment from a YAML config: train the teacher if the config names a ' +
        'zoo model, then the baseline and the distilled student; print the comparison',
    )
    .option('--json', 'print the final summary as JSON on stdout')
    .option(
      '--resume',
      "continue an interrupted run in the config's run directory: finished stages " +
        'are reused, the interrupted one continues from its latest checkpoint',
    )
    .option(
      '--seeds <list>',
      'run the config once per seed (e.g. 0,1,2), each in <outDir>/seed-<s>; prints and writes (seeds.json, report.html) ' +
        "every row's mean ± std and each student's paired difference from the baseline",
    )
    .action(async (file: string, o: { json?: boolean; resume?: boolean; seeds?: string }) => {
      const seeds = o.seeds === undefined ? undefined : parseSeeds(o.seeds);
      // Plugins first: the methods and models they register are part of what the config is validated against.
      await loadPlugins(file);
      const cfg = loadConfig(file, configRegistry());
      const log = (l: string) => (o.json ? process.stderr.write(`${l}\n`) : console.log(l));
      const once = async (c: typeof cfg, resume: boolean): Promise<RunSummary> => {
        const rd = new RunDir(c.outDir);
        if (resume) rd.resume(configToYaml(c), process.argv.slice(1));
        else rd.start({ configText: readConfigFile(file), resolvedText: configToYaml(c), seed: c.seed, command: process.argv.slice(1) });
        const summary = await runExperiment(c, { runDir: rd, log, resume });
        await reportAfterRun(c.outDir, log);
        return summary;
      };
      if (seeds === undefined) {
        const summary = await once(cfg, !!o.resume);
        if (o.json) console.log(JSON.stringify(summary, null, 2));
        else console.log(`run directory: ${cfg.outDir}`);
        return;
      }
      const summaries: RunSummary[] = [];
      for (const seed of seeds) {
        const outDir = join(cfg.outDir, `seed-${seed}`);
        log(`— seed ${seed}: ${outDir}`);
        // With --resume, a seed that had not started yet starts; the others continue where they stopped.
        summaries.push(await once({ ...cfg, seed, outDir }, !!o.resume && existsSync(join(outDir, 'run.json'))));
      }
      const stats = summarizeSeeds(
        summaries,
        seeds.map((s) => `seed-${s}`),
      );
      writeAtomic(join(cfg.outDir, 'seeds.json'), [`${JSON.stringify(stats, null, 2)}\n`], { what: 'summary' });
      log(formatSeeds(stats));
      try {
        log(`report: ${writeSeedsReport(cfg.outDir, stats)}`);
      } catch (e) {
        log(`report.html not written (${(e as Error).message}); seeds.json and every seed's run are complete`);
      }
      if (o.json) console.log(JSON.stringify(stats, null, 2));
      else console.log(`run directory: ${cfg.outDir} (one folder per seed)`);
    });

  program
    .command('methods')
    .description('list the registered distillation methods with their kind and default options')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      // Methods that compare features have required options (the node names), so defaults are what parses.
      const defaultsOf = (m: { options: { safeParse(v: unknown): { success: boolean; data?: unknown } } }) => {
        const r = m.options.safeParse({});
        return r.success
          ? r.data
          : (m.options.safeParse({ teacherNode: '<teacher node>', studentNode: '<student node>' }).data ??
              m.options.safeParse({ teacherNodes: ['<lower>', '<upper>'], studentNodes: ['<lower>', '<upper>'] }).data ??
              // Other required options (byot's nodes): the defaults of the optional ones.
              (m.options as { partial?: () => { safeParse(v: unknown): { data?: unknown } } }).partial?.().safeParse({}).data ??
              {});
      };
      const rows = [...methodRegistry().values()].map((m) => ({
        name: m.name,
        kind: m.kind,
        defaults: defaultsOf(m),
        description: m.description,
      }));
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      for (const r of rows)
        console.log(`${r.name.padEnd(8)} ${r.kind.padEnd(9)} ${JSON.stringify(r.defaults).padEnd(28)} ${r.description}`);
    });
}

/** `--seeds 0,1,2`: distinct non-negative integers. */
function parseSeeds(list: string): number[] {
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
