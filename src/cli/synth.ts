import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { synthesize, synthesizer, synthesizerNames, teacherClasses } from '../distill/datafree/index.js';
import { tileSamples } from '../distill/datafree/grid.js';
import { encodePng } from '../distill/datafree/node/png.js';
import { parseOnnx } from '../graph/onnx.js';
import { declaredInputs } from '../runtime/inference.js';
import { readInput } from '../runtime/storage.js';
import { adaptTeacher } from '../distill/teachers/adapt.js';
import { KdError } from '../util/errors.js';

/** `--option key=value` pairs as a method's options (numbers and JSON values parsed, the rest strings). */
function optionsOf(pairs: string[]): Record<string, unknown> {
  return Object.fromEntries(
    pairs.map((p) => {
      const at = p.indexOf('=');
      if (at < 1) throw new KdError('BAD_OPTION', `synth --option '${p}': write key=value (e.g. --option steps=200)`);
      const v = p.slice(at + 1);
      try {
        return [p.slice(0, at), JSON.parse(v)];
      } catch {
        return [p.slice(0, at), v];
      }
    }),
  );
}

/** The per-sample shape the teacher declares, or `--shape`; one must be fixed. */
function sampleShapeOf(bytes: Uint8Array, file: string, given?: string): number[] {
  if (given) return given.split(',').map(Number);
  const dims = declaredInputs(parseOnnx(bytes, file))[0]?.dims?.slice(1);
  if (!dims?.every((d) => typeof d === 'number'))
    throw new KdError(
      'BAD_OPTION',
      `${file} does not fix its sample shape (input [${dims?.join(', ') ?? '?'}]); give --shape, e.g. --shape 1,28,28`,
    );
  return dims as number[];
}

/** `kdistill synth <teacher.onnx> --method m --n 64 --out dir/`: what a data-free method makes from a teacher, as a grid. */
export function registerSynth(program: Command): void {
  program
    .command('synth <teacher.onnx>')
    .description(
      'samples a data-free method makes from the teacher alone, written as grid.png and samples.json ' +
        `(methods: ${synthesizerNames().join(', ')})`,
    )
    .requiredOption('--method <name>', 'the data-free method')
    .option('--n <count>', 'samples to make', '64')
    .option('--out <dir>', 'where grid.png and samples.json go', 'synth')
    .option('--option <key=value...>', "the method's options (e.g. --option steps=200 --option lr=0.05)", [])
    .option('--seed <n>', 'seed of every random draw', '0')
    .option('--range <lo,hi>', 'the range of a sample value the teacher was trained on', '0,1')
    .option('--shape <c,h,w>', "a sample's shape when the teacher's input does not fix it")
    .option('--threads <n>', 'ONNX Runtime intra-op threads')
    .action(
      async (
        file: string,
        o: { method: string; n: string; out: string; option: string[]; seed: string; range: string; shape?: string; threads?: string },
      ) => {
        synthesizer(o.method);
        // As a config's teacher file: one output of any name is its logits, a fixed batch dimension is opened.
        const bytes = adaptTeacher(readInput(file, 'teacher'), { source: file });
        const sampleShape = sampleShapeOf(bytes, file, o.shape);
        const range = o.range.split(',').map(Number) as [number, number];
        if (range.length !== 2 || !(range[0] < range[1]))
          throw new KdError('BAD_OPTION', `synth --range '${o.range}': give lo,hi with lo < hi`);
        const n = Number(o.n);
        if (!(Number.isInteger(n) && n > 0)) throw new KdError('BAD_OPTION', `synth --n '${o.n}': give a positive integer`);
        const t0 = Date.now();
        const set = await synthesize(
          {
            teacher: bytes,
            source: file,
            sampleShape,
            classes: await teacherClasses(bytes, sampleShape, file, o.threads ? Number(o.threads) : undefined),
            n,
            seed: Number(o.seed),
            range,
            threads: o.threads ? Number(o.threads) : undefined,
            log: (e) => {
              if (e.event === 'warning') console.error(`warning: ${e.message}`);
              if (e.event === 'synth-batch')
                console.error(`${e.method}: ${e.samples}/${e.of} samples, objective ${Number(e.loss).toFixed(4)}`);
            },
          },
          { method: o.method, options: optionsOf(o.option) },
        );
        mkdirSync(o.out, { recursive: true });
        const img = tileSamples(set.data.x as Float32Array, [n, ...sampleShape], range);
        writeFileSync(join(o.out, 'grid.png'), encodePng(img));
        writeFileSync(
          join(o.out, 'samples.json'),
          JSON.stringify({
            teacher: file,
            method: o.method,
            shape: [n, ...sampleShape],
            range,
            labels: Array.from(set.data.y),
            classCounts: set.classCounts,
          }),
        );
        console.log(
          `${n} ${o.method} samples in ${((Date.now() - t0) / 1000).toFixed(1)} s; the teacher's classes: ${set.classCounts.join(' ')}`,
        );
        console.log(`grid: ${join(o.out, 'grid.png')}`);
      },
    );
}
