/** `T` with every property and element read-only, all the way down: the type of what `deepFreeze` returns. */
export type Frozen<T> = T extends (...args: never[]) => unknown ? T : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> } : T;

/** Freezes `o` and everything it holds, so a resolved config cannot change under the run that uses it. */
export function deepFreeze<T>(o: T): Frozen<T> {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o as Frozen<T>;
}
