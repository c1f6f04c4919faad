import type { Dim } from './types.js';

// Sizes that are symbolic (the batch, or spatial sizes of a model with dynamic inputs) are carried as
// names; these helpers keep equal sizes equal and different ones distinct through windows and slices.

/** Output spatial size of a conv/pool window, or a symbol when the input size is symbolic. */
export function windowOut(x: Dim, k: number, s: number, d: number, p0: number, p1: number, ceil = false): Dim {
  // A symbolic size maps to a symbol that carries the window, so different windows never look alike.
  if (typeof x !== 'number') return `${x}_w${k}s${s}d${d}p${p0}.${p1}${ceil ? 'c' : ''}`;
  const v = (x + p0 + p1 - d * (k - 1) - 1) / s;
  return (ceil ? Math.ceil(v) : Math.floor(v)) + 1;
}

/** A symbolic size padded by `total`: 'N-k' padded by k is 'N' again (the gradient of a slice), else a fresh symbol. */
export function padSymbol(d: string, total: number): Dim {
  const m = /^(.*)-(\d+)$/.exec(d);
  if (m) {
    const k = Number(m[2]) - total;
    if (k === 0) return m[1];
    if (k > 0) return `${m[1]}-${k}`;
  }
  return `${d}_p${total}`;
}

/** A slice of a symbolic size: unit-step slices that drop a fixed count get 'N-k' (so [0:-1] and [1:] agree), others a fresh symbol. */
export function sliceSymbol(d: string, start: number, end: number, step: number): Dim {
  const dropped = step !== 1 || start < 0 ? undefined : end >= 2 ** 62 ? start : end < 0 ? start - end : undefined;
  return dropped === 0 ? d : dropped !== undefined ? `${d}-${dropped}` : `${d}_s${start}.${end}.${step}`;
}
