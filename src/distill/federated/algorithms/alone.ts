import type { FedContext } from './context.js';

/** No communication: each party trains on its own split for the whole budget (rounds × local epochs), the baseline. */
export async function alone(c: FedContext): Promise<void> {
  await c.each(
    c.parties.map((p) => p.index),
    (p) => c.parties[p].call('trainPrivate', [c.rounds * c.options.localEpochs]),
  );
}
