import { basename } from '../util/path.js';

/** `path#export` of `student.module`, split; the export defaults to the module's default export. */
export function parseModuleRef(ref: string): { path: string; exportName: string } {
  const cut = ref.lastIndexOf('#');
  return cut < 0 ? { path: ref, exportName: 'default' } : { path: ref.slice(0, cut), exportName: ref.slice(cut + 1) };
}

/** The model name a module student is registered and resolved under: `<file name>#<export>`. */
export const moduleModelName = (path: string, exportName: string): string => `${basename(path)}#${exportName}`;
