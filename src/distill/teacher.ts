import { exposeOutputs, probeOutputShapes } from '../runtime/expose.js';
import { teacherOutputsOf, type LossTerm } from './loss.js';

/**
 * Readies a teacher's ONNX bytes for a loss: the features its terms read by node name become outputs,
 * and their per-sample shapes are probed, so the student's step graph can take them as inputs.
 */
export async function prepareTeacher(bytes: Uint8Array, terms: readonly LossTerm[], source = 'teacher'): Promise<{ bytes: Uint8Array; shapes: Record<string, number[]> }> {
  const features = teacherOutputsOf(terms).filter((n) => n !== 'logits');
  if (!features.length) return { bytes, shapes: {} };
  const exposed = exposeOutputs(bytes, features, source);
  const shapes = await probeOutputShapes(exposed, features, source);
  return { bytes: exposed, shapes: Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, s.slice(1)])) };
}
