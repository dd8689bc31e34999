/**
 * The `pglite://` memory backend: PostgreSQL compiled to WASM (`@electric-sql/pglite`, an optional
 * peer dependency loaded only when such a URL is opened) running in this process, over the shared SQL
 * layer of `sql/store.ts`. The same schema, queries and migrations as `postgres://`, with no server.
 *
 * - `pglite://./data/memory` (a directory, relative to the working directory, created when missing),
 *   `pglite:///abs/dir`, or `pglite://:memory:` (gone at close). `?schema=name` as for postgres://.
 * - Durability: PGlite writes the data directory after every statement (its default, not
 *   `relaxedDurability`), so a committed write survives the process being killed (SIGKILL included).
 * - One process at a time: PGlite is a single-user PostgreSQL without a postmaster to share the
 *   directory. The store holds `forge-memory.lock` (with its pid) in the directory while open and
 *   refuses a directory another live process, or another store of this process, holds. A lock left by
 *   a killed process is taken over.
 * - Vectors: pgvector from `@electric-sql/pglite-pgvector` (PGlite 0.5) or `@electric-sql/pglite/vector`
 *   (PGlite 0.3–0.4) when installed; without it, or with `pgvector: false`, the `real[]` fallback.
 * - Startup: a new directory runs initdb (about 2 s); reopening an existing one takes about 0.3 s.
 */

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { PGliteInterface, PGliteOptions } from '@electric-sql/pglite';
import { HarnessError } from '../errors.ts';
import { redactUrl } from './redact.ts';
import type { SqlExecutor, SqlQueryable } from './sql/executor.ts';
import { createSqlMemoryStore, type SqlMemoryStore } from './sql/store.ts';
import type { EmbeddedStoreOptions } from './store.ts';
import { memoryError } from './validation.ts';

/** Options of {@link createPgliteStore}. */
export interface PgliteStoreOptions extends EmbeddedStoreOptions {
  /** Use pgvector when its PGlite extension is installed (for a new schema); false forces the fallback. Default true. */
  pgvector?: boolean;
  /** With pgvector: `hnsw` (default) indexes embeddings per dimension, `exact` always scans; see `SqlMemoryStoreOptions`. */
  vectorIndex?: 'hnsw' | 'exact';
  /**
   * A PGlite instance to use instead of opening the URL's directory (an application that already runs
   * PGlite can keep its memory there). The store does not close it, and does not take the directory
   * lock; the URL then only names the store and may carry `?schema=`.
   */
  instance?: PGliteInterface;
}

/** Where a `pglite://` URL points. */
export interface PgliteTarget {
  /** Absolute directory, or `:memory:`. */
  path: string;
  schema: string | undefined;
}

/** Name of the lock file the store keeps in a PGlite data directory while it is open. */
export const PGLITE_LOCK_FILE = 'forge-memory.lock';

const EXAMPLES =
  'pglite://./data/memory (relative to the working directory), pglite:///var/lib/forge/memory or pglite://:memory:';

/**
 * Reads a `pglite://` URL: a directory (relative to the working directory, or absolute with three
 * slashes) or `:memory:`, and the optional `?schema=`. Percent-escapes are decoded.
 *
 * @throws HarnessError `memory_error` with examples for another scheme, no path, a malformed escape,
 * a fragment, another query parameter, or a bad schema name.
 */
export function pgliteTargetFromUrl(url: string): PgliteTarget {
  const fail = (problem: string, cause?: unknown): HarnessError =>
    memoryError(`memory URL "${redactUrl(url)}" ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      hint: `use ${EXAMPLES}, optionally with ?schema=<name>`,
      details: { url: redactUrl(url) },
    });
  const match = /^pglite:\/\/([^?#]*)(\?[^#]*)?(#.*)?$/is.exec(url.trim());
  if (match === null) throw fail('is not a pglite:// URL');
  if (match[3] !== undefined) throw fail('has a fragment (#…), which pglite:// URLs do not take');
  const query = new URLSearchParams(match[2] ?? '');
  let schema: string | undefined;
  for (const [name, value] of query) {
    if (name !== 'schema') throw fail(`has the query parameter "${name}"; pglite:// takes only ?schema=`);
    if (value === '' || value.length > 63 || value.includes('\u0000')) {
      throw fail(`has ?schema="${value}"; a schema name is 1 to 63 characters`);
    }
    schema = value;
  }
  let path: string;
  try {
    path = decodeURIComponent(match[1] ?? '');
  } catch (error) {
    throw fail('has a malformed percent-escape (write % as %25)', error);
  }
  if (path === '') throw fail('names no directory');
  if (path === ':memory:') return { path, schema };
  return { path: isAbsolute(path) ? path : resolve(process.cwd(), path), schema };
}

// Directories opened by a store of this process: a second PGlite on the same directory would
// corrupt it just as another process would, and the lock file cannot tell (same pid).
const openDirectories = new Set<string>();

/**
 * Opens a PGlite memory store: starts PGlite on the URL's directory (running initdb when it is new)
 * or in memory, migrates the schema and returns the store.
 *
 * @throws HarnessError `memory_error`: "install @electric-sql/pglite to use pglite:// URLs" when the
 * driver is missing; naming the directory when it cannot be created, is held by another process, or
 * is not a PostgreSQL data directory PGlite can open.
 */
export async function createPgliteStore(
  url: string,
  options: PgliteStoreOptions = {},
): Promise<SqlMemoryStore> {
  const target = pgliteTargetFromUrl(url);
  const label = target.path === ':memory:' ? 'PGlite :memory:' : `PGlite ${target.path}`;
  let db: PGliteInterface;
  let release = (): void => undefined;
  if (options.instance !== undefined) {
    db = options.instance;
  } else {
    const { PGlite } = await loadPglite();
    const extensions = options.pgvector === false ? {} : await loadVectorExtension();
    const pgliteOptions: PGliteOptions = { extensions };
    if (target.path !== ':memory:') release = lockDirectory(target.path);
    try {
      db = await PGlite.create(target.path === ':memory:' ? 'memory://' : target.path, pgliteOptions);
    } catch (error) {
      release();
      throw memoryError(`cannot open ${label}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
        hint: `point the pglite:// URL at an empty or new directory, or at one PGlite wrote; move ${target.path} away if it holds something else`,
        details: { path: target.path },
      });
    }
  }
  const owned = options.instance === undefined;
  const executor = pgliteExecutor(db, label, async () => {
    if (owned) {
      try {
        await db.close();
      } finally {
        release();
      }
    }
  });
  return await createSqlMemoryStore(executor, {
    url: redactUrl(url),
    label,
    schema: target.schema,
    pgvector: options.pgvector ?? true,
    ...(options.vectorIndex === undefined ? {} : { vectorIndex: options.vectorIndex }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
}

async function loadPglite(): Promise<typeof import('@electric-sql/pglite')> {
  try {
    return await import('@electric-sql/pglite');
  } catch (error) {
    throw memoryError(
      'install @electric-sql/pglite to use pglite:// URLs (npm install @electric-sql/pglite)',
      {
        cause: error,
        hint: '@electric-sql/pglite is an optional peer dependency of forge-harness; add it to your project',
      },
    );
  }
}

/** PGlite's pgvector extension when a package providing it is installed; `{}` otherwise (fallback). */
async function loadVectorExtension(): Promise<NonNullable<PGliteOptions['extensions']>> {
  // Held in variables so bundlers and tsc do not insist on packages that are optional.
  const candidates = ['@electric-sql/pglite-pgvector', '@electric-sql/pglite/vector'];
  for (const name of candidates) {
    try {
      const module = (await import(name)) as { vector?: unknown };
      if (module.vector !== undefined) return { vector: module.vector as never };
    } catch {
      // Not installed (or another PGlite line): try the next one, then fall back to real[].
    }
  }
  return {};
}

/**
 * Takes the directory for this process: creates it when missing and writes the lock file, refusing
 * when a live process (or another store of this one) holds it. Returns the release function.
 */
function lockDirectory(path: string): () => void {
  const lockFile = join(path, PGLITE_LOCK_FILE);
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    throw memoryError(`cannot create the PGlite memory directory ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'point the pglite:// URL at a writable directory',
      details: { path },
    });
  }
  const held = (pid: number): HarnessError =>
    memoryError(`PGlite memory directory ${path} is open in process ${pid}`, {
      hint: 'PGlite serves one process at a time: close the other store, or use postgres:// for several processes',
      details: { path, pid },
    });
  if (openDirectories.has(path)) throw held(process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      openDirectories.add(path);
      return () => {
        openDirectories.delete(path);
        rmSync(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw memoryError(`cannot lock the PGlite memory directory ${path}: ${(error as Error).message}`, {
          cause: error,
          hint: `make ${path} a directory this process can write`,
          details: { path },
        });
      }
    }
    const pid = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) throw held(pid);
    // Left by a process that died (or by this one before a crash of its store): take it over.
    rmSync(lockFile, { force: true });
  }
  throw held(Number.NaN);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pgliteExecutor(db: PGliteInterface, label: string, close: () => Promise<void>): SqlExecutor {
  const run = async <Row extends object>(
    q: Pick<PGliteInterface, 'query'>,
    sql: string,
    params: readonly unknown[] | undefined,
  ): Promise<Row[]> => {
    try {
      return (await q.query<Row>(sql, params === undefined ? undefined : [...params])).rows;
    } catch (error) {
      throw pgliteError(error, label);
    }
  };
  return {
    query: (sql, params) => run(db, sql, params),
    async transaction(work) {
      try {
        return await db.transaction(async (tx) => {
          const wrapped: SqlQueryable = { query: (sql, params) => run(tx, sql, params) };
          return await work(wrapped);
        });
      } catch (error) {
        throw pgliteError(error, label);
      }
    },
    close,
  };
}

/** Maps a PGlite error to a `memory_error` naming the database. */
function pgliteError(error: unknown, label: string): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  const code = (error as { code?: unknown }).code;
  const reason = error instanceof Error ? error.message : String(error);
  if (code === '22021') {
    return memoryError(
      `${label} cannot store a text containing U+0000 (NUL) in a namespace, key or document id`,
      {
        cause: error,
        hint: 'remove NUL characters from names, keys and ids (message and document texts may hold them)',
      },
    );
  }
  return memoryError(`${label} call failed: ${reason}`, {
    cause: error,
    hint: 'check the PGlite data directory and the statement in the cause',
    ...(typeof code === 'string' ? { details: { code } } : {}),
  });
}
