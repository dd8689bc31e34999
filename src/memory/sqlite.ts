/**
 * The `sqlite://` backend on Node's built-in `node:sqlite` (`DatabaseSync`): the default persistent
 * store, one file shared safely by several processes.
 *
 * - WAL journal with `synchronous = NORMAL`: a committed write survives a crash of the process
 *   (SIGKILL included); only a power loss or OS crash may lose the last transactions.
 * - Every write runs in `BEGIN IMMEDIATE`, which takes the write lock up front and waits for it up to
 *   the busy timeout. Message seqs are read and inserted in that one transaction, so appenders in
 *   different processes never get the same seq and never lose a message. (A plain autocommit
 *   `INSERT … SELECT max(seq)` could fail with SQLITE_BUSY_SNAPSHOT in WAL mode, which the busy
 *   timeout does not retry.)
 * - `DatabaseSync` is synchronous: a call waiting for another process's lock blocks the event loop for
 *   up to the busy timeout (default 5000 ms).
 * - Recall scores the namespace's documents with the shared BM25 of `bm25.ts` (see there why not
 *   FTS5); term statistics are stored with each document so recall does not re-tokenise.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { HarnessError, throwIfAborted } from '../errors.ts';
import { documentStats, rankBm25, statsFromJson, statsToJson } from './bm25.ts';
import { redactUrl } from './redact.ts';
import type {
  CallOptions,
  EmbeddedStoreOptions,
  MemoryDocumentInput,
  MemoryMessage,
  MemoryMessageInput,
  MemoryNamespace,
  MemoryRole,
  MemoryStore,
  ReadOptions,
  RecallHit,
  RecallOptions,
  SetOptions,
} from './store.ts';
import {
  checkDocument,
  checkFilter,
  checkK,
  checkKey,
  checkLimit,
  checkMessage,
  checkTtl,
  memoryError,
  metaToJsonText,
  type ResolvedNamespace,
  resolveNamespace,
  toJsonText,
} from './validation.ts';

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions extends EmbeddedStoreOptions {
  /** How long a call waits for another connection's lock before failing, in milliseconds; default 5000. */
  busyTimeoutMs?: number;
}

/** The busy timeout used when none is given, in milliseconds. */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * The schema, one entry per version: entry i migrates version i to i + 1. Only ever append; a
 * released entry never changes, because databases out there already ran it.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     id INTEGER PRIMARY KEY,
     tenant TEXT NOT NULL, council TEXT NOT NULL, agent TEXT NOT NULL,
     seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, at INTEGER NOT NULL, meta TEXT,
     UNIQUE (tenant, council, agent, seq)
   );
   CREATE TABLE kv (
     id INTEGER PRIMARY KEY,
     tenant TEXT NOT NULL, council TEXT NOT NULL, agent TEXT NOT NULL,
     key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER,
     UNIQUE (tenant, council, agent, key)
   );
   CREATE INDEX kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE documents (
     id INTEGER PRIMARY KEY,
     tenant TEXT NOT NULL, council TEXT NOT NULL, agent TEXT NOT NULL,
     doc_id TEXT NOT NULL, text TEXT NOT NULL, meta TEXT, stats TEXT NOT NULL, updated_at INTEGER NOT NULL,
     UNIQUE (tenant, council, agent, doc_id)
   );`,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

const EXAMPLES =
  'sqlite://./data/app.db (relative to the working directory), sqlite:///var/lib/forge/app.db or sqlite://:memory:';

/**
 * Resolves the database file of a `sqlite://` URL: `sqlite://relative/path.db` (relative to the
 * working directory), `sqlite:///abs/path.db`, or `sqlite://:memory:` (returned as `:memory:`).
 * Percent-escapes are decoded (`%20` → space).
 *
 * @throws HarnessError `memory_error` for another scheme, no path, or a query string.
 */
export function sqlitePathFromUrl(url: string): string {
  const match = /^sqlite:\/\/(.*)$/is.exec(url);
  const fail = (problem: string): HarnessError =>
    memoryError(`memory URL "${redactUrl(url)}" ${problem}`, {
      hint: `use ${EXAMPLES}`,
      details: { url: redactUrl(url) },
    });
  if (match === null) throw fail('is not a sqlite:// URL');
  const rest = match[1] ?? '';
  if (/[?#]/.test(rest)) throw fail('has a query or fragment, which sqlite:// URLs do not take');
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch (error) {
    throw memoryError(`memory URL "${redactUrl(url)}" has a malformed percent-escape`, {
      cause: error,
      hint: 'write % as %25',
    });
  }
  if (path === '') throw fail('names no database file');
  if (path === ':memory:') return path;
  return isAbsolute(path) ? path : resolve(process.cwd(), path);
}

/**
 * Opens (creating it and its parent directories when missing) the SQLite database of a `sqlite://`
 * URL and migrates its schema.
 *
 * @throws HarnessError `memory_error` naming the path and the fix when the file cannot be created,
 * opened, is not a SQLite database, is locked past the busy timeout or was written by a newer version.
 */
export function createSqliteStore(url: string, options: SqliteStoreOptions = {}): MemoryStore {
  const path = sqlitePathFromUrl(url);
  const now = options.now ?? Date.now;
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw memoryError(`busyTimeoutMs must be a whole number of milliseconds ≥ 0, got ${busyTimeoutMs}`);
  }
  const fail = (error: unknown, action: string): HarnessError =>
    sqliteError(error, path, action, busyTimeoutMs);

  if (path !== ':memory:') {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw memoryError(
        `cannot create the directory of memory database ${path}: ${(error as Error).message}`,
        {
          cause: error,
          hint: `make ${dirname(path)} a writable directory, or point the sqlite:// URL at a writable path`,
          details: { path },
        },
      );
    }
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  } catch (error) {
    throw fail(error, 'open');
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    migrate(db, path);
  } catch (error) {
    db.close();
    throw fail(error, 'open');
  }

  const transaction = <T>(work: () => T): T => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      db.exec('COMMIT');
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw error;
    }
  };

  const ns3 = 'tenant = ? AND council = ? AND agent = ?';
  const sql = {
    nextSeq: db.prepare(`SELECT coalesce(max(seq), 0) + 1 AS next FROM messages WHERE ${ns3}`),
    insertMessage: db.prepare(
      'INSERT INTO messages (tenant, council, agent, seq, role, content, at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    readMessages: db.prepare(
      `SELECT seq, role, content, at, meta FROM messages WHERE ${ns3} ORDER BY seq DESC LIMIT ?`,
    ),
    getKey: db.prepare(`SELECT value, expires_at FROM kv WHERE ${ns3} AND key = ?`),
    setKey: db.prepare(
      `INSERT INTO kv (tenant, council, agent, key, value, expires_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, council, agent, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ),
    sweepKeys: db.prepare('DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    deleteKey: db.prepare(`DELETE FROM kv WHERE ${ns3} AND key = ? RETURNING expires_at`),
    upsertDocument: db.prepare(
      `INSERT INTO documents (tenant, council, agent, doc_id, text, meta, stats, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, council, agent, doc_id) DO UPDATE SET
         text = excluded.text, meta = excluded.meta, stats = excluded.stats, updated_at = excluded.updated_at`,
    ),
    documents: db.prepare(`SELECT doc_id, text, meta, stats FROM documents WHERE ${ns3}`),
    ping: db.prepare('SELECT max(version) AS version FROM schema_version'),
  } satisfies Record<string, StatementSync>;

  let closed = false;
  /** Runs one call: abort and closed checks, then the work with SQLite errors mapped to memory_error. */
  const call = <T>(signal: AbortSignal | undefined, action: string, work: () => T): Promise<T> => {
    try {
      throwIfAborted(signal);
      if (closed) {
        throw memoryError(`memory store ${redactUrl(url)} is closed`, {
          hint: 'open a new store; a closed one cannot be reused',
        });
      }
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(HarnessError.isInstance(error) ? error : fail(error, action));
    }
  };
  const key3 = (ns: ResolvedNamespace): [string, string, string] => [ns.tenant, ns.council, ns.agent];

  return {
    url: redactUrl(url),

    append(ns: MemoryNamespace, message: MemoryMessageInput, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'append to', () => {
        const where = key3(resolveNamespace(ns));
        checkMessage(message);
        const meta = metaToJsonText(message.meta, 'message meta');
        const at = now();
        const seq = transaction(() => {
          const next = Number((sql.nextSeq.get(...where) as { next: number }).next);
          sql.insertMessage.run(...where, next, message.role, message.content, at, meta ?? null);
          return next;
        });
        return toMessage({ seq, role: message.role, content: message.content, at, meta: meta ?? null });
      });
    },

    read(ns: MemoryNamespace, readOptions: ReadOptions = {}) {
      return call(readOptions.signal, 'read', () => {
        const where = key3(resolveNamespace(ns));
        const limit = checkLimit(readOptions.limit);
        if (limit === 0) return [];
        const rows = sql.readMessages.all(...where, limit) as unknown as MessageRow[];
        return rows.reverse().map(toMessage);
      });
    },

    get<T = unknown>(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'read', (): T | undefined => {
        const where = key3(resolveNamespace(ns));
        checkKey(key);
        const row = sql.getKey.get(...where, key) as { value: string; expires_at: number | null } | undefined;
        if (row === undefined || (row.expires_at !== null && row.expires_at <= now())) return undefined;
        return JSON.parse(row.value) as T;
      });
    },

    set(ns: MemoryNamespace, key: string, value: unknown, setOptions: SetOptions = {}) {
      return call(setOptions.signal, 'write to', () => {
        const where = key3(resolveNamespace(ns));
        checkKey(key);
        const ttlMs = checkTtl(key, setOptions.ttlMs);
        const text = toJsonText(value, `value of memory key "${key}"`);
        const at = now();
        transaction(() => {
          // Expired keys are swept while the write lock is held anyway; the partial index keeps it cheap.
          sql.sweepKeys.run(at);
          sql.setKey.run(...where, key, text, ttlMs === undefined ? null : at + ttlMs);
        });
      });
    },

    delete(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'write to', () => {
        const where = key3(resolveNamespace(ns));
        checkKey(key);
        const row = transaction(() => sql.deleteKey.get(...where, key)) as
          | { expires_at: number | null }
          | undefined;
        return row !== undefined && (row.expires_at === null || row.expires_at > now());
      });
    },

    remember(ns: MemoryNamespace, doc: MemoryDocumentInput, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'write to', () => {
        const where = key3(resolveNamespace(ns));
        const id = checkDocument(doc) ?? randomUUID();
        const meta = metaToJsonText(doc.meta, `meta of memory document "${id}"`);
        const stats = statsToJson(documentStats(doc.text));
        transaction(() => sql.upsertDocument.run(...where, id, doc.text, meta ?? null, stats, now()));
        return id;
      });
    },

    recall(ns: MemoryNamespace, query: string, recallOptions: RecallOptions = {}): Promise<RecallHit[]> {
      return call(recallOptions.signal, 'read', () => {
        const where = key3(resolveNamespace(ns));
        if (typeof query !== 'string') throw memoryError('recall query must be a string');
        const k = checkK(recallOptions.k);
        const filter = checkFilter(recallOptions.filter);
        const rows = sql.documents.all(...where) as unknown as DocumentRow[];
        const candidates = rows.map((row) => ({
          id: row.doc_id,
          text: row.text,
          ...(row.meta === null ? {} : { meta: JSON.parse(row.meta) as Record<string, unknown> }),
          stats: statsFromJson(row.stats),
        }));
        return rankBm25(candidates, query, { k, filter });
      });
    },

    ping(callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'read', () => {
        sql.ping.get();
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

interface MessageRow {
  seq: number;
  role: MemoryRole;
  content: string;
  at: number;
  meta: string | null;
}

interface DocumentRow {
  doc_id: string;
  text: string;
  meta: string | null;
  stats: string;
}

function toMessage(row: MessageRow): MemoryMessage {
  return {
    seq: row.seq,
    role: row.role,
    content: row.content,
    at: row.at,
    ...(row.meta === null ? {} : { meta: JSON.parse(row.meta) as Record<string, unknown> }),
  };
}

/** Brings the schema to {@link SQLITE_SCHEMA_VERSION} in one transaction, so two processes opening a new file agree. */
function migrate(db: DatabaseSync, path: string): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as {
      version: number | null;
    };
    const current = row.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw memoryError(
        `memory database ${path} has schema version ${current}, newer than this forge-harness supports (${MIGRATIONS.length})`,
        {
          hint: 'upgrade forge-harness, or point the sqlite:// URL at another file',
          details: { path, version: current },
        },
      );
    }
    for (let version = current; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version] ?? '');
    if (current < MIGRATIONS.length) {
      db.exec('DELETE FROM schema_version');
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** Maps a node:sqlite error to a `memory_error` that names the database path and what would fix it. */
function sqliteError(error: unknown, path: string, action: string, busyTimeoutMs: number): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  const errcode = (error as { errcode?: unknown }).errcode;
  const code = typeof errcode === 'number' ? errcode & 0xff : undefined;
  const reason = error instanceof Error ? error.message : String(error);
  const base = `cannot ${action} memory database ${path}: ${reason}`;
  const details = { path, ...(code === undefined ? {} : { sqliteCode: errcode }) };
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return memoryError(base, {
        cause: error,
        isRetryable: true,
        details,
        hint: `another connection held a lock on ${path} for longer than the busy timeout (${busyTimeoutMs} ms); retry, raise busyTimeoutMs, or stop the process holding it`,
      });
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return memoryError(base, {
        cause: error,
        details,
        hint: `make sure ${path} is a file (not a directory) that this process can read and write, in a writable directory, or point the sqlite:// URL elsewhere`,
      });
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return memoryError(base, {
        cause: error,
        details,
        hint: `${path} is not a usable SQLite database; point the sqlite:// URL at a new file or move this one away`,
      });
    case SQLITE_FULL:
      return memoryError(base, { cause: error, details, hint: `free disk space on the volume of ${path}` });
    case SQLITE_IOERR:
      return memoryError(base, {
        cause: error,
        isRetryable: true,
        details,
        hint: `check the disk and file system holding ${path}`,
      });
    default:
      return memoryError(base, {
        cause: error,
        details,
        hint: `check that ${path} is a healthy SQLite database`,
      });
  }
}
