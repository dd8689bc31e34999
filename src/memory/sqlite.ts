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
 * - Embeddings are float32 BLOBs (little-endian, `sqlite-vec`'s layout) with their length in `dim`.
 *   Vector recall orders the namespace's embedded rows by `sqlite-vec`'s `vec_distance_cosine` in C
 *   when the extension loads, then re-scores the few best in float64 with the shared `vector.ts`, so
 *   scores and order equal the brute-force path exactly. Why the scalar function and not a `vec0`
 *   virtual table: a `vec0` table has one fixed dimension (namespaces each have their own) and its
 *   metadata filters do not compare like recall's `===` filter. Why a brute-force fallback at all:
 *   `sqlite-vec` is an optional peer dependency with prebuilt binaries for a few platforms only, and
 *   a Node built without extension loading cannot use it; then the same ranking runs in JS over the
 *   streamed rows, keeping only the best k in memory.
 * - `dump` pages through the namespace by key (seq, key, id), 500 rows at a time, so a large
 *   namespace is never held in memory; it is not a snapshot: a write between two pages may or may
 *   not show. `load` writes in one transaction.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { HarnessError, throwIfAborted } from '../errors.ts';
import { documentStats, matchesFilter, rankBm25, statsFromJson, statsToJson } from './bm25.ts';
import { redactUrl } from './redact.ts';
import type {
  CallOptions,
  EmbeddedStoreOptions,
  LoadOptions,
  MemoryDocumentInput,
  MemoryMessage,
  MemoryMessageInput,
  MemoryNamespace,
  MemoryRecord,
  MemoryRole,
  MemoryStats,
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
  checkLoadMode,
  checkMessage,
  checkTtl,
  memoryError,
  metaToJsonText,
  prepareLoad,
  type RecallFilter,
  type ResolvedNamespace,
  resolveNamespace,
  toJsonText,
} from './validation.ts';
import {
  checkDimension,
  checkEmbedding,
  fromFloat32Bytes,
  rankByCosine,
  toFloat32Bytes,
  type VectorCandidate,
} from './vector.ts';

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions extends EmbeddedStoreOptions {
  /** How long a call waits for another connection's lock before failing, in milliseconds; default 5000. */
  busyTimeoutMs?: number;
  /**
   * Vector recall through the `sqlite-vec` extension. Default (absent): use it when the `sqlite-vec`
   * package is installed and loads, brute force in JS otherwise. `true`: require it (opening fails
   * with `memory_error` when it cannot load). `false`: never load it, always brute force. Both give
   * the same hits and scores; the extension is faster on large namespaces.
   */
  vectorExtension?: boolean;
}

/** A SQLite {@link MemoryStore}, telling which vector search it uses. */
export interface SqliteMemoryStore extends MemoryStore {
  /** `sqlite-vec` when the extension loaded, `brute-force` otherwise. */
  readonly vectorSearch: 'sqlite-vec' | 'brute-force';
}

/** How many rows `dump` reads per query. */
const DUMP_PAGE_ROWS = 500;

/**
 * Rows within this cosine distance of the k-th best are re-scored too: `sqlite-vec` computes in
 * float32 (error ~1e-7 at 16 dims, ~1e-6 at thousands), and the float64 re-score may reorder near-ties.
 */
const RESCORE_MARGIN = 1e-4;

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
  `ALTER TABLE documents ADD COLUMN embedding BLOB;
   ALTER TABLE documents ADD COLUMN dim INTEGER;
   CREATE INDEX documents_embedded ON documents (tenant, council, agent, dim) WHERE dim IS NOT NULL;`,
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
export function createSqliteStore(url: string, options: SqliteStoreOptions = {}): SqliteMemoryStore {
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
    db = new DatabaseSync(path, {
      timeout: busyTimeoutMs,
      allowExtension: options.vectorExtension !== false,
    });
  } catch (error) {
    throw fail(error, 'open');
  }
  let vectorSearch: SqliteMemoryStore['vectorSearch'] = 'brute-force';
  try {
    if (options.vectorExtension !== false) {
      vectorSearch = loadSqliteVec(db, options.vectorExtension === true) ? 'sqlite-vec' : 'brute-force';
      // Only our own SQL runs on this connection, but there is no reason to leave load_extension() open.
      db.enableLoadExtension(false);
    }
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
      `INSERT INTO documents (tenant, council, agent, doc_id, text, meta, stats, updated_at, embedding, dim)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, council, agent, doc_id) DO UPDATE SET
         text = excluded.text, meta = excluded.meta, stats = excluded.stats, updated_at = excluded.updated_at,
         embedding = excluded.embedding, dim = excluded.dim`,
    ),
    documents: db.prepare(`SELECT doc_id, text, meta, stats FROM documents WHERE ${ns3}`),
    dimension: db.prepare(`SELECT dim FROM documents WHERE ${ns3} AND dim IS NOT NULL LIMIT 1`),
    embedded: db.prepare(
      `SELECT doc_id, text, meta, embedding FROM documents WHERE ${ns3} AND dim IS NOT NULL`,
    ),
    documentByRowid: db.prepare('SELECT doc_id, text, meta, embedding FROM documents WHERE id = ?'),
    dumpMessages: db.prepare(
      `SELECT seq, role, content, at, meta FROM messages WHERE ${ns3} AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    dumpKeys: db.prepare(
      `SELECT key, value, expires_at FROM kv WHERE ${ns3} AND key > ? AND (expires_at IS NULL OR expires_at > ?)
       ORDER BY key LIMIT ?`,
    ),
    dumpDocuments: db.prepare(
      `SELECT doc_id, text, meta, embedding FROM documents WHERE ${ns3} AND doc_id > ? ORDER BY doc_id LIMIT ?`,
    ),
    countMessages: db.prepare(`SELECT count(*) AS n FROM messages WHERE ${ns3}`),
    countKeys: db.prepare(
      `SELECT count(*) AS n FROM kv WHERE ${ns3} AND (expires_at IS NULL OR expires_at > ?)`,
    ),
    countDocuments: db.prepare(`SELECT count(*) AS n FROM documents WHERE ${ns3}`),
    clearMessages: db.prepare(`DELETE FROM messages WHERE ${ns3}`),
    clearKeys: db.prepare(`DELETE FROM kv WHERE ${ns3}`),
    clearDocuments: db.prepare(`DELETE FROM documents WHERE ${ns3}`),
    ping: db.prepare('SELECT max(version) AS version FROM schema_version'),
  } satisfies Record<string, StatementSync>;
  // Ordered by sqlite-vec's distance in C; LIMIT -1 is SQLite for no limit.
  const nearest =
    vectorSearch === 'sqlite-vec'
      ? db.prepare(
          `SELECT id, vec_distance_cosine(embedding, ?) AS distance FROM documents
           WHERE ${ns3} AND dim IS NOT NULL ORDER BY distance LIMIT ?`,
        )
      : undefined;

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
  const dimensionOf = (where: [string, string, string]): number | undefined =>
    (sql.dimension.get(...where) as { dim: number } | undefined)?.dim;

  /** Top k by cosine: sqlite-vec orders the rows, the few best are re-scored in float64. */
  const nearestByExtension = (
    statement: StatementSync,
    where: [string, string, string],
    vector: number[],
    k: number,
    filter: RecallFilter | undefined,
  ): EmbeddedCandidate[] => {
    const blob = toFloat32Bytes(vector);
    // Without a filter the best k + 32 rows nearly always cover the margin; else read on (rarely).
    for (const limit of filter === undefined ? [k + 32, -1] : [-1]) {
      const picked: EmbeddedCandidate[] = [];
      let cutoff = Number.POSITIVE_INFINITY;
      let rows = 0;
      let stopped = false;
      for (const row of statement.iterate(blob, ...where, limit) as Iterable<{
        id: number;
        distance: number;
      }>) {
        rows++;
        if (row.distance > cutoff) {
          stopped = true;
          break;
        }
        const candidate = toCandidate(sql.documentByRowid.get(row.id) as unknown as EmbeddedRow);
        if (filter !== undefined && !matchesFilter(candidate.meta, filter)) continue;
        picked.push(candidate);
        if (picked.length === k) cutoff = row.distance + RESCORE_MARGIN;
      }
      if (stopped || limit === -1 || rows < limit) return picked;
    }
    return [];
  };

  return {
    url: redactUrl(url),
    vectorSearch,

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
        const what = `embedding of memory document "${id}"`;
        const embedding = doc.embedding === undefined ? undefined : checkEmbedding(doc.embedding, what);
        const stats = statsToJson(documentStats(doc.text));
        transaction(() => {
          // Checked under the write lock, so two processes cannot fix two dimensions at once.
          if (embedding !== undefined) checkDimension(embedding.length, dimensionOf(where), what);
          sql.upsertDocument.run(
            ...where,
            id,
            doc.text,
            meta ?? null,
            stats,
            now(),
            embedding === undefined ? null : toFloat32Bytes(embedding),
            embedding?.length ?? null,
          );
        });
        return id;
      });
    },

    recall(ns: MemoryNamespace, query: string, recallOptions: RecallOptions = {}): Promise<RecallHit[]> {
      return call(recallOptions.signal, 'read', () => {
        const where = key3(resolveNamespace(ns));
        if (typeof query !== 'string') throw memoryError('recall query must be a string');
        const k = checkK(recallOptions.k);
        const filter = checkFilter(recallOptions.filter);
        if (recallOptions.embedding !== undefined) {
          const vector = checkEmbedding(recallOptions.embedding, 'recall embedding');
          const dimension = dimensionOf(where);
          if (dimension === undefined) return [];
          checkDimension(vector.length, dimension, 'recall embedding');
          const candidates =
            nearest === undefined
              ? streamCandidates(sql.embedded.iterate(...where) as Iterable<EmbeddedRow>)
              : nearestByExtension(nearest, where, vector, k, filter);
          return rankByCosine(candidates, vector, { k, filter }).map(({ candidate, score }) => ({
            id: candidate.id,
            text: candidate.text,
            ...(candidate.meta === undefined ? {} : { meta: candidate.meta }),
            score,
          }));
        }
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

    async *dump(ns: MemoryNamespace, callOptions: CallOptions = {}): AsyncGenerator<MemoryRecord> {
      const where = await call(callOptions.signal, 'read', () => key3(resolveNamespace(ns)));
      // Keyset pages (seq > last, key > last, id > last): each page is an index range scan, however deep.
      let seq = 0;
      for (;;) {
        const rows = await call(
          callOptions.signal,
          'read',
          () => sql.dumpMessages.all(...where, seq, DUMP_PAGE_ROWS) as unknown as MessageRow[],
        );
        for (const row of rows) yield { kind: 'message', ...toMessage(row) };
        if (rows.length < DUMP_PAGE_ROWS) break;
        seq = rows.at(-1)?.seq ?? seq;
      }
      let key = '';
      for (;;) {
        const rows = await call(
          callOptions.signal,
          'read',
          () => sql.dumpKeys.all(...where, key, now(), DUMP_PAGE_ROWS) as unknown as KeyRow[],
        );
        for (const row of rows) {
          yield {
            kind: 'kv',
            key: row.key,
            value: JSON.parse(row.value) as unknown,
            ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
          };
        }
        if (rows.length < DUMP_PAGE_ROWS) break;
        key = rows.at(-1)?.key ?? key;
      }
      let id = '';
      for (;;) {
        const rows = await call(
          callOptions.signal,
          'read',
          () => sql.dumpDocuments.all(...where, id, DUMP_PAGE_ROWS) as unknown as EmbeddedRow[],
        );
        for (const row of rows) {
          yield {
            kind: 'document',
            id: row.doc_id,
            text: row.text,
            ...(row.meta === null ? {} : { meta: JSON.parse(row.meta) as Record<string, unknown> }),
            ...(row.embedding === null ? {} : { embedding: fromFloat32Bytes(row.embedding) }),
          };
        }
        if (rows.length < DUMP_PAGE_ROWS) break;
        id = rows.at(-1)?.doc_id ?? id;
      }
    },

    async load(
      ns: MemoryNamespace,
      records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
      loadOptions: LoadOptions = {},
    ): Promise<number> {
      const { where, mode, dimension } = await call(loadOptions.signal, 'read', () => {
        const resolved = key3(resolveNamespace(ns));
        const checked = checkLoadMode(loadOptions.mode);
        return { where: resolved, mode: checked, dimension: dimensionOf(resolved) };
      });
      const prepared = await prepareLoad(records, { mode, dimension, signal: loadOptions.signal });
      // BM25 statistics are computed before the write lock is taken, to hold it short.
      const stats = prepared.records.map((record) =>
        record.kind === 'document' ? statsToJson(documentStats(record.text)) : '',
      );
      return call(loadOptions.signal, 'write to', () => {
        const at = now();
        transaction(() => {
          if (mode === 'replace') {
            sql.clearMessages.run(...where);
            sql.clearKeys.run(...where);
            sql.clearDocuments.run(...where);
          } else if (prepared.dimension !== undefined) {
            // Another process may have fixed the dimension since the records were checked.
            checkDimension(prepared.dimension, dimensionOf(where), 'the loaded embeddings');
          }
          let seq = mode === 'replace' ? 0 : Number((sql.nextSeq.get(...where) as { next: number }).next) - 1;
          prepared.records.forEach((record, index) => {
            if (record.kind === 'message') {
              const { role, content, meta } = record;
              sql.insertMessage.run(
                ...where,
                mode === 'replace' ? record.seq : ++seq,
                role,
                content,
                record.at,
                meta ?? null,
              );
            } else if (record.kind === 'kv') {
              sql.setKey.run(...where, record.key, record.value, record.expiresAt ?? null);
            } else {
              sql.upsertDocument.run(
                ...where,
                record.id,
                record.text,
                record.meta ?? null,
                stats[index] ?? '',
                at,
                record.embedding === undefined ? null : toFloat32Bytes(record.embedding),
                record.embedding?.length ?? null,
              );
            }
          });
        });
        return prepared.records.length;
      });
    },

    stats(ns: MemoryNamespace, callOptions: CallOptions = {}): Promise<MemoryStats> {
      return call(callOptions.signal, 'read', () => {
        const where = key3(resolveNamespace(ns));
        const count = (statement: StatementSync, ...extra: number[]): number =>
          Number((statement.get(...where, ...extra) as { n: number }).n);
        const dimension = dimensionOf(where);
        return {
          messages: count(sql.countMessages),
          keys: count(sql.countKeys, now()),
          documents: count(sql.countDocuments),
          ...(dimension === undefined ? {} : { dimension }),
        };
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

interface KeyRow {
  key: string;
  value: string;
  expires_at: number | null;
}

interface EmbeddedRow {
  doc_id: string;
  text: string;
  meta: string | null;
  embedding: Uint8Array | null;
}

interface EmbeddedCandidate extends VectorCandidate {
  text: string;
}

function toCandidate(row: EmbeddedRow): EmbeddedCandidate {
  return {
    id: row.doc_id,
    text: row.text,
    embedding: row.embedding === null ? [] : fromFloat32Bytes(row.embedding),
    meta: row.meta === null ? undefined : (JSON.parse(row.meta) as Record<string, unknown>),
  };
}

/** Streams rows into the brute-force ranking one at a time, so only the best k stay in memory. */
function* streamCandidates(rows: Iterable<EmbeddedRow>): Generator<EmbeddedCandidate> {
  for (const row of rows) yield toCandidate(row);
}

/**
 * Loads `sqlite-vec` into the connection. The package is an optional peer dependency, required only
 * here (when a store is opened) and synchronously, because opening a store is synchronous.
 *
 * @returns false when it is missing or does not load and `required` is false.
 * @throws HarnessError `memory_error` when it cannot load and `required` is true.
 */
function loadSqliteVec(db: DatabaseSync, required: boolean): boolean {
  try {
    const sqliteVec = createRequire(import.meta.url)('sqlite-vec') as { getLoadablePath(): string };
    db.loadExtension(sqliteVec.getLoadablePath());
    return true;
  } catch (error) {
    if (!required) return false;
    const missing = (error as { code?: unknown }).code === 'MODULE_NOT_FOUND';
    throw memoryError(
      missing
        ? 'install sqlite-vec to use vectorExtension: true on sqlite:// stores'
        : `the sqlite-vec extension did not load: ${(error as Error).message}`,
      {
        cause: error,
        hint: missing
          ? 'npm install sqlite-vec, or leave vectorExtension out to fall back to brute-force vector recall'
          : 'check sqlite-vec has a build for this platform, or leave vectorExtension out to use brute force',
      },
    );
  }
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
