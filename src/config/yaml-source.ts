/**
 * Maps paths in a parsed config (`['councils', 0, 'agents', 1, 'model']`) back to the
 * line and column of the YAML source, so every config error can point at the exact node.
 */

import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Scalar,
} from 'yaml';
import type { SourceLocation } from '../errors.ts';

/** A path into the parsed config: map keys as strings, list indexes as numbers. */
export type YamlPath = ReadonlyArray<string | number>;

/** Which node of a path a location points at. */
export type LocateTarget = 'value' | 'key';

const plainKey = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * The path as users read it: `councils[0].agents[1].model`. Keys that are not plain words
 * (`X-Api-Key` is, `a.b` or `my key` are not) are written as `["a.b"]` so the path stays
 * unambiguous. The empty path (the whole document) is `''`.
 */
export function formatYamlPath(path: YamlPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (plainKey.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** The part of a located node: the node itself, or the key of the pair that holds it. */
interface Found {
  /** How many segments of the path exist in the file. */
  depth: number;
  node: Node | null;
  /** The key node of the last matched map entry, when the last step went through a map. */
  key: Node | null;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function camelToSnake(segment: string): string {
  return segment.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** Resolves an alias to its anchored node; `undefined` for a dangling alias. */
function deref(doc: Document, node: unknown): unknown {
  // Aliases can point at aliases only through anchors on aliases, which YAML forbids, so one step is enough.
  return isAlias(node) ? node.resolve(doc) : node;
}

function walk(doc: Document, path: YamlPath): Found {
  let node: unknown = doc.contents;
  const found: Found = { depth: 0, node: (node as Node | null) ?? null, key: null };
  for (const segment of path) {
    node = deref(doc, node);
    let next: unknown;
    let key: Node | null = null;
    if (isMap(node)) {
      // TS-side callers may pass camelCase keys; the file spells them snake_case.
      const wanted = typeof segment === 'number' ? [String(segment)] : [segment, camelToSnake(segment)];
      const pair = node.items.find((item) => isPair(item) && wanted.includes(keyText(item.key)));
      if (pair === undefined) break;
      key = (pair.key as Node | null) ?? null;
      next = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      if (segment < 0 || segment >= node.items.length) break;
      next = node.items[segment];
    } else {
      break;
    }
    found.depth += 1;
    found.key = key;
    // `key:` with no value has a null value node: point at the key then.
    found.node = (next as Node | null | undefined) ?? key;
    node = next;
  }
  return found;
}

/** Finds source locations of paths in one parsed document. */
export interface YamlLocator {
  /**
   * The location of `path`: its value node (or its key node with `target: 'key'`), or, when
   * the path does not exist in the file (a missing key), the deepest ancestor that does.
   * `location.path` is always the full requested path.
   */
  locate(path: YamlPath, target?: LocateTarget): SourceLocation;
  /** True when every segment of `path` exists in the file. */
  has(path: YamlPath): boolean;
  /**
   * The location of character `index` (0-based, UTF-16 code units) of the string value at
   * `path`, e.g. the offending character of a `trigger_on` expression. Exact for one-line
   * plain, single- and double-quoted scalars (`''` and `\` escapes counted) when the locator
   * was given the source text; without it, the scalar's start + `index` (+1 after an opening
   * quote). For a value that spans lines, a block scalar, or a value changed by `${VAR}`
   * interpolation it is the scalar's own location, and for anything else {@link locate}'s.
   */
  locateInValue(path: YamlPath, index: number): SourceLocation;
}

/** Length of a double-quoted escape starting at `raw[i]` (a backslash) and the UTF-16 units it decodes to. */
function escapeAt(raw: string, i: number): { length: number; units: number } {
  const kind = raw[i + 1];
  const digits = kind === 'x' ? 2 : kind === 'u' ? 4 : kind === 'U' ? 8 : 0;
  if (digits === 0) return { length: 2, units: 1 };
  const code = Number.parseInt(raw.slice(i + 2, i + 2 + digits), 16);
  const units = Number.isInteger(code) && code > 0xffff && code <= 0x10ffff ? 2 : 1;
  return { length: 2 + digits, units };
}

/**
 * Source offset of each UTF-16 unit of a one-line flow scalar's value, or `undefined` when
 * the value is not a readable one-line copy of its source (folded lines, block scalars,
 * interpolated values), where no per-character mapping exists.
 */
function valueOffsets(node: Scalar, source: string): number[] | undefined {
  const range = node.range;
  if (range === undefined || range === null || typeof node.value !== 'string') return undefined;
  const raw = source.slice(range[0], range[1]);
  if (/[\r\n]/.test(raw)) return undefined;
  const value = node.value;
  const offsets: number[] = [];
  if (node.type === 'PLAIN') {
    if (raw !== value) return undefined;
    for (let i = 0; i < raw.length; i++) offsets.push(range[0] + i);
    return offsets;
  }
  const quote = node.type === 'QUOTE_SINGLE' ? "'" : node.type === 'QUOTE_DOUBLE' ? '"' : undefined;
  if (quote === undefined || raw[0] !== quote || raw.at(-1) !== quote) return undefined;
  for (let i = 1; i < raw.length - 1; ) {
    if (quote === "'" && raw[i] === "'") {
      // `''` is one quote in the value.
      offsets.push(range[0] + i);
      i += 2;
    } else if (quote === '"' && raw[i] === '\\') {
      const { length, units } = escapeAt(raw, i);
      for (let unit = 0; unit < units; unit++) offsets.push(range[0] + i);
      i += length;
    } else {
      // A literal character must be the value's character at the same place, or the two differ (interpolated).
      if (value[offsets.length] !== raw[i]) return undefined;
      offsets.push(range[0] + i);
      i += 1;
    }
  }
  return offsets.length === value.length ? offsets : undefined;
}

/**
 * A locator over `doc`, whose source was parsed with `lineCounter`; `file` is copied into
 * every location.
 */
export function createYamlLocator(
  doc: Document,
  lineCounter: LineCounter,
  file?: string,
  /** The text `doc` was parsed from: makes {@link YamlLocator.locateInValue} exact for quoted values. */
  source?: string,
): YamlLocator {
  const position = (node: Node | null): { line?: number; column?: number } => {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  return {
    locate(path, target = 'value') {
      const found = walk(doc, path);
      const complete = found.depth === path.length;
      const node = complete && target === 'key' && found.key !== null ? found.key : found.node;
      return {
        ...(file === undefined ? {} : { file }),
        path: formatYamlPath(path),
        ...position(node),
      };
    },
    has(path) {
      return walk(doc, path).depth === path.length;
    },
    locateInValue(path, index) {
      const found = walk(doc, path);
      const node = deref(doc, found.node);
      // What `locate(path)` gives, computed here so the method also works detached from the object.
      const base: SourceLocation = {
        ...(file === undefined ? {} : { file }),
        path: formatYamlPath(path),
        ...position(found.node),
      };
      const range = isScalar(node) ? node.range : undefined;
      if (found.depth !== path.length || !isScalar(node) || range === undefined || range === null)
        return base;
      const at = (offset: number): SourceLocation => {
        const { line, col } = lineCounter.linePos(offset);
        return { ...base, line, column: col };
      };
      if (source !== undefined) {
        const offsets = valueOffsets(node, source);
        if (offsets === undefined) return at(range[0]);
        // Past the last character (an expression that ends too early): just after the value.
        const last = offsets.at(-1);
        return at(offsets[index] ?? (last === undefined ? range[0] : last + 1));
      }
      if (node.type !== 'PLAIN' && node.type !== 'QUOTE_SINGLE' && node.type !== 'QUOTE_DOUBLE')
        return at(range[0]);
      return at(range[0] + index + (node.type === 'PLAIN' ? 0 : 1));
    },
  };
}
