/**
 * The last part of a file path or URL and its extension, without `node:path`: parsers that take bytes
 * or text name datasets after their source, in Node and in a browser alike.
 */

/** The part after the last `/` or `\` (a trailing one ignored), as `path.basename` gives it. */
export function baseName(source: string): string {
  const parts = source.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 1];
}

/** The extension of the base name with its dot (`.csv`), '' for none or for a dot file, as `path.extname` gives it. */
export function extName(source: string): string {
  const b = baseName(source);
  const i = b.lastIndexOf('.');
  return i > 0 ? b.slice(i) : '';
}
