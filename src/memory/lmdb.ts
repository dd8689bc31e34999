/**
 * The `lmdb://` backend on the `lmdb` package (lmdb-js, an optional peer dependency imported only
 * when such a store is opened): an embedded, memory-mapped B+tree in a directory, shared safely by
 * several processes through LMDB's lock file.
 *
 * ## Data layout
 *
 * One LMDB environment per directory (`data.mdb` + `lock.mdb`) with two databases. Keys are lmdb-js
 * ordered-binary arrays, so everything of one namespace is a contiguous key range and `read` windows,
 * `dump`, `stats` and recall are range scans. `T`, `C`, `A` are the tenant, council and agent (agent
 * `''` for council-wide memory); they and every user string in a key (memory key, document id) go
 * through {@link lmdbKeyPart}, which keeps ranges of different namespaces disjoint.
 *
 * | database | key | value (msgpack unless noted) |
 * | --- | --- | --- |
 * | main | `['layout']` | {@link LMDB_LAYOUT_VERSION} |
 * | main | `['seq', T, C, A]` | the last message seq handed out |
 * | main | `['m', T, C, A, seq]` | `{ role, content, at, meta? }` (meta as JSON text) |
 * | main | `['k', T, C, A, key]` | `{ key, value, expiresAt? }` (value as JSON text, expiresAt epoch ms) |
 * | main | `['x', expiresAt, T, C, A, key]` | `1`: expiry index, so expired keys are swept by one range scan |
 * | main | `['d', T, C, A, id]` | `{ id, text, meta?, stats }` (stats: the BM25 term statistics) |
 * | main | `['dim', T, C, A]` | `{ dimension, embedded }`: the namespace's dimension and how many documents have a vector (absent when none) |
 * | `vectors` (binary) | `[T, C, A, id]` | uint32 LE byte length of the id, the id in UTF-8, zero padding to 4 bytes, then float32 LE values |
 *
 * Vectors live apart from the documents so vector recall scans only vectors and lexical recall only
 * texts; the id inside the vector value gives ties the same order as every other backend.
 *
 * ## Concurrency and durability
 *
 * - Every write runs in one `transactionSync`, which holds LMDB's single writer lock (shared across
 *   processes through `lock.mdb`). `append` reads the `seq` counter and writes the message inside it,
 *   so appenders in any number of processes never get the same seq and never lose a message; a
 *   `remember` checks the dimension inside it, so a wrong-dimension document writes nothing.
 * - Durability: the environment is opened with syncing on (`noSync`, `noMetaSync` and `useWritemap`
 *   off) and `transactionSync` commits are flushed (fsync) before they return, so a write whose
 *   promise resolved survives a SIGKILL of the process and also a power loss or OS crash. The price is
 *   one fsync per write: writes are serialised by the writer lock and their rate is bounded by the
 *   disk's flush latency (~0.3 ms on a local SSD, several ms on network volumes). lmdb-js's batched
 *   asynchronous writes would amortise the fsync but acknowledge later, and `noSync` would make a
 *   power loss lose or corrupt data; neither is used.
 * - Calls are synchronous under the hood: a write waiting for another process's writer lock blocks
 *   the event loop until that transaction commits (LMDB has no busy timeout; transactions here are
 *   short). Reads never wait for writers (MVCC) and start from the latest commit of any process.
 * - The map size grows by itself; `mapSizeBytes` sets the initial size (virtual address space, not disk).
 * - Recall is brute force in this process: the shared BM25 (`bm25.ts`) over the namespace's
 *   documents, or exact cosine (`vector.ts`) over its vectors, streamed through a bounded top-k.
 * - `dump` pages through the namespace 500 entries at a time (keyset pagination), so a large
 *   namespace is never held in memory; it is not a snapshot: a write between two pages may or may not
 *   show. `load` validates every record first, then writes in one transaction.
 */

import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Database, Key, RootDatabase, RootDatabaseOptionsWithPath } from 'lmdb';
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
  resolveNamespace,
  toJsonText,
} from './validation.ts';
import { checkDimension, checkEmbedding, rankByCosine, type VectorCandidate } from './vector.ts';

/** Options of {@link createLmdbStore}. */
export interface LmdbStoreOptions extends EmbeddedStoreOptions {
  /**
   * Initial size of the memory map in bytes (virtual address space, not disk space; the file grows
   * with the data). Default: lmdb-js's, which starts small and grows the map when it fills.
   */
  mapSizeBytes?: number;
}

/** The layout version this code writes (see the table in this module's documentation). */
export const LMDB_LAYOUT_VERSION = 1;

/** How many entries `dump` reads per page. */
const DUMP_PAGE_ENTRIES = 500;

/** How many expired keys one write sweeps at most, so a backlog never makes one write slow. */
const SWEEP_MAX_KEYS = 256;

/**
 * Key strings longer than this many UTF-8 bytes are replaced by a hash, so a key never exceeds
 * LMDB's 1978-byte limit (four parts of 256 bytes plus separators stay far below it).
 */
const MAX_KEY_PART_BYTES = 256;

const EXAMPLES = 'lmdb://./data/memory (relative to the working directory) or lmdb:///var/lib/forge/memory';

/** Sorts after every string or number element, so `[...prefix, HIGH]` ends a prefix's range. */
const HIGH = new Uint8Array([0xff]);

const LITTLE_ENDIAN = endianness() === 'LE';

type Ns = [string, string, string];

interface MessageValue {
  role: MemoryRole;
  content: string;
  at: number;
  meta?: string;
}

interface KeyValue {
  key: string;
  value: string;
  expiresAt?: number;
}

interface DocumentValue {
  id: string;
  text: string;
  meta?: string;
  stats: string;
}

interface DimensionValue {
  dimension: number;
  embedded: number;
}

/**
 * Turns a user string into a key element: NUL (which lmdb-js uses as the array separator) and the
 * escape character itself are escaped (`\x01` → `\x01\x02`, `\x00` → `\x01\x01`), and a string of
 * more than 256 UTF-8 bytes becomes `\x01\x03` + its SHA-256, which no escaped string can equal.
 * The mapping is injective and never yields a NUL byte, so no two namespaces, keys or ids share a
 * key and the range of one namespace never overlaps another's.
 */
export function lmdbKeyPart(value: string): string {
  // The escape character first, so the escapes added for NUL are not escaped again.
  const escaped = value.replaceAll('\x01', '\x01\x02').replaceAll('\x00', '\x01\x01');
  if (Buffer.byteLength(escaped) <= MAX_KEY_PART_BYTES) return escaped;
  return `\x01\x03${createHash('sha256').update(value).digest('base64url')}`;
}

/**
 * Resolves the directory of an `lmdb://` URL: `lmdb://relative/dir` (relative to the working
 * directory) or `lmdb:///abs/dir`. Percent-escapes are decoded (`%20` → space).
 *
 * @throws HarnessError `memory_error` with an example for another scheme, no path, or a query string.
 */
export function lmdbPathFromUrl(url: string): string {
  const shown = typeof url === 'string' ? redactUrl(url) : String(url);
  const fail = (problem: string, cause?: unknown): HarnessError =>
    memoryError(`memory URL "${shown}" ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      hint: `use ${EXAMPLES}`,
      details: { url: shown },
    });
  const match = typeof url === 'string' ? /^lmdb:\/\/(.*)$/is.exec(url.trim()) : null;
  if (match === null) throw fail('is not an lmdb:// URL');
  const rest = match[1] ?? '';
  if (/[?#]/.test(rest)) throw fail('has a query or fragment, which lmdb:// URLs do not take');
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch (error) {
    throw fail('has a malformed percent-escape (write % as %25)', error);
  }
  if (path === '') throw fail('names no directory');
  return isAbsolute(path) ? path : resolve(process.cwd(), path);
}

/**
 * Opens (creating the directory when missing) the LMDB environment of an `lmdb://` URL.
 *
 * @throws HarnessError `memory_error`: a bad URL (with an example); `lmdb` not installed; the path
 * is a file or cannot be created; the directory holds something that is not an LMDB environment, or
 * one written by a newer layout.
 */
export async function createLmdbStore(url: string, options: LmdbStoreOptions = {}): Promise<MemoryStore> {
  const path = lmdbPathFromUrl(url);
  const now = options.now ?? Date.now;
  const { mapSizeBytes } = options;
  if (mapSizeBytes !== undefined && (!Number.isSafeInteger(mapSizeBytes) || mapSizeBytes <= 0)) {
    throw memoryError(`mapSizeBytes must be a whole number of bytes > 0, got ${String(mapSizeBytes)}`, {
      hint: 'leave mapSizeBytes out to let the map grow by itself',
    });
  }
  const fail = (error: unknown, action: string): HarnessError => lmdbError(error, path, action);
  makeDirectory(path);
  checkDataFile(path);
  const open = await loadDriver();

  let db: RootDatabase;
  let vectors: Database<Uint8Array, Key>;
  try {
    const openOptions: RootDatabaseOptionsWithPath = {
      path,
      // The URL names a directory even when it looks like a file name ("memory.lmdb").
      noSubdir: false,
      encoding: 'msgpack',
      // Durability (see the module documentation): sync every commit, never write through the map.
      noSync: false,
      noMetaSync: false,
      useWritemap: false,
      // lmdb-js's overlapping sync defers the meta-page flush; after another process is killed
      // mid-commit, closing the environment then spins forever in mdb_env_sync (seen here, on the
      // main thread, so no timeout can fire). Plain synchronous commits avoid that path.
      overlappingSync: false,
      ...(mapSizeBytes === undefined ? {} : { mapSize: mapSizeBytes }),
    };
    db = open(openOptions);
  } catch (error) {
    throw fail(error, 'open');
  }
  try {
    vectors = db.openDB<Uint8Array, Key>({ name: 'vectors', encoding: 'binary' });
    const version = db.transactionSync(() => {
      const stored = db.get(['layout']) as unknown;
      if (stored === undefined) db.putSync(['layout'], LMDB_LAYOUT_VERSION);
      return stored ?? LMDB_LAYOUT_VERSION;
    });
    if (typeof version !== 'number' || version > LMDB_LAYOUT_VERSION) {
      throw memoryError(
        `memory directory ${path} has layout version ${String(version)}, which this forge-harness does not know (it reads and writes version ${LMDB_LAYOUT_VERSION})`,
        {
          hint: 'upgrade forge-harness (a newer one wrote this directory), or point the lmdb:// URL at another directory',
          details: { path, version },
        },
      );
    }
  } catch (error) {
    await db.close().catch(() => undefined);
    throw HarnessError.isInstance(error) ? error : fail(error, 'open');
  }

  let closed = false;
  /** Runs one call: abort and closed checks, then the work with lmdb errors mapped to memory_error. */
  const run = <T>(signal: AbortSignal | undefined, action: string, work: () => T): T => {
    try {
      throwIfAborted(signal);
      if (closed) {
        throw memoryError(`memory store ${redactUrl(url)} is closed`, {
          hint: 'open a new store; a closed one cannot be reused',
        });
      }
      return work();
    } catch (error) {
      throw HarnessError.isInstance(error) ? error : fail(error, action);
    }
  };
  const call = <T>(signal: AbortSignal | undefined, action: string, work: () => T): Promise<T> => {
    try {
      return Promise.resolve(run(signal, action, work));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  // lmdb-js keeps a read snapshot until the next timer tick; starting each read from the latest
  // commit lets a process read what another one wrote just before (e.g. told over IPC).
  const fresh = (): void => db.resetReadTxn();
  const nsOf = (ns: MemoryNamespace): Ns => {
    const { tenant, council, agent } = resolveNamespace(ns);
    return [lmdbKeyPart(tenant), lmdbKeyPart(council), lmdbKeyPart(agent)];
  };
  const range = (prefix: Key[]): { start: Key; end: Key } => ({ start: prefix, end: [...prefix, HIGH] });

  /** Deletes expired keys (at most {@link SWEEP_MAX_KEYS}); call inside a write transaction. */
  const sweep = (at: number): void => {
    const expired = Array.from(db.getKeys({ start: ['x'], end: ['x', at, HIGH], limit: SWEEP_MAX_KEYS }));
    for (const key of expired as Key[][]) {
      db.removeSync(key);
      db.removeSync(['k', ...key.slice(2)]);
    }
  };
  /** Writes a key and its expiry index entry, replacing any previous one; inside a write transaction. */
  const putKey = (ns: Ns, key: string, value: string, expiresAt: number | undefined): void => {
    const part = lmdbKeyPart(key);
    const old = db.get(['k', ...ns, part]) as KeyValue | undefined;
    if (old?.expiresAt !== undefined) db.removeSync(['x', old.expiresAt, ...ns, part]);
    db.putSync(['k', ...ns, part], expiresAt === undefined ? { key, value } : { key, value, expiresAt });
    if (expiresAt !== undefined) db.putSync(['x', expiresAt, ...ns, part], 1);
  };
  /** Writes a document and its vector, keeping `dim` right; inside a write transaction. */
  const putDocument = (
    ns: Ns,
    id: string,
    text: string,
    meta: string | undefined,
    stats: string,
    embedding: number[] | undefined,
  ): void => {
    const what = `embedding of memory document "${id}"`;
    const dim = db.get(['dim', ...ns]) as DimensionValue | undefined;
    if (embedding !== undefined) checkDimension(embedding.length, dim?.dimension, what);
    const part = lmdbKeyPart(id);
    const hadVector = vectors.doesExist([...ns, part]);
    db.putSync(['d', ...ns, part], meta === undefined ? { id, text, stats } : { id, text, meta, stats });
    if (embedding !== undefined) vectors.putSync([...ns, part], encodeVector(id, embedding));
    else if (hadVector) vectors.removeSync([...ns, part]);
    const embedded = (dim?.embedded ?? 0) - (hadVector ? 1 : 0) + (embedding === undefined ? 0 : 1);
    if (embedded === 0) db.removeSync(['dim', ...ns]);
    else {
      const dimension = embedding?.length ?? dim?.dimension ?? 0;
      db.putSync(['dim', ...ns], { dimension, embedded } satisfies DimensionValue);
    }
  };
  /** Removes everything of a namespace; inside a write transaction. */
  const clear = (ns: Ns): void => {
    for (const kind of ['m', 'd'] as const) {
      for (const key of Array.from(db.getKeys(range([kind, ...ns])))) db.removeSync(key);
    }
    for (const { key, value } of Array.from(db.getRange(range(['k', ...ns])))) {
      const { expiresAt } = value as KeyValue;
      if (expiresAt !== undefined) db.removeSync(['x', expiresAt, ...(key as Key[]).slice(1)]);
      db.removeSync(key);
    }
    for (const key of Array.from(vectors.getKeys(range(ns)))) vectors.removeSync(key);
    db.removeSync(['seq', ...ns]);
    db.removeSync(['dim', ...ns]);
  };
  /** Reads up to {@link DUMP_PAGE_ENTRIES} entries of a range after `after` (exclusive). */
  const page = (prefix: Key[], after: Key | undefined): { key: Key; value: unknown }[] =>
    Array.from(
      db.getRange({
        ...range(prefix),
        ...(after === undefined ? {} : { start: after, exclusiveStart: true }),
        limit: DUMP_PAGE_ENTRIES,
      }),
    );

  return {
    url: redactUrl(url),

    append(ns: MemoryNamespace, message: MemoryMessageInput, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'append to', () => {
        const where = nsOf(ns);
        checkMessage(message);
        const meta = metaToJsonText(message.meta, 'message meta');
        const value: MessageValue = { role: message.role, content: message.content, at: now() };
        if (meta !== undefined) value.meta = meta;
        const seq = db.transactionSync(() => {
          const next = ((db.get(['seq', ...where]) as number | undefined) ?? 0) + 1;
          db.putSync(['seq', ...where], next);
          db.putSync(['m', ...where, next], value);
          return next;
        });
        return toMessage(seq, value);
      });
    },

    read(ns: MemoryNamespace, readOptions: ReadOptions = {}) {
      return call(readOptions.signal, 'read', () => {
        const where = nsOf(ns);
        const limit = checkLimit(readOptions.limit);
        if (limit === 0) return [];
        fresh();
        const prefix: Key[] = ['m', ...where];
        // Newest first from the end of the range, then turned around.
        const entries = Array.from(
          db.getRange({ start: [...prefix, HIGH], end: prefix, reverse: true, limit }),
        );
        return (entries as { key: Key[]; value: MessageValue }[])
          .reverse()
          .map(({ key, value }) => toMessage(key.at(-1) as number, value));
      });
    },

    get<T = unknown>(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'read', (): T | undefined => {
        const where = nsOf(ns);
        checkKey(key);
        fresh();
        const entry = db.get(['k', ...where, lmdbKeyPart(key)]) as KeyValue | undefined;
        if (entry === undefined || (entry.expiresAt !== undefined && entry.expiresAt <= now()))
          return undefined;
        return JSON.parse(entry.value) as T;
      });
    },

    set(ns: MemoryNamespace, key: string, value: unknown, setOptions: SetOptions = {}) {
      return call(setOptions.signal, 'write to', () => {
        const where = nsOf(ns);
        checkKey(key);
        const ttlMs = checkTtl(key, setOptions.ttlMs);
        const text = toJsonText(value, `value of memory key "${key}"`);
        const at = now();
        db.transactionSync(() => {
          sweep(at);
          putKey(where, key, text, ttlMs === undefined ? undefined : at + ttlMs);
        });
      });
    },

    delete(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'write to', () => {
        const where = nsOf(ns);
        checkKey(key);
        const part = lmdbKeyPart(key);
        const old = db.transactionSync(() => {
          const entry = db.get(['k', ...where, part]) as KeyValue | undefined;
          if (entry === undefined) return undefined;
          if (entry.expiresAt !== undefined) db.removeSync(['x', entry.expiresAt, ...where, part]);
          db.removeSync(['k', ...where, part]);
          return entry;
        });
        return old !== undefined && (old.expiresAt === undefined || old.expiresAt > now());
      });
    },

    remember(ns: MemoryNamespace, doc: MemoryDocumentInput, callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'write to', () => {
        const where = nsOf(ns);
        const id = checkDocument(doc) ?? randomUUID();
        const meta = metaToJsonText(doc.meta, `meta of memory document "${id}"`);
        const embedding =
          doc.embedding === undefined
            ? undefined
            : checkEmbedding(doc.embedding, `embedding of memory document "${id}"`);
        const stats = statsToJson(documentStats(doc.text));
        db.transactionSync(() => putDocument(where, id, doc.text, meta, stats, embedding));
        return id;
      });
    },

    recall(ns: MemoryNamespace, query: string, recallOptions: RecallOptions = {}): Promise<RecallHit[]> {
      return call(recallOptions.signal, 'read', () => {
        const where = nsOf(ns);
        if (typeof query !== 'string') throw memoryError('recall query must be a string');
        const k = checkK(recallOptions.k);
        const filter = checkFilter(recallOptions.filter);
        const vector =
          recallOptions.embedding === undefined
            ? undefined
            : checkEmbedding(recallOptions.embedding, 'recall embedding');
        fresh();
        if (vector === undefined) {
          const candidates = Array.from(
            db.getRange(range(['d', ...where])),
            ({ value }) => value as DocumentValue,
          ).map((value) => ({
            id: value.id,
            text: value.text,
            ...(value.meta === undefined ? {} : { meta: parseMeta(value.meta) }),
            stats: statsFromJson(value.stats),
          }));
          return rankBm25(candidates, query, { k, filter });
        }
        const dim = db.get(['dim', ...where]) as DimensionValue | undefined;
        if (dim === undefined) return [];
        checkDimension(vector.length, dim.dimension, 'recall embedding');
        // Streamed through the bounded top-k; meta is read (from the document) only to filter.
        function* candidates(): Generator<VectorCandidate & { key: Key[] }> {
          for (const { key, value } of vectors.getRange(range(where))) {
            const decoded = decodeVector(value);
            if (filter !== undefined) {
              const doc = db.get(['d', ...(key as Key[])]) as DocumentValue | undefined;
              if (!matchesFilter(doc?.meta === undefined ? undefined : parseMeta(doc.meta), filter)) continue;
            }
            yield { id: decoded.id, embedding: decoded.vector, key: key as Key[] };
          }
        }
        return rankByCosine(candidates(), vector, { k }).flatMap(({ candidate, score }) => {
          const doc = db.get(['d', ...candidate.key]) as DocumentValue | undefined;
          if (doc === undefined) return [];
          return [
            {
              id: doc.id,
              text: doc.text,
              ...(doc.meta === undefined ? {} : { meta: parseMeta(doc.meta) }),
              score,
            },
          ];
        });
      });
    },

    async *dump(ns: MemoryNamespace, callOptions: CallOptions = {}): AsyncGenerator<MemoryRecord> {
      const where = run(callOptions.signal, 'read', () => nsOf(ns));
      for (const kind of ['m', 'k', 'd'] as const) {
        let after: Key | undefined;
        for (;;) {
          const records = run(callOptions.signal, 'read', () => {
            fresh();
            const entries = page([kind, ...where], after);
            after = entries.at(-1)?.key;
            const at = now();
            const out: MemoryRecord[] = [];
            for (const { key, value } of entries) {
              if (kind === 'm') {
                out.push({
                  kind: 'message',
                  ...toMessage((key as Key[]).at(-1) as number, value as MessageValue),
                });
              } else if (kind === 'k') {
                const entry = value as KeyValue;
                if (entry.expiresAt !== undefined && entry.expiresAt <= at) continue;
                out.push({
                  kind: 'kv',
                  key: entry.key,
                  value: JSON.parse(entry.value) as unknown,
                  ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
                });
              } else {
                const doc = value as DocumentValue;
                const bytes = vectors.getBinary([...where, ...(key as Key[]).slice(4)]);
                out.push({
                  kind: 'document',
                  id: doc.id,
                  text: doc.text,
                  ...(doc.meta === undefined ? {} : { meta: parseMeta(doc.meta) }),
                  ...(bytes === undefined ? {} : { embedding: Array.from(decodeVector(bytes).vector) }),
                });
              }
            }
            return { out, more: entries.length === DUMP_PAGE_ENTRIES };
          });
          yield* records.out;
          if (!records.more) break;
        }
      }
    },

    async load(
      ns: MemoryNamespace,
      records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
      loadOptions: LoadOptions = {},
    ): Promise<number> {
      const { where, mode, dimension } = run(loadOptions.signal, 'read', () => {
        const resolved = nsOf(ns);
        const checked = checkLoadMode(loadOptions.mode);
        fresh();
        const dim = db.get(['dim', ...resolved]) as DimensionValue | undefined;
        return { where: resolved, mode: checked, dimension: dim?.dimension };
      });
      const prepared = await prepareLoad(records, { mode, dimension, signal: loadOptions.signal });
      // BM25 statistics are computed before the writer lock is taken, to hold it short.
      const stats = prepared.records.map((record) =>
        record.kind === 'document' ? statsToJson(documentStats(record.text)) : '',
      );
      return run(loadOptions.signal, 'write to', () => {
        db.transactionSync(() => {
          if (mode === 'replace') clear(where);
          // Another process may have fixed the dimension since the records were checked; putDocument
          // checks each vector again inside this transaction, and a throw aborts all of it.
          let seq = mode === 'replace' ? 0 : ((db.get(['seq', ...where]) as number | undefined) ?? 0);
          prepared.records.forEach((record, index) => {
            if (record.kind === 'message') {
              const messageSeq = mode === 'replace' ? record.seq : ++seq;
              if (mode === 'replace') seq = Math.max(seq, record.seq);
              const value: MessageValue = { role: record.role, content: record.content, at: record.at };
              if (record.meta !== undefined) value.meta = record.meta;
              db.putSync(['m', ...where, messageSeq], value);
            } else if (record.kind === 'kv') {
              putKey(where, record.key, record.value, record.expiresAt);
            } else {
              putDocument(where, record.id, record.text, record.meta, stats[index] ?? '', record.embedding);
            }
          });
          if (seq > 0) db.putSync(['seq', ...where], seq);
        });
        return prepared.records.length;
      });
    },

    stats(ns: MemoryNamespace, callOptions: CallOptions = {}): Promise<MemoryStats> {
      return call(callOptions.signal, 'read', () => {
        const where = nsOf(ns);
        fresh();
        const at = now();
        let keys = 0;
        for (const { value } of db.getRange(range(['k', ...where]))) {
          const { expiresAt } = value as KeyValue;
          if (expiresAt === undefined || expiresAt > at) keys++;
        }
        const dim = db.get(['dim', ...where]) as DimensionValue | undefined;
        return {
          messages: db.getCount(range(['m', ...where])),
          keys,
          documents: db.getCount(range(['d', ...where])),
          ...(dim === undefined ? {} : { dimension: dim.dimension }),
        };
      });
    },

    ping(callOptions: CallOptions = {}) {
      return call(callOptions.signal, 'read', () => {
        fresh();
        db.get(['layout']);
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}

function toMessage(seq: number, value: MessageValue): MemoryMessage {
  return {
    seq,
    role: value.role,
    content: value.content,
    at: value.at,
    ...(value.meta === undefined ? {} : { meta: parseMeta(value.meta) }),
  };
}

function parseMeta(meta: string): Record<string, unknown> {
  return JSON.parse(meta) as Record<string, unknown>;
}

/** Encodes a document's vector with its id (see the layout table). */
function encodeVector(id: string, vector: readonly number[]): Uint8Array {
  const idBytes = Buffer.from(id, 'utf8');
  const offset = 4 + idBytes.length + ((4 - (idBytes.length % 4)) % 4);
  const bytes = new Uint8Array(offset + vector.length * 4);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, idBytes.length, true);
  bytes.set(idBytes, 4);
  for (let index = 0; index < vector.length; index++) {
    view.setFloat32(offset + index * 4, vector[index] as number, true);
  }
  return bytes;
}

/** Decodes what {@link encodeVector} wrote; the vector is a view when the bytes allow one, else a copy. */
function decodeVector(bytes: Uint8Array): { id: string; vector: ArrayLike<number> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idLength = view.getUint32(0, true);
  const id = Buffer.from(bytes.buffer, bytes.byteOffset + 4, idLength).toString('utf8');
  const offset = 4 + idLength + ((4 - (idLength % 4)) % 4);
  const count = (bytes.byteLength - offset) >> 2;
  if (LITTLE_ENDIAN && (bytes.byteOffset + offset) % 4 === 0) {
    return { id, vector: new Float32Array(bytes.buffer, bytes.byteOffset + offset, count) };
  }
  const vector = new Float32Array(count);
  for (let index = 0; index < count; index++) vector[index] = view.getFloat32(offset + index * 4, true);
  return { id, vector };
}

/** Creates the store's directory, with an error that says what is in the way. */
function makeDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
    if (!statSync(path).isDirectory())
      throw Object.assign(new Error(`${path} is not a directory`), { code: 'ENOTDIR' });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const inTheWay = code === 'EEXIST' || code === 'ENOTDIR';
    throw memoryError(
      `cannot create the memory directory ${path}: ${inTheWay ? 'a file is in the way (an lmdb:// URL names a directory)' : (error as Error).message}`,
      {
        cause: error,
        hint: inTheWay
          ? `move the file away, or point the lmdb:// URL at a directory (e.g. ${path}.d)`
          : `make ${path} a writable directory, or point the lmdb:// URL at a writable path`,
        details: { path },
      },
    );
  }
}

/** LMDB's meta page magic number (`MDB_MAGIC`). */
const MDB_MAGIC = 0xbeefc0de;

/**
 * Refuses a `data.mdb` that does not start with two LMDB meta pages. lmdb-js crashes the whole
 * process (SIGSEGV) when it opens a file that is not an LMDB environment or was cut short, instead of
 * reporting an error, so the header is checked here first. The check is loose on purpose (the magic
 * number in the first 64 bytes of both meta pages, the page size stored next to it), so a layout
 * change of a later LMDB does not lock users out; a file damaged further inside can still crash it.
 */
function checkDataFile(directory: string): void {
  const file = join(directory, 'data.mdb');
  let bytes: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return;
      bytes = Buffer.alloc(Math.min(size, 2 * 65_536));
      readSync(fd, bytes, 0, bytes.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Absent (a new environment) is fine; anything else lmdb-js reports with a clear message itself.
    return;
  }
  const read = (offset: number): number | undefined =>
    offset + 4 <= bytes.length
      ? LITTLE_ENDIAN
        ? bytes.readUInt32LE(offset)
        : bytes.readUInt32BE(offset)
      : undefined;
  let magicAt = -1;
  for (let offset = 0; offset < 64 && magicAt < 0; offset += 4)
    if (read(offset) === MDB_MAGIC) magicAt = offset;
  // The page size is the first field of the first database record, after version, address and map size.
  const pageSize = magicAt < 0 ? undefined : read(magicAt + 24);
  const plausible =
    pageSize !== undefined && pageSize >= 512 && pageSize <= 65_536 && (pageSize & (pageSize - 1)) === 0;
  if (magicAt >= 0 && (!plausible || read(pageSize + magicAt) === MDB_MAGIC)) return;
  throw memoryError(
    `memory directory ${directory} holds a data.mdb that is not an LMDB environment (${magicAt < 0 ? 'no LMDB header' : 'cut short: the second meta page is missing'})`,
    {
      hint: `point the lmdb:// URL at a new directory, or move ${file} away (restore it from a backup if it was a memory store)`,
      details: { path: directory },
    },
  );
}

type OpenLmdb = (options: RootDatabaseOptionsWithPath) => RootDatabase;

/**
 * Imports lmdb-js. Exported for tests of the missing-driver message.
 *
 * @param importer how to import it; default `import('lmdb')`.
 * @throws HarnessError `memory_error` "install lmdb to use lmdb:// URLs" when it is not installed.
 */
export async function loadDriver(importer: () => Promise<unknown> = () => import('lmdb')): Promise<OpenLmdb> {
  let module: Record<string, unknown>;
  try {
    module = (await importer()) as Record<string, unknown>;
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    throw memoryError(
      missing ? 'install lmdb to use lmdb:// URLs' : `cannot load lmdb for lmdb:// URLs: ${String(error)}`,
      {
        cause: error,
        hint: missing
          ? 'run `npm install lmdb` (an optional peer dependency of forge-harness)'
          : 'reinstall lmdb (version 3); its prebuilt binary must match this platform',
      },
    );
  }
  const open = module.open ?? (module.default as Record<string, unknown> | undefined)?.open;
  if (typeof open !== 'function') {
    throw memoryError('the installed lmdb exports no open() for lmdb:// URLs', {
      hint: 'install lmdb version 3',
    });
  }
  return open as OpenLmdb;
}

/** Maps an lmdb-js error to a `memory_error` that names the directory and what would fix it. */
function lmdbError(error: unknown, path: string, action: string): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const base = `cannot ${action} memory directory ${path}: ${reason}`;
  // lmdb-js errors carry LMDB's symbolic names (MDB_MAP_FULL, MDB_INVALID, ...) in their message only.
  if (/MDB_MAP_FULL/.test(reason)) {
    return memoryError(base, {
      cause: error,
      details: { path },
      hint: 'raise mapSizeBytes, or free disk space on the volume of the directory',
    });
  }
  if (/MDB_INVALID|MDB_VERSION_MISMATCH|MDB_CORRUPTED/.test(reason)) {
    return memoryError(base, {
      cause: error,
      details: { path },
      hint: `${path} does not hold a usable LMDB environment; point the lmdb:// URL at a new directory or move this one away`,
    });
  }
  return memoryError(base, {
    cause: error,
    details: { path },
    hint: `check that ${path} is a readable and writable directory on a local disk (LMDB needs a file system with working locks and mmap)`,
  });
}
