import type { Command } from 'commander';
import { synthesizer, synthesizerNames } from '../distill/datafree/index.js';
import { configToYaml, loadConfig, readConfigFile } from '../config/node/index.js';
import { methodRegistry } from '../distill/registry.js';
import { configRegistry } from '../frontends/config-registry.js';
import { loadPlugins } from '../frontends/node/plugins.js';
import { RunDir } from '../train/run-dir.js';
import { runExperiment, type RunSummary } from '../frontends/run-config.js';
import { reportAfterRun } from './report.js';
import { parseSeeds, runSeeds, SEEDS_HELP } from './seeds.js';

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
    .option('--seeds <list>', SEEDS_HELP)
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
      const stats = await runSeeds(cfg, seeds, once, { resume: o.resume, log });
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
      const rows = [
        ...[...methodRegistry().values()].map((m) => ({ name: m.name, kind: m.kind, defaults: defaultsOf(m), description: m.description })),
        // Data-free methods make the training inputs (`dataFree:` in a config), so any loss above can be used on them.
        ...synthesizerNames().map((n) => {
          const s = synthesizer(n);
          return { name: n, kind: 'data-free', defaults: defaultsOf(s), description: s.description };
        }),
      ];
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      for (const r of rows)
        console.log(`${r.name.padEnd(8)} ${r.kind.padEnd(11)} ${JSON.stringify(r.defaults).padEnd(28)} ${r.description}`);
    });
}
