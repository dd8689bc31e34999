/**
 * Memory URL schemes → store factories. Backends register a scheme (`redis`, `postgres`, `lmdb`, ...)
 * from their own module, so adding one never touches core code: `openMemoryStore(url)` dispatches on
 * the scheme alone. `memory` and `sqlite` are registered when this module loads.
 */

import { HarnessError, toHarnessError } from '../errors.ts';
import { createInMemoryStore } from './in-memory.ts';
import { redactUrl } from './redact.ts';
import { createSqliteStore } from './sqlite.ts';
import type { MemoryStore } from './store.ts';
import { memoryError } from './validation.ts';

export { redactUrl } from './redact.ts';

/**
 * Builds a store for a URL of its scheme. `url` is the parsed URL, `raw` the string exactly as given
 * (with its password: never log it, use {@link redactUrl}). Throw a HarnessError (`memory_error`) for
 * a URL the backend cannot use.
 */
export type MemoryStoreFactory = (url: URL, raw: string) => MemoryStore | Promise<MemoryStore>;

/** Options of {@link registerMemoryScheme}. */
export interface MemorySchemeOptions {
  /**
   * The part after `scheme://` is a file path or a name such as `:memory:` rather than a host, so
   * the registry accepts URLs the WHATWG parser rejects (`sqlite://:memory:`, `sqlite://my dir/a.db`);
   * the factory then gets `new URL(scheme + ':' + encodeURI(rest))`, whose `pathname` is the
   * percent-encoded rest, and should read `raw`. Default false: the URL must parse as WHATWG.
   */
  pathLike?: boolean;
}

interface SchemeEntry {
  factory: MemoryStoreFactory;
  pathLike: boolean;
}

const schemes = new Map<string, SchemeEntry>();

const EXAMPLE = 'memory:// or sqlite://./data/app.db';

/**
 * Registers (or replaces) the factory for a URL scheme, e.g. `registerMemoryScheme('redis', ...)`.
 *
 * @param scheme without the colon, case-insensitive (stored lower-cased).
 */
export function registerMemoryScheme(
  scheme: string,
  factory: MemoryStoreFactory,
  options: MemorySchemeOptions = {},
): void {
  const name = scheme.toLowerCase().replace(/:$/, '');
  if (!/^[a-z][a-z0-9+.-]*$/.test(name)) {
    throw new HarnessError('internal', `memory scheme "${scheme}" is not a valid URL scheme`, {
      hint: 'use letters, digits, "+", "-" or "." starting with a letter, e.g. "redis"',
    });
  }
  schemes.set(name, { factory, pathLike: options.pathLike ?? false });
}

/** The registered schemes, sorted. */
export function knownMemorySchemes(): string[] {
  return [...schemes.keys()].sort();
}

/** A memory URL split into its scheme and parsed form, without opening anything. */
export interface ParsedMemoryUrl {
  /** Lower-cased, without the colon. */
  scheme: string;
  url: URL;
  /** The URL as given, without surrounding whitespace. */
  raw: string;
}

/**
 * Parses a memory URL without any I/O and without looking its scheme up, so a scheme registered
 * later still works (see {@link openMemoryStore} for the lookup).
 *
 * @throws HarnessError `memory_error` with the URL (password redacted) and an example when the text
 * has no scheme or does not parse.
 */
export function parseMemoryUrl(raw: string): ParsedMemoryUrl {
  const shown = typeof raw === 'string' ? redactUrl(raw) : String(raw);
  const unparseable = (problem: string, cause?: unknown): HarnessError =>
    memoryError(`memory URL "${shown}" ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      hint: `write it as scheme://..., for example ${EXAMPLE}`,
      details: { url: shown },
    });
  if (typeof raw !== 'string') throw unparseable('is not a string');
  const trimmed = raw.trim();
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(trimmed);
  if (match === null) throw unparseable('has no scheme');
  const scheme = (match[1] ?? '').toLowerCase();
  if (URL.canParse(trimmed)) return { scheme, url: new URL(trimmed), raw: trimmed };
  if (schemes.get(scheme)?.pathLike === true) {
    const opaque = `${scheme}:${encodeURI((match[2] ?? '').replace(/^\/\//, ''))}`;
    if (URL.canParse(opaque)) return { scheme, url: new URL(opaque), raw: trimmed };
  }
  throw unparseable('does not parse as a URL');
}

/**
 * Opens the store for a memory URL through the factory registered for its scheme.
 *
 * @throws HarnessError `unknown_memory_scheme` listing the known schemes; `memory_error` for an
 * unparseable URL or a backend that cannot open.
 */
export async function openMemoryStore(url: string): Promise<MemoryStore> {
  // The scheme is looked up before the rest is parsed: for an unknown scheme, naming the known ones
  // helps more than a parse error about a URL no backend would take anyway.
  const scheme =
    typeof url === 'string' ? /^\s*([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase() : undefined;
  if (scheme !== undefined && !schemes.has(scheme)) {
    const known = knownMemorySchemes();
    throw new HarnessError(
      'unknown_memory_scheme',
      `memory URL "${redactUrl(url)}" has scheme "${scheme}:", which no backend handles; known schemes: ${known.join(', ')}`,
      {
        hint: `use one of ${known.map((name) => `${name}://`).join(', ')}, or import the module that registers "${scheme}" first`,
        details: { scheme, known },
      },
    );
  }
  const parsed = parseMemoryUrl(url);
  const entry = schemes.get(parsed.scheme)!;
  try {
    return await entry.factory(parsed.url, parsed.raw);
  } catch (error) {
    throw toHarnessError(error, 'memory_error');
  }
}

registerMemoryScheme('memory', (_url, raw) => createInMemoryStore(raw), { pathLike: true });
registerMemoryScheme('sqlite', (_url, raw) => createSqliteStore(raw), { pathLike: true });
// Imported on first use, so ioredis (an optional peer) loads only for those who open a redis:// URL.
const openRedis: MemoryStoreFactory = async (_url, raw) => (await import('./redis.ts')).createRedisStore(raw);
registerMemoryScheme('redis', openRedis);
registerMemoryScheme('rediss', openRedis);
// Imported on first use, so lmdb (an optional peer with a native binary) loads only for lmdb:// URLs.
registerMemoryScheme('lmdb', async (_url, raw) => (await import('./lmdb.ts')).createLmdbStore(raw), {
  pathLike: true,
});
// Imported on first use, so pg and PGlite (optional peers) load only for their URLs.
const openPostgres: MemoryStoreFactory = async (_url, raw) =>
  (await import('./postgres.ts')).createPostgresStore(raw);
registerMemoryScheme('postgres', openPostgres);
registerMemoryScheme('postgresql', openPostgres);
registerMemoryScheme('pglite', async (_url, raw) => (await import('./pglite.ts')).createPgliteStore(raw), {
  pathLike: true,
});
