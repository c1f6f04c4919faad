/** How a model trains with fake quantisation (quantisation-aware training): what is quantised, at how many bits, with which ranges. */
export interface QuantSpec {
  /**
   * Bits of the weights: 8 (int8, levels −127…127) or 4 (levels −7…7). ONNX Runtime has no int4 kernels, so a 4-bit model is
   * exported as int8 tensors whose values stay within −7…7.
   */
  readonly bits: 8 | 4;
  /** Weight scales: one per output channel, symmetric (zero point 0), from the weight's largest magnitude. */
  readonly weights: 'per-channel';
  /** Quantise the activations each Conv/Linear reads: uint8, asymmetric, one scale and zero point per tensor. */
  readonly activations: boolean;
  /**
   * Activation ranges: `minmax` tracks the batch minimum and maximum with a moving average (PyTorch's
   * MovingAverageMinMaxObserver, averaging constant 0.01); `learned` observes them for `observeSteps` steps, then freezes the
   * observation and learns a scale and zero point from there by gradient descent (LSQ+ gradients with LSQ's gradient scale).
   */
  readonly ranges: 'minmax' | 'learned';
  /** With `learned` ranges: steps of min/max observation before the scale and zero point learn. */
  readonly observeSteps: number;
}

/** Activation levels: uint8 (what ONNX Runtime's QLinear kernels read). */
export const ACT_LEVELS = { min: 0, max: 255 } as const;

/** Symmetric weight levels of a bit width: ±(2^(bits−1) − 1), as ONNX Runtime's quantizer leaves −128 unused. */
export function weightLevels(bits: number): number {
  return 2 ** (bits - 1) - 1;
}

/** The moving-average constant of the min/max observer (PyTorch's default). */
export const RANGE_MOMENTUM = 0.01;
