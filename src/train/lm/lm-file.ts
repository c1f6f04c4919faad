/**
 * What an exported language model's file says about itself: its tokenizer travels inside it (metadata
 * `kdistill.tokenizer`), so a file alone can generate text and a teacher and student can be checked to share one before
 * any distillation; and its position table bounds the context it can read.
 */
import { parseOnnx } from '../../graph/onnx.js';
import { parseTokenizer, tokenizerSize, type TokenizerSpec } from '../../data/text.js';
import { KdError } from '../../util/errors.js';

/** The metadata key of an exported language model's tokenizer (JSON TokenizerSpec). */
export const TOKENIZER_KEY = 'kdistill.tokenizer';

/** Export metadata carrying `t` (pass as `exportOnnx(model, { metadata })`). */
export function tokenizerMetadata(t: TokenizerSpec): Record<string, string> {
  return { [TOKENIZER_KEY]: JSON.stringify(t) };
}

/** The tokenizer an exported model carries; KdError naming the file when it has none. */
export function tokenizerOf(bytes: Uint8Array, source: string): TokenizerSpec {
  const text = parseOnnx(bytes, source).metadataProps.find((p) => p.key === TOKENIZER_KEY)?.value;
  if (text === undefined)
    throw new KdError(
      'NO_TOKENIZER',
      `${source} carries no tokenizer (metadata '${TOKENIZER_KEY}'); give one with --tokenizer <tokenizer.json>, ` +
        'or export the model with tokenizerMetadata(tokenizer)',
    );
  return parseTokenizer(JSON.parse(text));
}

/**
 * Refuses a teacher and student whose tokenizers differ: token ids would mean different text to each, and a per-token
 * divergence between them would be noise. The message gives both vocabulary sizes and the first token that differs.
 */
export function checkSameTokenizer(
  teacher: TokenizerSpec,
  student: TokenizerSpec,
  names = { teacher: 'teacher', student: 'student' },
): void {
  const a = JSON.stringify({ ...teacher, vocab: undefined }),
    b = JSON.stringify({ ...student, vocab: undefined });
  const va = 'vocab' in teacher ? teacher.vocab : [],
    vb = 'vocab' in student ? student.vocab : [];
  const at = va.findIndex((u, i) => u !== vb[i]);
  const first = at >= 0 ? at : va.length !== vb.length ? Math.min(va.length, vb.length) : -1;
  if (a === b && first < 0) return;
  const show = (u: string | undefined) => (u === undefined ? 'nothing' : JSON.stringify(u));
  throw new KdError(
    'TOKENIZER_MISMATCH',
    `${names.teacher} and ${names.student} use different tokenizers (${names.teacher}: ${tokenizerSize(teacher)} ids, ` +
      `${teacher.kind}; ${names.student}: ${tokenizerSize(student)} ids, ${student.kind})` +
      (first >= 0 ? `; the first difference is id ${first + 2}: ${show(va[first])} against ${show(vb[first])}` : '') +
      '. Distil with one tokenizer: fit it once and give it to both models',
  );
}

/** Rows of the model's position table (`pos_embed`): the longest context it reads; undefined for a model without one. */
export function contextOf(bytes: Uint8Array, source: string): number | undefined {
  const t = parseOnnx(bytes, source).graph?.initializer.find((x) => x.name === 'pos_embed');
  return t ? Number(t.dims[0]) : undefined;
}
