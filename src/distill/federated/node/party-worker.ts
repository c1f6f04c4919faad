// A party's worker thread: it builds the party from what the simulation deals it once, then answers the
// coordinator's requests one at a time. Nothing else crosses the thread boundary.
import '../../../node-setup.js';
import { parentPort, workerData } from 'node:worker_threads';
import { Party, type PartySetup } from '../party.js';

interface Request {
  readonly id: number;
  readonly method:
    | 'trainPrivate'
    | 'trainPublic'
    | 'publicLogits'
    | 'digest'
    | 'labelLogits'
    | 'trainWithLabelTargets'
    | 'params'
    | 'setParams'
    | 'evaluate';
  readonly args: unknown[];
}

const party = new Party(workerData as PartySetup);
parentPort!.on('message', async (m: Request | { close: true }) => {
  if ('close' in m) {
    parentPort!.close();
    return;
  }
  try {
    const fn = party[m.method] as (...a: unknown[]) => unknown;
    const result = await fn.apply(party, m.args);
    parentPort!.postMessage({ id: m.id, result });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message ?? String(e) });
  }
});
parentPort!.postMessage({ ready: true });
