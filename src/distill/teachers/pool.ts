import { KdError } from '../../util/errors.js';
import type { Teacher } from '../../runtime/teacher.js';

/**
 * Several copies of one teacher (e.g. `WorkerTeacher`s on the same ONNX file, one thread each) as one
 * source: each batch goes to the copy with the fewest batches waiting, so the copies work in parallel.
 * The copies must compute the same function; which one answers a batch then does not matter.
 */
export class PoolTeacher implements Teacher {
  private readonly pending: number[];

  constructor(private readonly members: readonly Teacher[]) {
    if (members.length === 0) throw new KdError('BAD_OPTION', 'a teacher pool needs at least one member');
    this.pending = members.map(() => 0);
  }

  async predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]> {
    const k = this.pending.indexOf(Math.min(...this.pending));
    this.pending[k]++;
    try {
      return await this.members[k].predictMany(x, shape, names);
    } finally {
      this.pending[k]--;
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.members.map((m) => m.release()));
  }
}
