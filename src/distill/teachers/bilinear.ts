/**
 * PyTorch's bilinear resize (F.interpolate(mode='bilinear', align_corners=False), ONNX's 'pytorch_half_pixel') as
 * matrices: resizing [H, W] to [H', W'] is Ah · x · Awᵀ, which the teacher adapters compile into two MatMuls so input
 * gradients pass through it.
 */

/**
 * The [out, in] matrix of 1-D linear interpolation (or its [in, out] transpose): output i reads source
 * (i + ½)·in/out − ½, clamped at 0, from its two neighbours.
 */
export function interpolation(from: number, to: number, transposed = false): number[] {
  const a = new Array<number>(to * from).fill(0);
  const at = (i: number, j: number) => (transposed ? j * to + i : i * from + j);
  for (let i = 0; i < to; i++) {
    const src = to === 1 ? 0 : Math.max(0, ((i + 0.5) * from) / to - 0.5);
    const i0 = Math.min(Math.floor(src), from - 1),
      i1 = Math.min(i0 + 1, from - 1),
      l = src - i0;
    a[at(i, i0)] += 1 - l;
    a[at(i, i1)] += l;
  }
  return a;
}
