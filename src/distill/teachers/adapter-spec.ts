/**
 * The options of a teacher's input and output adapters (`teacher: { file, input, output }`), as one zod schema the
 * config embeds and `adaptTeacher` checks library callers with, so both refuse the same values with the same words.
 */
import { z } from 'zod';
import { KdError } from '../../util/errors.js';

/** How a teacher takes images: channels first (PyTorch) or channels last (TensorFlow/Keras). */
export const LAYOUTS = ['NCHW', 'NHWC'] as const;
/** What a teacher's class-score output holds: logits, softmax probabilities, or log-softmax. */
export const OUTPUT_KINDS = ['logits', 'probs', 'logprobs'] as const;
/** One of {@link LAYOUTS}. */
export type Layout = (typeof LAYOUTS)[number];
/** One of {@link OUTPUT_KINDS}. */
export type OutputKind = (typeof OUTPUT_KINDS)[number];

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** One value for every channel, or one per channel. */
const perChannel = (what: string, ok: (v: number) => boolean) =>
  z.custom<number | readonly number[]>(
    (v) => (isNumber(v) && ok(v)) || (Array.isArray(v) && v.length > 0 && v.every((x) => isNumber(x) && ok(x))),
    {
      error: `one number${what}, or a list of one per channel (in the teacher's channel order)`,
    },
  );

/** A per-channel normalisation's mean and std (also a student's `input`, which takes only these two). */
export const normFields = {
  /** Subtracted per channel after the other steps, from the values the core feeds (pixels in [0, 1]). */
  mean: perChannel('', () => true).optional(),
  /** Divides per channel after `mean`. */
  std: perChannel(' > 0', (v) => v > 0).optional(),
};

/** How the data's samples become the tensor the teacher was trained on: which input, channels, size, layout, normalisation. */
export const teacherInputSchema = z
  .strictObject({
    /** The teacher input that takes the samples; default: its only input. */
    name: z.string().min(1).optional(),
    ...normFields,
    /** [height, width] the images are resized to (bilinear, as PyTorch's F.interpolate with align_corners=False). */
    size: z
      .custom<readonly [number, number]>((v) => Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0), {
        error: 'two positive integers [height, width], the image size the teacher takes',
      })
      .optional(),
    /** How the teacher takes images: channels first (PyTorch) or last (TensorFlow/Keras). */
    layout: z.enum(LAYOUTS, { error: "'NCHW' (channels first, PyTorch) or 'NHWC' (channels last, TensorFlow/Keras)" }).optional(),
    /** The channels the teacher takes; grey data is repeated to 3. */
    channels: z
      .custom<1 | 3>((v) => v === 1 || v === 3, { error: '1 or 3, the channels the teacher takes (grey data is repeated to 3)' })
      .optional(),
  })
  .superRefine((a, ctx) => {
    if (a.channels === undefined) return;
    for (const k of ['mean', 'std'] as const) {
      const v = a[k];
      if (Array.isArray(v) && v.length !== a.channels)
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `${v.length} values, but channels is ${a.channels}: give one value per channel (${a.channels}), or one for all`,
        });
    }
  });

/** Which teacher output holds the class scores and what they are. */
export const teacherOutputSchema = z.strictObject({
  /** Default: the only output, or the one named `logits`. */
  name: z.string().min(1).optional(),
  /** logits and logprobs are used as they are (log-probabilities are logits up to a constant); probs get a log. */
  kind: z.enum(OUTPUT_KINDS, { error: "'logits', 'probs' (softmax outputs) or 'logprobs' (log-softmax outputs)" }).default('logits'),
});

/** A teacher's input adapter as written (`teacher.input`): `name`, `mean`, `std`, `size`, `layout`, `channels`, all optional. */
export type TeacherInputAdapter = z.input<typeof teacherInputSchema>;
/** A teacher's output adapter as written (`teacher.output`): `name`, `kind` (default `logits`). */
export type TeacherOutputAdapter = z.input<typeof teacherOutputSchema>;
/** An input adapter as checked. */
export type ResolvedInputAdapter = z.output<typeof teacherInputSchema>;
/** An output adapter as checked, its `kind` filled in. */
export type ResolvedOutputAdapter = z.output<typeof teacherOutputSchema>;

/** A library caller's adapter options checked as a config's are; the first problem is thrown naming `key` (e.g. `teacher.input`). */
export function checkAdapter<S extends z.ZodType>(schema: S, value: unknown, key: string, source: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  const at = [key, ...i.path.map(String)].join('.');
  // Unknown keys carry their names in `keys`, not in the path.
  const what =
    i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}` : i.message;
  throw new KdError('BAD_ADAPTER', `${source}: ${at}: ${what}`);
}
