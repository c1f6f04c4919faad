import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeComparisonReport, writeRunReport } from '../report/node/write-report.js';
import { KdError } from '../util/errors.js';

/**
 * Writes `<dir>/report.html` after a run. A report that cannot be written is a warning, never a lost run: the
 * models, checkpoints and summary are already on disk, and `kdistill report <dir>` can try again.
 */
export async function reportAfterRun(dir: string, log: (line: string) => void): Promise<void> {
  try {
    log(`report: ${await writeRunReport(dir)}`);
  } catch (e) {
    log(`report.html not written (${(e as Error).message}); the run's files are complete: retry with \`kdistill report ${dir}\``);
  }
}

/** `kdistill report <run-dir> [<run-dir> ...]`: rebuilds a run's report.html, or writes one page comparing several. */
export function registerReport(program: Command): void {
  program
    .command('report <runDirs...>')
    .description('rebuild <run-dir>/report.html, or with several run directories write one page comparing them (--out)')
    .option('--out <file>', 'where the comparison of several runs goes', 'report.html')
    .action(async (dirs: string[], o: { out: string }) => {
      if (dirs.length === 1) return console.log(await writeRunReport(dirs[0]));
      if (new Set(dirs.map((d) => resolve(d))).size !== dirs.length)
        throw new KdError('BAD_OPTION', 'report: a run directory is named twice');
      console.log(writeComparisonReport(dirs, o.out));
    });
}
