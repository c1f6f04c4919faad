/**
 * Smaller inference models for deployment: float16 weights and static int8 (QDQ) quantization. The
 * implementations live in `quant/`; this module is the public entry point.
 */
export { toFloat16, type Float16Options } from './quant/fp16.js';
export { quantizeInt8, type Int8Options } from './quant/int8.js';
export { collectRanges, type TensorRange } from './quant/calibrate.js';
