/**
 * "Did you mean …?" for config keys and names: the closest candidate by edit distance, offered only
 * when it is close enough to be a plausible typo, so a suggestion is never a wild guess.
 */

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1,
    cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2][j - 2] + 1);
      d[i][j] = v;
    }
  }
  return d[rows - 1][cols - 1];
}

// Case and separators are ignored, so `batch_size` and `Fashion_MNIST` find `batchSize` and `fashion-mnist`.
const fold = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');

/**
 * The candidate closest to `word`, or undefined when none is within about a third of its length
 * (at least one edit). A candidate that `word` abbreviates or extends (3+ characters in common) also counts as close.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = fold(word);
  let best: string | undefined,
    bestD = Infinity;
  for (const c of candidates) {
    const f = fold(c);
    if (c === word) continue;
    const affix = (w.length >= 3 && f.startsWith(w)) || (f.length >= 3 && w.startsWith(f));
    const d = affix ? 0.5 : editDistance(w, f);
    if (d < bestD && d <= Math.max(1, Math.floor(f.length / 3))) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** `"; did you mean 'x'?"` for the closest candidate, or '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : `; did you mean '${c}'?`;
}
