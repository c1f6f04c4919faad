import { KdError } from '../../../util/errors.js';
import type { FedContext } from './context.js';
import { weightedMean } from './context.js';

/**
 * FedAvg (McMahan et al. 2017), the comparison every federated method is measured against: parties of one
 * architecture start from the coordinator's parameters each round, train locally, and the coordinator averages
 * what the present parties return, weighted by their sample counts. Whole parameter vectors travel both ways.
 * Returns the final global parameters (every party ends with them).
 */
export async function fedavg(c: FedContext, models: readonly string[]): Promise<Float32Array[]> {
  if (new Set(models).size !== 1)
    throw new KdError(
      'BAD_CONFIG',
      `federated.algorithm fedavg averages parameters, so every party needs the same model; they have ${[...new Set(models)].join(', ')}`,
    );
  // The starting point is party 0's initialisation: logged as round 0, before the rounds whose bytes the summary counts.
  let global = await c.parties[0].call<Float32Array[]>('params', [], { round: 0, kind: 'init-params', up: (params) => ({ params }) });
  for (let round = 1; round <= c.rounds; round++) {
    const present = c.present(round);
    if (!present.length) continue;
    const ups = await c.each(present, async (p) => {
      const party = c.parties[p];
      await party.call('setParams', [global], { round, kind: 'params', down: { params: global } });
      await party.call('trainPrivate', [c.options.localEpochs]);
      return party.call<Float32Array[]>('params', [], { round, kind: 'params', up: (params) => ({ params }) });
    });
    const weights = present.map((p) => c.sampleCounts[p]);
    global = global.map((_, t) =>
      weightedMean(
        ups.map((u) => u[t]),
        weights,
      ),
    );
    c.log({ event: 'round', algorithm: 'fedavg', round, present });
  }
  await c.each(
    c.parties.map((p) => p.index),
    (p) => c.parties[p].call('setParams', [global]),
  );
  return global;
}
