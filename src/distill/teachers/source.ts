/**
 * Anything that answers a batch with named outputs: an ONNX model in a worker thread (`WorkerTeacher`),
 * a JavaScript function, an HTTP endpoint, an ensemble, or a cache in front of any of them. The training
 * loop asks for a group of batches as soon as it is loaded, so a slow source answers while the student trains.
 */
export interface TeacherSource {
  /** Answers one batch: `x` row-major with `shape` = [n, ...sample]; one Float32Array per requested name, row-major [n, ...]. */
  predictMany(x: Float32Array | BigInt64Array, shape: readonly number[], names: readonly string[]): Promise<Float32Array[]>;
  /** Frees what the source holds (threads, sessions, sockets). */
  release(): Promise<void>;
}
