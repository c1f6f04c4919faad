/**
 * POSIX path helpers without Node: what the config resolver needs (it also runs in a browser), with
 * the results of `node:path`'s posix functions. Nothing here reads the working directory, so a
 * relative path stays relative unless an absolute base is given.
 */

/** True for a path that starts at the root. */
export const isAbsolute = (p: string): boolean => p.startsWith('/');

/** Collapses `.`, `..` and repeated slashes, keeping a trailing slash; '' becomes '.' (as `path.posix.normalize`). */
function normalise(p: string): string {
  const abs = isAbsolute(p);
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (seg === '..' && abs)
      continue; // nothing is above the root
    else out.push(seg);
  }
  const body = out.join('/');
  const trail = p.endsWith('/') ? '/' : '';
  if (body === '') return abs ? '/' : `.${trail}`;
  return `${abs ? '/' : ''}${body}${trail}`;
}

/** Joins the non-empty parts with '/' and normalises the result. */
export function join(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p !== '');
  return nonEmpty.length ? normalise(nonEmpty.join('/')) : '.';
}

/** Resolves right to left up to the first absolute part, like `path.posix.resolve`, but never falls back on a working directory. */
export function resolve(...parts: string[]): string {
  let i = parts.length - 1;
  while (i > 0 && !isAbsolute(parts[i])) i--;
  const p = join(...parts.slice(Math.max(i, 0)));
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** The path without its last segment ('.' for a bare name), as `path.posix.dirname`. */
export function dirname(p: string): string {
  if (p === '') return '.';
  const root = isAbsolute(p);
  let end = -1;
  let trailing = true;
  for (let i = p.length - 1; i >= 1; i--) {
    if (p[i] !== '/') trailing = false;
    else if (!trailing) {
      end = i;
      break;
    }
  }
  if (end === -1) return root ? '/' : '.';
  if (root && end === 1) return '//';
  return p.slice(0, end);
}

/** The last segment of the path, trailing slashes ignored, as `path.posix.basename`. */
export function basename(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
