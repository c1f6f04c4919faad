/**
 * A teacher as training sees it: anything that answers a batch with named outputs (an ONNX model in this
 * thread or a worker, a JavaScript function, an HTTP endpoint, an ensemble, or a cache in front of any of
 * them). The training loop asks for a group of batches as soon as it is loaded, so a slow teacher answers
 * while the student trains.
 */
export interface Teacher {
  /**
   * Answers one batch: `x` row-major with `shape` = [n, ...sample]; one Float32Array per requested name,
   * row-major [n, ...]. The caller may reuse `x` as soon as the call returns: an implementation copies what
   * it still needs after its first await.
   */
  predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]>;
  /** Frees what the teacher holds (threads, sessions, sockets, open files). */
  release(): Promise<void>;
  /** The teacher's content key for `TeacherCache`, when it knows one (functions with an id, versioned HTTP, ensembles of such). */
  readonly cacheKey?: string;
}
