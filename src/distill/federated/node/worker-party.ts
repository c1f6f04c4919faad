import { Worker } from 'node:worker_threads';
import { KdError } from '../../../util/errors.js';
import type { PartySetup } from '../party.js';
import { registerPartyStarter } from '../start.js';
import { describePayload, type PartyLink, type ProtocolMessage } from '../protocol.js';

/** The worker entry beside this file: the compiled .js, or the .ts source when run through tsx. */
const ENTRY = new URL(`./party-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** A party in a worker thread of its own: requests and replies are structured-cloned, so no memory is shared. */
export class WorkerParty implements PartyLink {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    readonly index: number,
    private readonly worker: Worker,
    private readonly messages: ProtocolMessage[],
  ) {
    worker.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.error !== undefined) w.reject(new KdError('PARTY_FAILED', `party ${index}: ${m.error}`));
      else w.resolve(m.result);
    });
    worker.on('error', (e) => {
      for (const w of this.waiting.values()) w.reject(new KdError('PARTY_FAILED', `party ${index}'s worker failed: ${e.message}`));
      this.waiting.clear();
    });
  }

  /** Starts the party's worker with its setup (its own split, copied into the worker). */
  static async start(setup: PartySetup, messages: ProtocolMessage[]): Promise<WorkerParty> {
    // From TypeScript sources (tests, tsx scripts) the worker registers tsx's loader before importing the entry:
    // Node 20 does not carry the parent's --import hooks into worker threads.
    const worker = ENTRY.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(ENTRY.href)}); })`, {
          eval: true,
          workerData: setup,
        })
      : new Worker(ENTRY, { workerData: setup });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', (e) => reject(new KdError('PARTY_FAILED', `party ${setup.index} did not start: ${e.message}`)));
    });
    return new WorkerParty(setup.index, worker, messages);
  }

  async call<T>(
    method: string,
    args: unknown[],
    log?: { round: number; kind: string; down?: Record<string, unknown>; up?: (r: T) => Record<string, unknown> },
  ): Promise<T> {
    const id = this.next++;
    if (log?.down)
      this.messages.push({ round: log.round, party: this.index, direction: 'down', kind: log.kind, ...describePayload(log.down) });
    const result = await new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, args });
    });
    if (log?.up)
      this.messages.push({ round: log.round, party: this.index, direction: 'up', kind: log.kind, ...describePayload(log.up(result)) });
    return result;
  }

  async release(): Promise<void> {
    this.worker.postMessage({ close: true });
    await this.worker.terminate();
  }
}

registerPartyStarter((setup, messages) => WorkerParty.start(setup, messages));
