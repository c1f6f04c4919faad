import { exposeOutputs, probeOutputShapes } from '../runtime/expose.js';
import { parseOnnx } from '../graph/onnx.js';
import { KdError } from '../util/errors.js';
import { teacherOutputsOf, type LossTerm } from './loss.js';

/**
 * Readies a teacher's ONNX bytes for a loss: the features its terms read by node name become outputs,
 * and their per-sample shapes are probed, so the student's step graph can take them as inputs.
 */
export async function prepareTeacher(bytes: Uint8Array, terms: readonly LossTerm[], source = 'teacher', sampleShape?: readonly number[], classes?: number): Promise<{ bytes: Uint8Array; shapes: Record<string, number[]> }> {
  const outputs = parseOnnx(bytes, source).graph!.output.map((o) => o.name);
  if (!outputs.includes('logits')) throw new KdError('NO_LOGITS', `${source} has no output named 'logits' (its outputs: ${outputs.join(', ')}); export the teacher with its class scores named 'logits'`);
  const features = teacherOutputsOf(terms).filter((n) => n !== 'logits');
  const exposed = features.length ? exposeOutputs(bytes, features, source) : bytes;
  const shapes = await probeOutputShapes(exposed, ['logits', ...features], source, sampleShape);
  // The logits feed the student's loss directly, so their width must be the student's class count.
  if (classes !== undefined && shapes.logits[shapes.logits.length - 1] !== classes)
    throw new KdError('SHAPE_MISMATCH', `${source} predicts ${shapes.logits[shapes.logits.length - 1]} classes (logits [${shapes.logits.join(', ')}]) but the student and data have ${classes}`);
  return { bytes: exposed, shapes: Object.fromEntries(features.map((k) => [k, shapes[k].slice(1)])) };
}
