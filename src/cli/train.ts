import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, configToYaml, parseConfig } from '../config/node/index.js';
import { RunDir } from '../train/run-dir.js';
import { runExperiment } from '../frontends/run-config.js';
import { reportAfterRun } from './report.js';
import { parseSeeds, runSeeds, SEEDS_HELP } from './seeds.js';
import { KdError } from '../util/errors.js';
import { readInput } from '../runtime/storage.js';
import { configRegistry } from '../frontends/config-registry.js';

interface Common {
  dataset: 'mnist' | 'fashion-mnist';
  epochs: string;
  batch: string;
  lr: string;
  seed: string;
  threads?: string;
  out: string;
  seeds?: string;
}

function fraction(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new KdError('BAD_OPTION', `--${flag} must be a number from 0 to 1, got '${v}'`);
  return n;
}

function integer(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new KdError('BAD_OPTION', `--${flag} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new KdError('BAD_OPTION', `--${flag} must be a positive number, got '${v}'`);
  return n;
}

/** The parts of a config the flags of `train` and `distill` set: data, seed, recipe (Adam, cosine decay), threads, run directory. */
function common(o: Common, name: string): Record<string, unknown> {
  if (o.dataset !== 'mnist' && o.dataset !== 'fashion-mnist')
    throw new KdError(
      'BAD_OPTION',
      `--dataset must be mnist or fashion-mnist, got '${o.dataset}' (own data: write a config for \`kdistill run\`)`,
    );
  return {
    name,
    seed: integer(o.seed, 'seed', 0),
    outDir: o.out,
    dataset: { name: o.dataset },
    epochs: integer(o.epochs, 'epochs', 1),
    batchSize: integer(o.batch, 'batch', 1),
    optimizer: { name: 'adam', lr: num(o.lr, 'lr') },
    schedule: { kind: 'cosine' },
    ...(o.threads ? { threads: integer(o.threads, 'threads', 1) } : {}),
  };
}

/**
 * Runs the config the flags describe through the same core as `kdistill run` (written to the run directory as
 * `config.yaml`, so the run can be repeated with `kdistill run <out>/config.yaml`).
 */
async function runFlags(config: Record<string, unknown>, log: (line: string) => void, seedList?: string) {
  const seeds = seedList === undefined ? undefined : parseSeeds(seedList);
  const text = `# written by: kdistill ${process.argv.slice(2).join(' ')}\n${stringify(config)}`;
  let cfg: ReturnType<typeof parseConfig>;
  try {
    cfg = parseConfig(text, path.join(process.cwd(), 'command-line.yaml'), configRegistry());
  } catch (e) {
    // The config is made from flags: its problems are reported without a file position the user never wrote.
    if (!(e instanceof ConfigError)) throw e;
    throw new KdError('BAD_OPTION', e.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  }
  const once = async (c: typeof cfg) => {
    const rd = new RunDir(c.outDir);
    rd.start({ configText: text, resolvedText: configToYaml(c), seed: c.seed, command: process.argv.slice(1) });
    const summary = await runExperiment(c, { runDir: rd, log });
    await reportAfterRun(c.outDir, log);
    return summary;
  };
  if (seeds) {
    const stats = await runSeeds(cfg, seeds, once, { log });
    log(`run directory: ${cfg.outDir} (one folder per seed)`);
    return { stats };
  }
  const summary = await once(cfg);
  log(`run directory: ${cfg.outDir}`);
  return { summary };
}

function addCommon(c: Command, epochs: string): Command {
  return c
    .option('--dataset <name>', 'mnist | fashion-mnist', 'mnist')
    .option('--epochs <n>', 'training epochs', epochs)
    .option('--batch <n>', 'batch size', '128')
    .option('--lr <x>', 'peak learning rate (Adam, cosine decay)', '0.001')
    .option('--seed <n>', 'seed for initialisation, data order and dropout', '0')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .option('--out <dir>', 'output directory', 'runs/latest')
    .option('--seeds <list>', SEEDS_HELP);
}

/**
 * `train` (a zoo model from scratch: a one-stage run) and `distill` (teacher → baseline student → distilled
 * student: the classic config), both thin front-ends over `runExperiment`.
 */
export function registerTrain(program: Command): void {
  addCommon(
    program
      .command('train <model>')
      .description('train a model from the zoo (e.g. cnn-32-64-128, mlp-784-800-800-10, lenet5) and export it as ONNX'),
    '5',
  ).action(async (name: string, o: Common) => {
    const config = { ...common(o, name), stages: [{ name, model: name }] };
    const { summary: s, stats } = await runFlags(config, (l) => console.error(l), o.seeds);
    if (stats) return console.log(JSON.stringify(stats));
    const r = s!.rows[0];
    console.log(
      JSON.stringify({
        model: name,
        dataset: o.dataset,
        testAccuracy: r.testAccuracy,
        testLoss: r.testLoss,
        parameters: r.parameters,
        onnx: path.join(o.out, r.file),
      }),
    );
  });

  addCommon(
    program.command('distill').description('train (or load) a teacher, then a student without and with Hinton KD; print the comparison'),
    '5',
  )
    .option('--teacher <model|file.onnx>', 'zoo model to train as teacher, or an ONNX file', 'cnn-32-64-128')
    .option('--teacher-epochs <n>', 'epochs for training the teacher', '3')
    .option('--student <model>', 'zoo model of the student', 'cnn-4-8')
    .option('--temperature <T>', 'softmax temperature', '4')
    .option('--alpha <a>', 'weight of the hard-label cross-entropy (1 − alpha on the KD term)', '0.5')
    .action(async (o: Common & { teacher: string; teacherEpochs: string; student: string; temperature: string; alpha: string }) => {
      // Options are checked before anything trains.
      const T = num(o.temperature, 'temperature');
      const alpha = fraction(o.alpha, 'alpha');
      const file = o.teacher.endsWith('.onnx') ? path.resolve(o.teacher) : undefined;
      if (file) readInput(file, 'teacher');
      const config = {
        ...common(o, 'distill'),
        teacher: file ? { file } : { model: o.teacher, train: { epochs: integer(o.teacherEpochs, 'teacher-epochs', 1) } },
        student: { model: o.student },
        loss: [
          { method: 'ce', weight: alpha },
          { method: 'kd', weight: 1 - alpha, options: { temperature: T } },
        ],
      };
      await runFlags(config, (l) => console.log(l), o.seeds);
    });
}
