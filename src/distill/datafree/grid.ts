/**
 * Samples [n, C, H, W] tiled into one 8-bit image (grey for one channel, RGB for three), a pixel of padding between
 * tiles, values mapped from `range` to 0–255; what `kdistill synth` writes as a PNG and the report paints.
 */
export function tileSamples(
  x: ArrayLike<number>,
  shape: readonly number[],
  range: readonly [number, number],
  columns = Math.ceil(Math.sqrt(shape[0])),
): { width: number; height: number; channels: 1 | 3; pixels: Uint8Array } {
  const [n, C, H, W] = shape;
  const channels = C === 3 ? 3 : 1;
  const rows = Math.ceil(n / columns);
  const width = columns * (W + 1) + 1,
    height = rows * (H + 1) + 1;
  const pixels = new Uint8Array(width * height * channels).fill(255);
  const [lo, hi] = range;
  for (let i = 0; i < n; i++) {
    const top = 1 + Math.floor(i / columns) * (H + 1),
      left = 1 + (i % columns) * (W + 1);
    for (let c = 0; c < channels; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const v = (x[((i * C + c) * H + h) * W + w] - lo) / (hi - lo);
          pixels[((top + h) * width + left + w) * channels + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
        }
  }
  return { width, height, channels, pixels };
}
