import { KdError } from '../../util/errors.js';
import type { PartySetup } from './party.js';
import type { PartyLink, ProtocolMessage } from './protocol.js';

/** Starts a party where the platform isolates it (a worker thread on Node). */
export type PartyStarter = (setup: PartySetup, messages: ProtocolMessage[]) => Promise<PartyLink>;

let starter: PartyStarter | undefined;

/** Registered at startup by the platform (Node: `distill/federated/node/worker-party.ts`). */
export function registerPartyStarter(s: PartyStarter): void {
  starter = s;
}

export function partyStarter(): PartyStarter {
  if (!starter)
    throw new KdError(
      'UNSUPPORTED',
      'federated runs need a party runtime: on Node, import kdistill (node-setup) first; browsers have none yet',
    );
  return starter;
}
