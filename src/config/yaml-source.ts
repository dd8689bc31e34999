/**
 * Maps paths in a parsed config (`['councils', 0, 'agents', 1, 'model']`) back to the
 * line and column of the YAML source, so every config error can point at the exact node.
 */

import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
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
}

/**
 * A locator over `doc`, whose source was parsed with `lineCounter`; `file` is copied into
 * every location.
 */
export function createYamlLocator(doc: Document, lineCounter: LineCounter, file?: string): YamlLocator {
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
  };
}
