/**
 * Counts of (true class, predicted class) over a test set: row i, column j is how many samples of class i the
 * model called j. The report reads per-class accuracy and which classes a student confuses from it.
 */
export function confusionMatrix(predictions: Int32Array, labels: Int32Array, numClasses: number): number[][] {
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const p = predictions[i];
    if (p >= 0 && p < numClasses) m[labels[i]][p]++;
  }
  return m;
}

/** Accuracy on each class's samples (the diagonal over the row sums); NaN for a class with no test samples. */
export function perClassAccuracy(confusion: readonly (readonly number[])[]): number[] {
  return confusion.map((row, i) => row[i] / row.reduce((a, b) => a + b, 0));
}

/** Confusion matrices are kept for up to this many classes (beyond, a table of them is no longer readable). */
export const MAX_CONFUSION_CLASSES = 50;
