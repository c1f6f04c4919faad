import type { Rng } from '../../../util/rng.js';
import type { PartyLink } from '../protocol.js';

/** What a federated algorithm runs with: the parties (reached only by messages), its budget and who shows up each round. */
export interface FedContext {
  readonly parties: readonly PartyLink[];
  readonly rounds: number;
  /** The parties that take part in round r (1-based); the others are dropped for that round. */
  present(round: number): number[];
  readonly classes: number;
  /** Private samples of each party (FedAvg's weights; known to the coordinator as the protocol's metadata). */
  readonly sampleCounts: readonly number[];
  /** Public transfer set size (FedMD). */
  readonly publicSize: number;
  readonly options: FedOptions;
  readonly rng: Rng;
  /** Runs `f` for each item, at most `concurrency` at a time (parties share the machine's cores). */
  each<T>(items: readonly number[], f: (p: number) => Promise<T>): Promise<T[]>;
  log(event: Record<string, unknown>): void;
}

/** Budgets and weights shared by the algorithms (each reads what it uses). */
export interface FedOptions {
  /** Local epochs on private data per round. */
  readonly localEpochs: number;
  /** FedMD: epochs on private data before the first round (its transfer-learning phase). */
  readonly initEpochs: number;
  /** Epochs on the labelled public set before the protocol (with `public.labelled`). */
  readonly publicEpochs: number;
  /** FedMD: epochs of digesting the consensus per round. */
  readonly digestEpochs: number;
  /** FedMD: public samples scored per round. */
  readonly publicPerRound: number;
  /** FD: weight of the distillation term towards the global per-label scores. */
  readonly distillWeight: number;
}

/** Element-wise weighted mean of equally long arrays. */
export function weightedMean(arrays: readonly Float32Array[], weights: readonly number[]): Float32Array {
  const out = new Float32Array(arrays[0].length);
  const total = weights.reduce((a, b) => a + b, 0);
  arrays.forEach((a, k) => {
    const w = weights[k] / total;
    for (let i = 0; i < out.length; i++) out[i] += w * a[i];
  });
  return out;
}
