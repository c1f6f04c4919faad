/**
 * Reading a config: safe YAML (plain data only) → zod validation → problems that point at the line
 * and column where the offending key or value is written, with the field path and what was expected.
 */
import { type Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Node, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { KdError } from '../util/errors.js';
import { configSchema, type ConfigContext, type ConfigRegistry, type ResolvedConfig } from './schema.js';
import { didYouMean } from './suggest.js';

/** One thing wrong with a config: where (1-based line and column, absent when there is no place), which field, what. */
export interface ConfigProblem {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** The field path, e.g. `loss[1].options.temperature`; '' for the file as a whole. */
  readonly path: string;
  readonly message: string;
}

const MAX_SHOWN = 20;
// Anchors and aliases are handy for sharing an optimizer block, but each expansion copies; a few
// nested aliases would otherwise blow up into millions of nodes (the "billion laughs").
const MAX_ALIASES = 100;
const CORE = 'tag:yaml.org,2002:';
const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => CORE + t));

function formatProblem(p: ConfigProblem): string {
  const at = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`;
  return `${at}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** A config that cannot be used; the message lists every problem found, one per line, as `file:line:col: path: message`. */
export class ConfigError extends KdError {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    const shown = problems.slice(0, MAX_SHOWN).map(formatProblem);
    if (problems.length > MAX_SHOWN) shown.push(`… and ${problems.length - MAX_SHOWN} more problems`);
    super('BAD_CONFIG', shown.join('\n'));
    this.name = 'ConfigError';
  }
}

/** `loss[1].options.temperature` from `['loss', 1, 'options', 'temperature']`. */
export function formatPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of p) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(String(seg))) s += s ? `.${String(seg)}` : String(seg);
    else s += `[${JSON.stringify(String(seg))}]`;
  }
  return s;
}

/** Maps a path in the parsed data back to where it is written. */
export class SourcePositions {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Line and column of the value at `p` (of its key with `at: 'key'`, or when the value is a whole
   * block). A path that is not in the file (a missing key) points at its nearest written ancestor.
   */
  position(p: readonly PropertyKey[], at: 'key' | 'value' = 'value'): { line: number; column: number } {
    let key: Node | undefined;
    let value: unknown = this.doc.contents;
    let depth = 0;
    for (const seg of p) {
      const node = isAlias(value) ? value.resolve(this.doc) : value;
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        key = pair.key as Node;
        value = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        key = undefined;
        value = node.items[seg];
      } else break;
      depth++;
    }
    const written = depth === p.length;
    const scalarValue = isScalar(value) && value.value !== null ? value : undefined;
    const target = written && at === 'value' && scalarValue ? scalarValue : (key ?? (value as Node | null) ?? undefined);
    const offset = target?.range?.[0];
    if (offset === undefined) return { line: 1, column: 1 };
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}

/** A config that passed validation, resolved, with the map back to its source for later checks (files that must exist). */
export interface ParsedConfig {
  readonly config: ResolvedConfig;
  readonly positions: SourcePositions;
}

/**
 * Parses, validates and resolves config text read from `file` (named in messages, its folder anchors
 * relative inputs) in `context`. Throws ConfigError listing every problem.
 */
export function parseConfigText(text: string, file: string, registry: ConfigRegistry, context: ConfigContext): ParsedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    // Core schema without the YAML 1.1 extras (!!binary, !!set, !!timestamp, merge keys): a config is plain data.
    schema: 'core',
    version: '1.2',
    merge: false,
    resolveKnownTags: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: true,
  });
  const positions = new SourcePositions(doc, lines);
  const problems: ConfigProblem[] = [];
  const at = (node: Node | null | undefined) => {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };

  const badTag = (tag: string) =>
    `YAML tag '${tag.startsWith(CORE) ? `!!${tag.slice(CORE.length)}` : tag}' is not allowed: ` +
    'a config holds plain data (strings, numbers, booleans, lists, mappings)';
  const tagLines = new Set<number | undefined>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    const line = e.linePos?.[0].line,
      column = e.linePos?.[0].col;
    const tag = e.code === 'TAG_RESOLVE_FAILED' ? /^Unresolved tag: (\S+)/.exec(e.message)?.[1] : undefined;
    if (tag) tagLines.add(line);
    problems.push({ file, line, column, path: '', message: tag ? badTag(tag) : yamlMessage(e) });
  }
  visit(doc, {
    // Every tag outside the core schema is unresolved (and reported above, at the tag); this catches any the parser resolved anyway.
    Node(_, node) {
      if (node.tag && !CORE_TAGS.has(node.tag)) {
        const pos = at(node);
        if (!tagLines.has(pos.line)) problems.push({ file, ...pos, path: '', message: badTag(node.tag) });
      }
    },
    Pair(_, pair) {
      if (pair.key !== null && !isScalar(pair.key))
        problems.push({ file, ...at(pair.key as Node), path: '', message: 'a key must be a plain name, not a list or mapping' });
    },
  });
  if (problems.length) throw new ConfigError(file, sortProblems(problems));

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    if (!(e instanceof ReferenceError && /alias/i.test(e.message))) throw e;
    let first: Node | undefined;
    visit(doc, {
      Alias: (_, a) => {
        first = a;
        return visit.BREAK;
      },
    });
    throw new ConfigError(file, [
      {
        file,
        ...at(first),
        path: '',
        message: `aliases expand to too many nodes (more than ${MAX_ALIASES}, a guard against alias bombs); write the values out instead`,
      },
    ]);
  }
  if (data === null || data === undefined) {
    throw new ConfigError(file, [
      { file, line: 1, column: 1, path: '', message: 'the config is empty; it needs at least dataset, teacher, student, loss and epochs' },
    ]);
  }

  const schema = configSchema(registry, file, context);
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return { config: result.data, positions };
  for (const iss of result.error.issues) {
    for (const f of explain(iss, data, schema))
      problems.push({ file, ...positions.position(f.path, f.at), path: formatPath(f.path), message: f.message });
  }
  throw new ConfigError(file, sortProblems(problems));
}

function sortProblems(ps: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return ps
    .filter((p) => {
      const k = formatProblem(p);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function yamlMessage(e: YAMLError): string {
  // The parser appends " at line L, column C:" and a source excerpt; the position is shown in front already.
  const msg = e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
  return `YAML syntax error: ${msg}${e.code === 'TAB_AS_INDENT' ? ' (indent with spaces)' : ''}`;
}

// ---- zod issues → messages ----

interface Explained {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly at?: 'key';
}

function valueAt(data: unknown, p: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of p) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  tuple: 'a list',
};
const words = (t: string) => EXPECTED[t] ?? t;

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

const quote = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));

function typeHint(expected: string, v: unknown): string {
  if ((expected === 'number' || expected === 'int') && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)))
    return ' (remove the quotes)';
  if (expected === 'boolean' && typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v))
    return ' (YAML 1.2 spells booleans true and false)';
  return '';
}

function bound(iss: { origin: string; inclusive?: boolean }, v: number | bigint, below: boolean, v0: unknown): string {
  if (iss.origin === 'array' || iss.origin === 'set') {
    const n = Array.isArray(v0) ? v0.length : 0;
    return `expected ${below ? 'at least' : 'at most'} ${v} item${Number(v) === 1 ? '' : 's'}, got ${n}`;
  }
  if (iss.origin === 'string') {
    if (below && Number(v) === 1) return 'expected a non-empty string';
    return `expected ${below ? 'at least' : 'at most'} ${v} characters, got ${show(v0)}`;
  }
  const op = below ? (iss.inclusive ? '>=' : '>') : iss.inclusive ? '<=' : '<';
  return `expected ${iss.origin === 'int' ? 'an integer' : 'a number'} ${op} ${v}, got ${show(v0)}`;
}

/** Turns one zod issue into messages (an unknown-keys issue gives one per key, each at its own line). */
function explain(iss: z.core.$ZodIssue, data: unknown, schema: z.ZodType): Explained[] {
  const p = iss.path as PropertyKey[];
  const v = valueAt(data, p);
  switch (iss.code) {
    case 'unrecognized_keys': {
      const known = objectKeysAt(schema, p, data);
      return iss.keys.map((k) => {
        const hint = didYouMean(k, known) || (known.length ? `; expected one of: ${known.join(', ')}` : '; this mapping takes no keys');
        return { path: [...p, k], message: `unknown key '${k}'${hint}`, at: 'key' as const };
      });
    }
    case 'invalid_type': {
      const expected = iss.expected === 'number' && wantsInteger(schema, p, data) ? 'int' : iss.expected;
      if (v === undefined) return [{ path: p, message: `missing required key '${String(p[p.length - 1])}': expected ${words(expected)}` }];
      return [{ path: p, message: `expected ${words(expected)}, got ${show(v)}${typeHint(expected, v)}` }];
    }
    case 'invalid_value': {
      const expected = iss.values.length === 1 ? quote(iss.values[0]) : `one of ${iss.values.map(quote).join(', ')}`;
      const hint = typeof v === 'string' ? didYouMean(v, iss.values.map(String)) : '';
      return [{ path: p, message: `expected ${expected}, got ${show(v)}${hint}` }];
    }
    case 'invalid_union': {
      if (iss.discriminator !== undefined && 'options' in iss && iss.options) {
        const opts = iss.options.map(String);
        const list = opts.map((o) => `'${o}'`).join(', ');
        if (v === undefined)
          return [{ path: p.slice(0, -1), message: `missing required key '${iss.discriminator}' (one of ${list})`, at: 'key' }];
        const what = typeof v === 'string' ? `unknown ${iss.discriminator} '${v}'` : `expected a string, got ${show(v)}`;
        return [{ path: p, message: `${what}; expected one of ${list}${typeof v === 'string' ? didYouMean(v, opts) : ''}` }];
      }
      // A member whose type fits (e.g. the list form of `size`) failed on details: those are the useful messages.
      const fitting = iss.errors.find((es) => es.length > 0 && !es.some((e) => e.code === 'invalid_type' && e.path.length === 0));
      if (fitting) return fitting.flatMap((e) => explain({ ...e, path: [...p, ...e.path] } as z.core.$ZodIssue, data, schema));
      const alternatives = [
        ...new Set(iss.errors.flat().flatMap((e) => (e.code === 'invalid_type' && e.path.length === 0 ? [words(e.expected)] : []))),
      ];
      return [{ path: p, message: alternatives.length ? `expected ${alternatives.join(' or ')}, got ${show(v)}` : iss.message }];
    }
    case 'too_small':
    case 'too_big': {
      const origin = iss.origin === 'number' && wantsInteger(schema, p, data) ? 'int' : iss.origin;
      const below = iss.code === 'too_small';
      return [{ path: p, message: bound({ ...iss, origin }, below ? iss.minimum : iss.maximum, below, v) }];
    }
    default:
      return [{ path: p, message: iss.message }];
  }
}

// ---- schema walking, to list the keys an object accepts (for "did you mean") ----

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  getter?: () => z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
  format?: string;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

function sameKind(type: string, data: unknown): boolean {
  if (Array.isArray(data)) return type === 'array' || type === 'tuple';
  if (data !== null && typeof data === 'object') return type === 'object';
  return type === typeof data;
}

/** Strips wrappers (optional, default, lazy, pipe, …) and picks the union member `data` belongs to. */
function settle(s: z.ZodType, data: unknown): z.ZodType {
  for (let guard = 0; guard < 64; guard++) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else if (d.type === 'union' && d.options) {
      const tag = d.discriminator;
      const own = (o: z.ZodType) => {
        const od = defOf(settle(o, data));
        if (tag === undefined) return sameKind(od.type, data);
        const lit = od.type === 'object' ? od.shape?.[tag] : undefined;
        return lit !== undefined && (defOf(lit).values ?? []).includes(valueAt(data, [tag]));
      };
      const pick = d.options.find(own);
      if (!pick) return s;
      s = pick;
    } else return s;
  }
  return s;
}

/** The schema that validates the value at `p` (following the data through unions), or undefined when it cannot be told. */
function schemaAt(schema: z.ZodType, p: readonly PropertyKey[], data: unknown): z.ZodType | undefined {
  let s: z.ZodType | undefined = settle(schema, data);
  let v = data;
  for (const seg of p) {
    const d = defOf(s);
    if (d.type === 'object' && d.shape) s = d.shape[String(seg)];
    else if (d.type === 'array' && d.element) s = d.element;
    else if (d.type === 'tuple' && d.items) s = d.items[Number(seg)];
    else return undefined;
    if (!s) return undefined;
    v = valueAt(v, [seg]);
    s = settle(s, v);
  }
  return s;
}

function objectKeysAt(schema: z.ZodType, p: readonly PropertyKey[], data: unknown): string[] {
  const s = schemaAt(schema, p, data);
  const d = s && defOf(s);
  return d?.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

// zod reports a bound on z.int() with origin 'number'; the schema's format says it wants an integer.
const wantsInteger = (schema: z.ZodType, p: readonly PropertyKey[], data: unknown) => {
  const s = schemaAt(schema, p, data);
  return s !== undefined && /int/.test(String(defOf(s).format ?? ''));
};
