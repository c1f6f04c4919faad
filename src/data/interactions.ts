/**
 * User–item interactions as classification data: a sample is one interaction, its input the user's id (int64 [1]) and
 * its label the item, so a model scores every item (`logits` [N, items]) and the classifier core trains it with a
 * full softmax over items. Splits are by time within each user, the protocol of Caser and of Ranking Distillation
 * (Tang & Wang 2018): the latest 20% of each user's interactions are the test set, the 10% before them the validation
 * set when asked, the rest training. Each split knows every user's items that ranking must skip
 * (`Interactions.known`): for training and validation the training items, for the test set the training and
 * validation items.
 */
import { KdError } from '../util/errors.js';
import type { Dataset } from './dataset.js';

/** The users and items of interaction data, and each user's items a ranking of this split leaves out. */
export interface Interactions {
  readonly users: number;
  readonly items: number;
  /** User u's known items are `items[offsets[u] .. offsets[u + 1])`, ascending. */
  readonly known: { readonly offsets: Int32Array; readonly items: Int32Array };
  /** The items' names (movie titles), by item index. */
  readonly itemNames?: readonly string[];
}

/** A dataset of interactions: `ids` (and `x`) hold each sample's user, `y` its item. */
export interface InteractionDataset extends Dataset {
  readonly kind: 'interactions';
  readonly x: Float32Array;
  readonly ids: Int32Array;
  readonly interactions: Interactions;
}

/** A log of interactions, one row each, users and items already numbered from 0. */
export interface InteractionLog {
  readonly name: string;
  readonly users: number;
  readonly items: number;
  readonly user: Int32Array;
  readonly item: Int32Array;
  /** When each happened (any increasing unit); ties keep the log's order. */
  readonly time: Float64Array;
  readonly itemNames?: readonly string[];
}

/** The splits of an interaction log (see the file's comment). */
export interface InteractionSplits {
  readonly train: InteractionDataset;
  readonly val?: InteractionDataset;
  readonly test: InteractionDataset;
  readonly users: number;
  readonly items: number;
}

/**
 * Splits each user's interactions by time: the latest `test` share (at least one) is the test set, the `validation`
 * share before it (at least one, when above 0) the validation set, the rest (at least one) training. Users with too few
 * interactions for all three stay in training only. Ties in time keep the log's order.
 */
export function timeSplit(log: InteractionLog, o: { test?: number; validation?: number } = {}): InteractionSplits {
  const testShare = o.test ?? 0.2,
    valShare = o.validation ?? 0;
  if (!(testShare > 0 && testShare < 1) || !(valShare >= 0 && testShare + valShare < 1))
    throw new KdError('BAD_ARGUMENT', `time split of '${log.name}': test ${testShare} and validation ${valShare} must leave some training`);
  const n = log.user.length;
  const byUser: number[][] = Array.from({ length: log.users }, () => []);
  for (let r = 0; r < n; r++) byUser[log.user[r]].push(r);
  const part = new Uint8Array(n); // 0 train, 1 validation, 2 test
  for (const rows of byUser) {
    const m = rows.length;
    const nTest = Math.max(1, Math.round(testShare * m));
    const nVal = valShare > 0 ? Math.max(1, Math.round(valShare * m)) : 0;
    if (m - nTest - nVal < 1) continue;
    rows.sort((a, b) => log.time[a] - log.time[b] || a - b);
    for (let j = m - nTest; j < m; j++) part[rows[j]] = 2;
    for (let j = m - nTest - nVal; j < m - nTest; j++) part[rows[j]] = 1;
  }
  const validation = valShare > 0;
  const trainKnown = knownOf(log, part, [0]);
  const testKnown = validation ? knownOf(log, part, [0, 1]) : trainKnown;
  const make = (p: number, name: string, known: Interactions['known']) =>
    interactionDataset(log, rowsWhere(part, p), `${log.name}/${name}`, {
      users: log.users,
      items: log.items,
      known,
      ...(log.itemNames ? { itemNames: log.itemNames } : {}),
    });
  return {
    train: make(0, 'train', trainKnown),
    ...(validation ? { val: make(1, 'val', trainKnown) } : {}),
    test: make(2, 'test', testKnown),
    users: log.users,
    items: log.items,
  };
}

function rowsWhere(part: Uint8Array, p: number): Int32Array {
  let m = 0;
  for (const v of part) if (v === p) m++;
  const rows = new Int32Array(m);
  let k = 0;
  for (let r = 0; r < part.length; r++) if (part[r] === p) rows[k++] = r;
  return rows;
}

/** Each user's items in the given parts, deduplicated and ascending. */
function knownOf(log: InteractionLog, part: Uint8Array, parts: readonly number[]): Interactions['known'] {
  const sets: Set<number>[] = Array.from({ length: log.users }, () => new Set());
  for (let r = 0; r < part.length; r++) if (parts.includes(part[r])) sets[log.user[r]].add(log.item[r]);
  const offsets = new Int32Array(log.users + 1);
  sets.forEach((s, u) => (offsets[u + 1] = offsets[u] + s.size));
  const items = new Int32Array(offsets[log.users]);
  sets.forEach((s, u) => items.set(Int32Array.from(s).sort(), offsets[u]));
  return { offsets, items };
}

function interactionDataset(log: InteractionLog, rows: Int32Array, name: string, inter: Interactions): InteractionDataset {
  const m = rows.length;
  const ids = new Int32Array(m),
    y = new Int32Array(m);
  for (let k = 0; k < m; k++) {
    ids[k] = log.user[rows[k]];
    y[k] = log.item[rows[k]];
  }
  return {
    name,
    kind: 'interactions',
    x: Float32Array.from(ids),
    ids,
    y,
    n: m,
    sampleShape: [1],
    numClasses: log.items,
    sourceIndex: rows,
    interactions: inter,
  };
}

/**
 * Fills `out` ([size, items], row-major) with 1 where the user of row i (`users[i]`) has a known item and 0 elsewhere:
 * the mask ranking distillation takes to leave a user's training items out of the teacher's top-K.
 */
export function knownMask(inter: Interactions, users: ArrayLike<number | bigint>, size: number, out: Float32Array): Float32Array {
  const { offsets, items } = inter.known;
  out.fill(0, 0, size * inter.items);
  for (let i = 0; i < size; i++) {
    const u = Number(users[i]);
    if (!(u >= 0 && u < inter.users))
      throw new KdError('BAD_ARGUMENT', `known items of user ${u}: the data has users 0 to ${inter.users - 1}`);
    const row = i * inter.items;
    for (let j = offsets[u]; j < offsets[u + 1]; j++) out[row + items[j]] = 1;
  }
  return out;
}

/** How an interaction dataset is read: where its files are, which ratings count, which items are kept, the split. */
export interface InteractionsOptions {
  /** The folder holding the data (the package's default location when absent). */
  readonly path?: string;
  /** Ratings below this are not interactions (default 0: every rating is one). */
  readonly minRating?: number;
  /** Items with fewer interactions (over the whole log) are dropped, and with them their interactions (default 1: none). */
  readonly minItemInteractions?: number;
  /** The latest share of each user's interactions held out as the test set (default 0.2). */
  readonly test?: number;
  /** The share before the test set held out as the validation set (default 0: none). */
  readonly validation?: number;
}

/** Loads the splits of a named interaction dataset (an installed package on Node). */
export type InteractionsLoader = (o: InteractionsOptions) => InteractionSplits;

const loaders = new Map<string, InteractionsLoader>();

/** Makes an interaction dataset loadable by name in configs (Node registers `movielens` when kdistill is imported). */
export function registerInteractionsDataset(name: string, load: InteractionsLoader): void {
  loaders.set(name, load);
}

/** The splits of the interaction dataset called `name`; UNKNOWN_DATASET names the ones this runtime has. */
export function interactionsDataset(name: string, o: InteractionsOptions = {}): InteractionSplits {
  const load = loaders.get(name);
  if (!load)
    throw new KdError(
      'UNKNOWN_DATASET',
      `the interaction dataset '${name}' is not available here` +
        (loaders.size ? `; this runtime has ${[...loaders.keys()].map((k) => `'${k}'`).join(', ')}` : '') +
        ' (its reader is Node-only: import kdistill on Node).',
    );
  return load(o);
}

/**
 * Numbers the users and items of a raw rating log from 0 (in order of first appearance of their ids, sorted), keeping
 * ratings of at least `minRating` and items with at least `minItemInteractions` of them.
 */
export function ratingLog(
  name: string,
  raw: { user: ArrayLike<number>; item: ArrayLike<number>; rating: ArrayLike<number>; time: ArrayLike<number> },
  o: { minRating?: number; minItemInteractions?: number; itemName?: (id: number) => string | undefined } = {},
): InteractionLog & { readonly userIds: Int32Array; readonly itemIds: Int32Array } {
  const minRating = o.minRating ?? 0,
    minItem = o.minItemInteractions ?? 1;
  const n = raw.user.length;
  const counts = new Map<number, number>();
  for (let r = 0; r < n; r++) if (raw.rating[r] >= minRating) counts.set(raw.item[r], (counts.get(raw.item[r]) ?? 0) + 1);
  const keep: number[] = [];
  for (let r = 0; r < n; r++) if (raw.rating[r] >= minRating && (counts.get(raw.item[r]) ?? 0) >= minItem) keep.push(r);
  if (!keep.length)
    throw new KdError(
      'EMPTY_DATASET',
      `${name}: no rating is at least ${minRating} on an item with at least ${minItem} of them; lower minRating or minItemInteractions`,
    );
  const userIds = Int32Array.from(new Set(keep.map((r) => raw.user[r]))).sort();
  const itemIds = Int32Array.from(new Set(keep.map((r) => raw.item[r]))).sort();
  const uIndex = new Map(Array.from(userIds, (id, i) => [id, i]));
  const iIndex = new Map(Array.from(itemIds, (id, i) => [id, i]));
  const names = o.itemName ? Array.from(itemIds, (id) => o.itemName!(id) ?? String(id)) : undefined;
  return {
    name,
    users: userIds.length,
    items: itemIds.length,
    user: Int32Array.from(keep, (r) => uIndex.get(raw.user[r])!),
    item: Int32Array.from(keep, (r) => iIndex.get(raw.item[r])!),
    time: Float64Array.from(keep, (r) => raw.time[r]),
    userIds,
    itemIds,
    ...(names ? { itemNames: names } : {}),
  };
}
