import type { Command } from 'commander';
import { DEFAULT_CACHE_DIR } from '../distill/teachers/cache.js';
import { mergeCaches } from '../distill/teachers/node/merge.js';
import { KdError } from '../util/errors.js';
import { fillCache, positive, type FillOptions } from './cache-fill.js';
import { fillLocalShards } from './cache-local.js';

export { fillCache, type FillOptions } from './cache-fill.js';

/** `cache fill`: a dataset's teacher outputs computed once, by several worker threads, into the teacher cache. */
export function registerCache(program: Command): void {
  const cache = program.command('cache').description('the on-disk cache of teacher outputs');
  cache
    .command('fill <teacher>')
    .description(
      "precompute a dataset's teacher outputs into the cache (unaugmented samples, as training without augmentation reads them); " +
        'the teacher is an ONNX file or the URL of a server',
    )
    .option('--dataset <name>', 'mnist | fashion-mnist', 'mnist')
    .option('--split <split>', 'train | test', 'train')
    .option('--workers <n>', 'teacher worker threads (default: all cores)')
    .option('--batch <n>', 'samples per teacher call', '256')
    .option('--dir <dir>', 'cache directory', DEFAULT_CACHE_DIR)
    .option('--outputs <names>', 'teacher outputs to cache, comma-separated', 'logits')
    .option('--dtype <type>', 'float32 | float16', 'float32')
    .option('--topk <k>', 'store only the k most probable classes of logits')
    .option(
      '--shard <i/N>',
      'fill only shard i of N (0-based; the same partition on every machine), e.g. $JOB_COMPLETION_INDEX/8 in an Indexed Job',
    )
    .option('--shards <N>', 'with --local: fill all N shards, one process each, into --dir')
    .option('--local', 'run the --shards processes on this machine')
    .option('--protocol <p>', 'a teacher given by URL: open-inference (KServe v2 / Triton) | kdistill', 'open-inference')
    .option('--model <name>', "a teacher given by URL: the served model's name (Open Inference)")
    .option('--version <v>', "a teacher given by URL: the model's version, part of the cache key (required)")
    .action(async (file: string, o: FillOptions) => {
      if (o.shards !== undefined) {
        if (!o.local)
          throw new KdError(
            'BAD_OPTION',
            `--shards ${o.shards} runs the shards here with --local; to spread them over machines run one ` +
              "'cache fill --shard i/N' per machine (deploy/kubernetes/ has an Indexed Job that does) and 'cache merge' their directories",
          );
        if (o.shard) throw new KdError('BAD_OPTION', '--shard i/N fills one shard, --shards N all of them: give one of the two');
        await fillLocalShards(file, o, positive(o.shards, 'shards'));
      } else await fillCache(file, o);
    });
  cache
    .command('merge <cache-dir...>')
    .description('combine teacher caches (e.g. one per shard) into one, checking they come from one teacher and fill')
    .requiredOption('--out <dir>', 'the merged cache directory (may be one of the inputs)')
    .action((dirs: string[], o: { out: string }) => {
      const r = mergeCaches(dirs, o.out);
      for (const s of r.stores)
        console.log(`${r.teacherDir}/${s.store}: ${s.entries} samples (${s.added} added, ${s.duplicates} found in more than one input)`);
      if (r.shards)
        console.log(
          `shards present: ${r.shards.present.join(', ')} of ${r.shards.count}` +
            (r.shards.missing.length ? `; missing: ${r.shards.missing.join(', ')} (fill them with --shard i/${r.shards.count})` : ''),
        );
    });
}
