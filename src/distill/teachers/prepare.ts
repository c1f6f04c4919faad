import { exposeOutputs, probeOutputShapes } from '../../runtime/expose.js';
import { parseOnnx } from '../../graph/onnx.js';
import { declaredInputs, describeInput, firstLine, withCoreNames } from '../../runtime/inference.js';
import { KdError } from '../../util/errors.js';
import { teacherOutputsOf, type LossTerm } from '../loss.js';
import { inputHint } from './adapt.js';

/**
 * Readies a teacher's ONNX bytes for a loss: the features its terms read by node name become outputs,
 * and their per-sample shapes (logits included) are probed, so the student's step graph can take them
 * as inputs. `classes`, when given, must be the teacher's output width.
 */
export async function prepareTeacher(
  given: Uint8Array,
  terms: readonly LossTerm[],
  source = 'teacher',
  sampleShape?: readonly number[],
  classes?: number,
  only?: readonly string[],
): Promise<{ bytes: Uint8Array; shapes: Record<string, number[]> }> {
  // A trained imported student (exported under its file's names) teaches under the core's.
  const bytes = withCoreNames(given, source);
  const model = parseOnnx(bytes, source);
  const outputs = model.graph!.output.map((o) => o.name);
  if (!outputs.includes('logits'))
    throw new KdError(
      'NO_LOGITS',
      `${source} has no output named 'logits' (its outputs: ${outputs.join(', ')}); ` +
        `name the output with the class scores in the teacher's \`output: { name, kind }\` (kind: logits, probs or logprobs), ` +
        `or export the teacher with its class scores named 'logits'`,
    );
  if (sampleShape) checkTeacherInput(model, source, sampleShape);
  // `only`: the features this teacher serves when several teachers share the terms.
  const features = (only ?? teacherOutputsOf(terms)).filter((n) => n !== 'logits');
  const exposed = features.length ? exposeOutputs(bytes, features, source) : bytes;
  let shapes: Record<string, number[]>;
  try {
    shapes = await probeOutputShapes(exposed, ['logits', ...features], source, sampleShape);
  } catch (e) {
    // Run failures are already KdErrors; what is left is ONNX Runtime refusing to load the file at all
    // (an op it does not know, a broken graph), which is the file's problem, not kdistill's.
    if (e instanceof KdError) throw e;
    throw new KdError('BAD_ONNX', `ONNX Runtime cannot load ${source}: ${firstLine(e)}`);
  }
  // The logits feed the student's loss directly, so their width must be the student's class count.
  if (classes !== undefined && shapes.logits[shapes.logits.length - 1] !== classes)
    throw new KdError(
      'SHAPE_MISMATCH',
      `${source} predicts ${shapes.logits[shapes.logits.length - 1]} classes (logits ` +
        `[${shapes.logits.join(', ')}]) but the student and data have ${classes}`,
    );
  return { bytes: exposed, shapes: Object.fromEntries(['logits', ...features].map((k) => [k, shapes[k].slice(1)])) };
}

/**
 * Compares the teacher's declared input with the data's sample shape, so a teacher made for other data
 * is refused with both shapes named instead of ONNX Runtime's "invalid dimensions for input".
 */
function checkTeacherInput(model: ReturnType<typeof parseOnnx>, source: string, sampleShape: readonly number[]): void {
  const inputs = declaredInputs(model);
  if (inputs.length !== 1)
    throw new KdError(
      'BAD_MODEL',
      `${source} must take exactly one input (the samples); it takes ` +
        `${inputs.length ? inputs.map((i) => `'${i.name}' ${describeInput(i)}`).join(', ') : 'none'}; ` +
        'export it with the samples as its only input (the others made constants)',
    );
  const dims = inputs[0].dims;
  if (!dims) return;
  const per = dims.slice(1);
  const fits = per.length === sampleShape.length && per.every((d, k) => typeof d !== 'number' || d === sampleShape[k]);
  if (fits) return;
  const size = (s: readonly (number | string)[]) =>
    s.every((d) => typeof d === 'number') ? (s as number[]).reduce((a, b) => a * b, 1) : undefined;
  const same = size(per) !== undefined && size(per) === size(sampleShape);
  const hint = inputHint(per, sampleShape);
  throw new KdError(
    'SHAPE_MISMATCH',
    `${source} does not run on one sample of shape [1, ${sampleShape.join(', ')}]: it takes input '${inputs[0].name}' as ` +
      `${describeInput(inputs[0])}, i.e. samples of [${per.join(', ')}], but the data's samples are [${sampleShape.join(', ')}]; ` +
      (hint
        ? `give the teacher an input adapter, \`input: ${hint}\` (with the mean and std it was trained with), ` +
          'or use a teacher trained on this data'
        : same
          ? 'the sizes agree but the layouts differ: a teacher of flat samples is flattened for by adaptTeacher(bytes, { sampleShape }) ' +
            "(configs do this); otherwise export the teacher with an input of the data's shape"
          : 'use a teacher trained on this data'),
  );
}
