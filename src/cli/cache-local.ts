import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultThreads } from '../runtime/ort.js';
import { KdError } from '../util/errors.js';
import type { FillOptions } from './cache.js';

/** The CLI's own entry, as this process runs it (compiled JavaScript, or TypeScript under tsx). */
const entry = () => fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './main.ts' : './main.js', import.meta.url));

/** The loader flags of this process (tsx's), which a child needs to run the same entry; test-runner flags stay behind. */
function loaderArgs(): string[] {
  const out: string[] = [],
    a = process.execArgv;
  for (let i = 0; i < a.length; i++)
    if (/^--(import|require|loader)=/.test(a[i])) out.push(a[i]);
    else if (/^--(import|require|loader)$/.test(a[i]) && i + 1 < a.length) out.push(a[i], a[++i]);
  return out;
}

/**
 * `cache fill --shards N --local`: N processes of `cache fill --shard i/N`, all writing into one cache
 * directory (each writes shard files of its own, so they never touch the same file), the way N machines of an
 * Indexed Job would. Each process gets an equal share of the worker threads asked for (at least one).
 */
export async function fillLocalShards(file: string, o: FillOptions, n: number): Promise<{ seconds: number }> {
  const workers = Math.max(1, Math.floor((o.workers ? Number(o.workers) : defaultThreads()) / n));
  const flags = (i: number) => [
    ...['--dataset', o.dataset, '--split', o.split, '--batch', o.batch, '--dir', o.dir, '--outputs', o.outputs, '--dtype', o.dtype],
    ...(o.topk ? ['--topk', o.topk] : []),
    ...(['protocol', 'model', 'version'] as const).flatMap((k) => (o[k] === undefined ? [] : [`--${k}`, o[k]!])),
    ...['--workers', String(workers), '--shard', `${i}/${n}`],
  ];
  const t0 = Date.now();
  const codes = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<{ code: number | null; err: string }>((done, fail) => {
          const child = spawn(process.execPath, [...loaderArgs(), entry(), 'cache', 'fill', file, ...flags(i)], {
            stdio: ['ignore', o.quiet ? 'ignore' : 'inherit', 'pipe'],
          });
          let err = '';
          child.stderr.on('data', (d: Buffer) => {
            err += d;
            if (!o.quiet) process.stderr.write(d);
          });
          child.on('error', fail);
          child.on('close', (code) => done({ code, err }));
        }),
    ),
  );
  const failed = codes.findIndex((c) => c.code !== 0);
  if (failed >= 0)
    throw new KdError(
      'CACHE_FILL_FAILED',
      `cache fill --shards ${n} --local: shard ${failed}/${n} exited with ${codes[failed].code}: ` +
        `${codes[failed].err.trim().split('\n').slice(-3).join(' | ')}; what the other shards stored is kept, and running the ` +
        'same command again computes only what is missing',
    );
  const seconds = (Date.now() - t0) / 1000;
  if (!o.quiet) console.log(`${n} shards of ${o.dataset}/${o.split} filled in ${seconds.toFixed(1)} s (${workers} worker(s) each)`);
  return { seconds };
}
