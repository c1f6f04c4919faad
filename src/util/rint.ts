/** Round half to even, as numpy, ONNX's Round and QuantizeLinear round. */
export function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
