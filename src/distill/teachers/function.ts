import { KdError } from '../../util/errors.js';
import { readAnswer, type Answer, type PartialOptions } from './answers.js';
import { functionKey } from './keys.js';
import type { Teacher } from '../../runtime/teacher.js';

/** One batch as a function teacher sees it: a copy of the inputs, row-major with `shape` = [n, ...sample]. */
export interface FunctionBatch {
  readonly x: Float32Array | BigInt64Array;
  readonly shape: readonly number[];
}

/** How a `FunctionTeacher` is named, checked and expands partial answers. */
export interface FunctionTeacherOptions {
  /** Names the teacher in errors and keys its cache entries: change it when the function changes. */
  id: string;
  /** Classes per logits row, to check every answer's size. */
  classes: number;
  /** How top-k or label answers become logits. */
  partial?: PartialOptions;
}

/**
 * A teacher that is a JavaScript function: it gets each batch and answers its logits (n rows of C, or
 * flat), a partial answer (`{ topk }` or `{ label }`, see `Answer`), or an object with further named
 * outputs. Answers are checked for size, and a bad one is an error naming the teacher.
 */
export class FunctionTeacher implements Teacher {
  readonly cacheKey: string;

  constructor(
    private readonly fn: (batch: FunctionBatch) => Answer | Promise<Answer>,
    private readonly o: FunctionTeacherOptions,
  ) {
    if (!Number.isInteger(o.classes) || o.classes < 1)
      throw new KdError('BAD_OPTION', `function teacher '${o.id}': classes must be a positive integer, got ${o.classes}`);
    this.cacheKey = functionKey(o.id);
  }

  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const who = `function teacher '${this.o.id}'`;
    // A copy, so the function may keep or change it while the caller reuses its buffer.
    const batch = {
      x: x.slice(
        0,
        shape.reduce((a, b) => a * b, 1),
      ),
      shape: [...shape],
    };
    let answer: unknown;
    try {
      answer = await this.fn(batch);
    } catch (e) {
      if (e instanceof KdError) throw e;
      throw new KdError('TEACHER_FAILED', `${who} threw: ${(e as Error)?.message ?? String(e)}`);
    }
    return readAnswer(answer, shape[0], names, this.o.classes, this.o.partial ?? {}, who);
  }

  async release(): Promise<void> {}
}
