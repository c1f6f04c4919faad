/**
 * `freeze` patterns of an imported student: glob-like, matched against the whole name of a parameter
 * (`conv1.weight`) or of a node that reads it (`/layer1/conv1/Conv`). `*` matches any run of characters
 * (slashes and dots included, so `/layer1/*` is everything under layer1), `?` one character; nothing else
 * is special. A parameter is frozen when its own name or the name of any node reading it matches.
 */
export function freezeMatcher(patterns: readonly string[]): (name: string) => boolean {
  const res = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split('')
          .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
          .join('')}$`,
      ),
  );
  return (name) => res.some((r) => r.test(name));
}
