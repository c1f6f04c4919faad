/** The index of the largest score in each row of `scores` ([rows, width] row-major); the first one on a tie. */
export function argmaxRows(scores: ArrayLike<number>, width: number): Int32Array {
  const rows = Math.floor(scores.length / width);
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let k = 1; k < width; k++) if (scores[i * width + k] > scores[i * width + best]) best = k;
    out[i] = best;
  }
  return out;
}
