/** Median of a non-empty list (upper median for even lengths). */
export function median(a: readonly number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}
