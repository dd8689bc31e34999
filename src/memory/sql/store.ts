/**
 * The {@link MemoryStore} of the SQL backends, written once over {@link SqlExecutor} and used by both
 * `postgres://` (node-postgres) and `pglite://` (embedded PostgreSQL in WASM).
 *
 * - Message seqs come from a per-namespace counter row (`forge_memory_namespaces.last_seq`) that an
 *   append increments and uses in one statement; the row lock serialises appenders of a namespace in
 *   any number of processes, so seqs never repeat and never skip, and an acknowledged append is
 *   committed.
 * - TTL: `expires_at` (epoch ms of the store's clock) is checked on every read; every
 *   {@link PURGE_EVERY_SETS}th `set` also deletes up to {@link PURGE_BATCH} expired keys.
 * - Lexical recall loads the namespace's documents with their BM25 statistics and ranks them with the
 *   shared `rankBm25`, exactly as the embedded backends do.
 * - Vector recall orders candidates in SQL, then re-ranks the top `k + RERANK_MARGIN` rows with the
 *   shared float64 cosine of `vector.ts`, so scores and order match every other backend whatever the
 *   SQL arithmetic. Embeddings are stored as float32 (pgvector's precision); `dump` returns those.
 *   - pgvector (`vector` column): one HNSW index (cosine ops) per dimension, an expression index on
 *     `embedding::vector(D)` limited to `dim = D`, since a column without a typmod takes any
 *     dimension but an index needs one. Recall sets `hnsw.ef_search` ≥ 100 and (pgvector ≥ 0.8)
 *     `hnsw.iterative_scan = strict_order`, so rows of other namespaces or failing the filter do not
 *     starve the result. The planner uses the index for a large namespace and the primary key plus a
 *     sort (exact) for a small one. Measured on PGlite 0.5.14 / pgvector 0.8.7, 10k documents of 384
 *     dimensions, k = 10: exact scan 170–230 ms per query, HNSW 6–8 ms with recall@10 1.00 on
 *     clustered vectors and 0.82 on uniform noise (HNSW's worst case); building the index over 10k
 *     existing rows takes 5–13 s, and inserts into an indexed table cost about 9× more than without.
 *     `vectorIndex: 'exact'` turns the index off.
 *   - Fallback (`real[]` column, no pgvector): cosine over `unnest` of the array, summed in float8,
 *     for every embedded document of the namespace on each query. Measured with 10k documents of 384
 *     dimensions: 0.74 s per query on PostgreSQL 15, 1.4 s on PGlite (fetching the vectors and ranking
 *     in JavaScript was slower: 0.86 s and 1.45 s). Fine for a few thousand documents per namespace;
 *     install pgvector beyond that.
 * - `dump` pages through each table with keyset pagination (`seq > $last`, `key > $last`); `load`
 *   validates every record first and writes them in one transaction.
 */

import { randomUUID } from 'node:crypto';
import { throwIfAborted } from '../../errors.ts';
import { documentStats, rankBm25, statsFromJson, statsToJson } from '../bm25.ts';
import type {
  CallOptions,
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
} from '../store.ts';
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
} from '../validation.ts';
import { checkDimension, checkEmbedding, rankByCosine } from '../vector.ts';
import type { SqlExecutor, SqlQueryable } from './executor.ts';
import { migrate, quoteIdent, type SqlTables, TABLE_PREFIX, type VectorMode } from './schema.ts';

/** How many `set` calls of one store pass between two purges of expired keys. */
export const PURGE_EVERY_SETS = 64;

/** How many expired keys one purge deletes at most (keeps a `set` cheap however many expired). */
export const PURGE_BATCH = 1000;

/** How many rows one `dump` page reads. */
export const DUMP_PAGE_SIZE = 500;

/**
 * Extra rows vector recall reads beyond `k` before re-ranking in float64: SQL orders by float32
 * (pgvector) or differently summed float64 (fallback) cosines, which can swap near-ties at the edge.
 */
export const RERANK_MARGIN = 10;

/** A `load` of at least this many documents refreshes the documents table's planner statistics. */
export const ANALYZE_AFTER_DOCUMENTS = 1000;

/** Options of {@link createSqlMemoryStore}. */
export interface SqlMemoryStoreOptions {
  /** The store's URL with the password redacted (its `url`). */
  url: string;
  /** Names the database in error messages, e.g. `PostgreSQL 127.0.0.1:5432/test`; never a password. */
  label: string;
  /** Schema for the tables (created when missing); default: the connection's current schema. */
  schema?: string | undefined;
  /** Use pgvector when the extension exists or can be created (for a new schema); default true. */
  pgvector?: boolean;
  /**
   * With pgvector: `hnsw` (default) builds an HNSW index (cosine ops) per dimension and lets the
   * planner use it, which is approximate on large namespaces; `exact` always scans the namespace.
   * Ignored for the `real[]` fallback, which always scans.
   */
  vectorIndex?: 'hnsw' | 'exact';
  /** Clock for message `at` and TTL, epoch milliseconds; default `Date.now`. */
  now?: () => number;
}

/** What a SQL store reports about itself, beyond the contract (for tests, docs and the CLI). */
export interface SqlStoreInfo {
  /** The schema holding the tables. */
  schema: string;
  /** How embeddings are stored: pgvector `vector`, or the `real[]` fallback. */
  vector: 'pgvector' | 'array';
  /** How vector recall finds candidates: an HNSW index (pgvector only) or an exact scan. */
  vectorIndex: 'hnsw' | 'exact';
  /** The schema version before this store migrated it (0 = created now). */
  migratedFrom: number;
}

/** A {@link MemoryStore} on SQL, with {@link SqlStoreInfo}. */
export interface SqlMemoryStore extends MemoryStore {
  readonly info: SqlStoreInfo;
}

interface MessageRow {
  seq: number | string;
  role: MemoryRole;
  content: string;
  at: number | string;
  meta: string | null;
}

interface DocumentRow {
  doc_id: string;
  text: string;
  meta: string | null;
  stats?: string;
  embedding?: string | null;
}

const NS = 'tenant = $1 AND council = $2 AND agent = $3';

/**
 * Migrates the schema and returns a store over `db`. The store owns `db`: `close()` closes it, and
 * so does a failed migration.
 *
 * @throws HarnessError `memory_error` when the schema cannot be migrated (newer version, no rights,
 * server down: retryable).
 */
export async function createSqlMemoryStore(
  db: SqlExecutor,
  options: SqlMemoryStoreOptions,
): Promise<SqlMemoryStore> {
  const now = options.now ?? Date.now;
  let migrated: Awaited<ReturnType<typeof migrate>>;
  try {
    migrated = await migrate(db, {
      schema: options.schema,
      pgvector: options.pgvector ?? true,
      label: options.label,
    });
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  const { tables: t, vector } = migrated;
  const hnsw = vector.kind === 'pgvector' && (options.vectorIndex ?? 'hnsw') === 'hnsw';
  const sql = vectorSql(t, vector);
  let closed = false;
  const indexed = new Set<number>();

  /**
   * Builds the HNSW index for one dimension when missing. pgvector indexes need a fixed dimension,
   * so each is an expression index on `embedding::vector(D)` limited to `dim = D`; a new dimension
   * has no rows yet, so building it is quick.
   */
  const ensureIndex = async (dimension: number | undefined): Promise<void> => {
    if (!hnsw || dimension === undefined || indexed.has(dimension)) return;
    const name = quoteIdent(`${TABLE_PREFIX}documents_hnsw_${dimension}`);
    try {
      await db.query(
        `CREATE INDEX IF NOT EXISTS ${name} ON ${t.documents}
         USING hnsw ((embedding::${sql.vectorType}(${dimension})) ${sql.cosineOps}) WHERE dim = ${dimension}`,
      );
    } catch (error) {
      // Another process may have created it at the same moment (a catalog unique violation).
      const [row] = await db.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [
        `${quoteIdent(t.schema)}.${name}`,
      ]);
      if (row?.found == null) throw error;
    }
    indexed.add(dimension);
  };
  let sets = 0;

  const begin = (signal: AbortSignal | undefined): void => {
    throwIfAborted(signal);
    if (closed) {
      throw memoryError(`memory store ${options.url} is closed`, {
        hint: 'open a new store; a closed one cannot be reused',
      });
    }
  };
  const key3 = (ns: ResolvedNamespace): [string, string, string] => [ns.tenant, ns.council, ns.agent];

  /** The namespace's dimension, when one of its documents has an embedding. */
  const liveDimension = async (q: SqlQueryable, where: readonly string[]): Promise<number | undefined> => {
    const [row] = await q.query<{ dimension: number | null }>(
      `SELECT n.dimension FROM ${t.namespaces} n WHERE ${NS}
         AND EXISTS (SELECT 1 FROM ${t.documents} d WHERE d.tenant = $1 AND d.council = $2 AND d.agent = $3
                     AND d.dim IS NOT NULL)`,
      where,
    );
    return row?.dimension == null ? undefined : Number(row.dimension);
  };

  const store: SqlMemoryStore = {
    url: options.url,
    info: {
      schema: t.schema,
      vector: vector.kind,
      vectorIndex: hnsw ? 'hnsw' : 'exact',
      migratedFrom: migrated.from,
    },

    async append(ns: MemoryNamespace, message: MemoryMessageInput, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      const where = key3(resolveNamespace(ns));
      checkMessage(message);
      const meta = metaToJsonText(message.meta, 'message meta');
      const at = now();
      // One statement: the counter row's lock orders concurrent appenders, and the insert commits
      // with the increment or not at all.
      const [row] = await db.query<{ seq: number | string }>(
        `WITH n AS (
           INSERT INTO ${t.namespaces} AS n (tenant, council, agent, last_seq) VALUES ($1, $2, $3, 1)
           ON CONFLICT (tenant, council, agent) DO UPDATE SET last_seq = n.last_seq + 1
           RETURNING last_seq)
         INSERT INTO ${t.messages} (tenant, council, agent, seq, role, content, at, meta)
         SELECT $1, $2, $3, n.last_seq, $4::text, $5::text, $6::bigint, $7::text FROM n RETURNING seq`,
        [...where, message.role, JSON.stringify(message.content), at, meta ?? null],
      );
      return toMessage({
        seq: row?.seq ?? 0,
        role: message.role,
        content: JSON.stringify(message.content),
        at,
        meta: meta ?? null,
      });
    },

    async read(ns: MemoryNamespace, readOptions: ReadOptions = {}) {
      begin(readOptions.signal);
      const where = key3(resolveNamespace(ns));
      const limit = checkLimit(readOptions.limit);
      if (limit === 0) return [];
      const rows = await db.query<MessageRow>(
        `SELECT seq, role, content, at, meta FROM ${t.messages} WHERE ${NS} ORDER BY seq DESC LIMIT $4`,
        [...where, limit],
      );
      return rows.reverse().map(toMessage);
    },

    async get<T = unknown>(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      const where = key3(resolveNamespace(ns));
      checkKey(key);
      const [row] = await db.query<{ value: string; expires_at: number | string | null }>(
        `SELECT value, expires_at FROM ${t.kv} WHERE ${NS} AND key = $4`,
        [...where, key],
      );
      if (row === undefined || (row.expires_at !== null && Number(row.expires_at) <= now())) return undefined;
      return JSON.parse(row.value) as T;
    },

    async set(ns: MemoryNamespace, key: string, value: unknown, setOptions: SetOptions = {}) {
      begin(setOptions.signal);
      const where = key3(resolveNamespace(ns));
      checkKey(key);
      const ttlMs = checkTtl(key, setOptions.ttlMs);
      const text = toJsonText(value, `value of memory key "${key}"`);
      const at = now();
      if (++sets % PURGE_EVERY_SETS === 0) {
        // Bounded, so one set never pays for a backlog; the partial index finds expired keys.
        await db.query(
          `DELETE FROM ${t.kv} WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM ${t.kv} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT ${PURGE_BATCH}))`,
          [at],
        );
      }
      await db.query(
        `INSERT INTO ${t.kv} (tenant, council, agent, key, value, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant, council, agent, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        [...where, key, text, ttlMs === undefined ? null : at + ttlMs],
      );
    },

    async delete(ns: MemoryNamespace, key: string, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      const where = key3(resolveNamespace(ns));
      checkKey(key);
      const [row] = await db.query<{ expires_at: number | string | null }>(
        `DELETE FROM ${t.kv} WHERE ${NS} AND key = $4 RETURNING expires_at`,
        [...where, key],
      );
      return row !== undefined && (row.expires_at === null || Number(row.expires_at) > now());
    },

    async remember(ns: MemoryNamespace, doc: MemoryDocumentInput, callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      const where = key3(resolveNamespace(ns));
      const id = checkDocument(doc) ?? randomUUID();
      const meta = metaToJsonText(doc.meta, `meta of memory document "${id}"`);
      const embedding =
        doc.embedding === undefined
          ? undefined
          : checkEmbedding(doc.embedding, `embedding of memory document "${id}"`).map(Math.fround);
      const row = documentParams(id, doc.text, meta, embedding, vector);
      await ensureIndex(embedding?.length);
      if (embedding === undefined) {
        await db.query(sql.upsertDocuments(1), [...where, now(), ...row]);
        return id;
      }
      await db.transaction(async (tx) => {
        // The counter row's lock serialises the first embedders of a namespace, so two documents of
        // different lengths cannot both fix the dimension.
        const [nsRow] = await tx.query<{ dimension: number | null }>(
          `INSERT INTO ${t.namespaces} AS n (tenant, council, agent, dimension) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant, council, agent) DO UPDATE SET dimension = coalesce(n.dimension, excluded.dimension)
           RETURNING dimension`,
          [...where, embedding.length],
        );
        const fixed = nsRow?.dimension == null ? undefined : Number(nsRow.dimension);
        if (fixed !== undefined && fixed !== embedding.length) {
          // The dimension holds while any document (this one included) has an embedding; it may
          // change once none has.
          const [other] = await tx.query(
            `SELECT 1 FROM ${t.documents} WHERE ${NS} AND dim IS NOT NULL LIMIT 1`,
            where,
          );
          if (other !== undefined)
            checkDimension(embedding.length, fixed, `embedding of memory document "${id}"`);
          await tx.query(`UPDATE ${t.namespaces} SET dimension = $4 WHERE ${NS}`, [
            ...where,
            embedding.length,
          ]);
        }
        await tx.query(sql.upsertDocuments(1), [...where, now(), ...row]);
      });
      return id;
    },

    async recall(
      ns: MemoryNamespace,
      query: string,
      recallOptions: RecallOptions = {},
    ): Promise<RecallHit[]> {
      begin(recallOptions.signal);
      const where = key3(resolveNamespace(ns));
      if (typeof query !== 'string') throw memoryError('recall query must be a string');
      const k = checkK(recallOptions.k);
      const filter = checkFilter(recallOptions.filter);
      if (recallOptions.embedding === undefined) {
        const rows = await db.query<DocumentRow & { stats: string }>(
          `SELECT doc_id, text, meta, stats FROM ${t.documents} WHERE ${NS}`,
          where,
        );
        const candidates = rows.map((row) => ({
          id: row.doc_id,
          text: JSON.parse(row.text) as string,
          ...(row.meta === null ? {} : { meta: JSON.parse(row.meta) as Record<string, unknown> }),
          stats: statsFromJson(row.stats),
        }));
        return rankBm25(candidates, query, { k, filter });
      }
      const embedding = checkEmbedding(recallOptions.embedding, 'recall embedding');
      const dimension = await liveDimension(db, where);
      if (dimension === undefined) return [];
      checkDimension(embedding.length, dimension, 'recall embedding');
      // A filter PostgreSQL cannot hold as jsonb (a U+0000) is applied here instead, over every row.
      const sqlFilter = filter === undefined ? undefined : filterToJson(filter);
      const limit = filter !== undefined && sqlFilter === undefined ? null : k + RERANK_MARGIN;
      const params = [
        ...where,
        vectorLiteral(embedding, vector),
        limit,
        ...(sqlFilter === undefined ? [] : [sqlFilter]),
      ];
      const rows = hnsw
        ? await db.transaction(async (tx) => {
            // ef_search bounds the candidates one HNSW scan keeps; iterative scans (pgvector ≥ 0.8)
            // go on past it until enough rows pass the namespace and filter conditions, in order.
            const ef = Math.min(1000, Math.max(100, 2 * (k + RERANK_MARGIN)));
            await tx.query(`SET LOCAL hnsw.ef_search = ${ef}`);
            if (vector.kind === 'pgvector' && vector.iterativeScan) {
              await tx.query("SET LOCAL hnsw.iterative_scan = 'strict_order'");
            }
            return await tx.query<DocumentRow & { embedding: string }>(
              sql.nearestIndexed(dimension, sqlFilter !== undefined),
              params,
            );
          })
        : await db.query<DocumentRow & { embedding: string }>(sql.nearest(sqlFilter !== undefined), params);
      const candidates = rows.map((row) => ({
        id: row.doc_id,
        text: JSON.parse(row.text) as string,
        meta: row.meta === null ? undefined : (JSON.parse(row.meta) as Record<string, unknown>),
        embedding: parseVector(row.embedding),
      }));
      return rankByCosine(candidates, embedding, { k, filter }).map(({ candidate, score }) => ({
        id: candidate.id,
        text: candidate.text,
        ...(candidate.meta === undefined ? {} : { meta: candidate.meta }),
        score,
      }));
    },

    dump(ns: MemoryNamespace, callOptions: CallOptions = {}): AsyncIterable<MemoryRecord> {
      return dumpNamespace(ns, callOptions.signal);
    },

    async load(
      ns: MemoryNamespace,
      records: Iterable<MemoryRecord> | AsyncIterable<MemoryRecord>,
      loadOptions: LoadOptions = {},
    ): Promise<number> {
      begin(loadOptions.signal);
      const where = key3(resolveNamespace(ns));
      const mode = checkLoadMode(loadOptions.mode);
      const before = mode === 'append' ? await liveDimension(db, where) : undefined;
      const prepared = await prepareLoad(records, { mode, dimension: before, signal: loadOptions.signal });
      begin(loadOptions.signal);
      await ensureIndex(prepared.dimension);
      let documentCount = 0;
      await db.transaction(async (tx) => {
        // Lock the namespace's counter row for the whole load (appenders wait for it).
        const [nsRow] = await tx.query<{ last_seq: number | string }>(
          `INSERT INTO ${t.namespaces} AS n (tenant, council, agent) VALUES ($1, $2, $3)
           ON CONFLICT (tenant, council, agent) DO UPDATE SET last_seq = n.last_seq RETURNING last_seq`,
          where,
        );
        let lastSeq = Number(nsRow?.last_seq ?? 0);
        let dimension = prepared.dimension;
        if (mode === 'replace') {
          for (const table of [t.messages, t.kv, t.documents])
            await tx.query(`DELETE FROM ${table} WHERE ${NS}`, where);
          lastSeq = 0;
        } else {
          // Checked again under the lock: another process may have fixed the dimension meanwhile.
          const current = await liveDimension(tx, where);
          if (dimension !== undefined)
            checkDimension(dimension, current, 'embeddings of the loaded documents');
          dimension ??= current;
        }
        const messages: unknown[][] = [];
        const kv = new Map<string, unknown[]>();
        const documents = new Map<string, unknown[]>();
        const at = now();
        for (const record of prepared.records) {
          if (record.kind === 'message') {
            const seq = mode === 'replace' ? record.seq : ++lastSeq;
            if (mode === 'replace') lastSeq = Math.max(lastSeq, seq);
            messages.push([seq, record.role, JSON.stringify(record.content), record.at, record.meta ?? null]);
          } else if (record.kind === 'kv') {
            // Later records win, as if they were written one by one.
            kv.delete(record.key);
            kv.set(record.key, [record.key, record.value, record.expiresAt ?? null]);
          } else {
            documents.delete(record.id);
            documents.set(
              record.id,
              documentParams(record.id, record.text, record.meta, record.embedding?.map(Math.fround), vector),
            );
          }
        }
        await insertBatches(tx, messages, 5, (n) => sql.insertMessages(n), [...where]);
        await insertBatches(tx, [...kv.values()], 3, (n) => sql.upsertKeys(n), [...where]);
        await insertBatches(tx, [...documents.values()], 9, (n) => sql.upsertDocuments(n), [...where, at]);
        documentCount = documents.size;
        await tx.query(`UPDATE ${t.namespaces} SET last_seq = $4, dimension = $5 WHERE ${NS}`, [
          ...where,
          lastSeq,
          dimension ?? null,
        ]);
      });
      // A bulk load changes the table's statistics at once; without fresh ones the planner (PGlite
      // has no autovacuum to refresh them) keeps scanning instead of using the HNSW index.
      if (hnsw && documentCount >= ANALYZE_AFTER_DOCUMENTS) await db.query(`ANALYZE ${t.documents}`);
      return prepared.records.length;
    },

    async stats(ns: MemoryNamespace, callOptions: CallOptions = {}): Promise<MemoryStats> {
      begin(callOptions.signal);
      const where = key3(resolveNamespace(ns));
      const [row] = await db.query<{
        messages: number | string;
        keys: number | string;
        documents: number | string;
        embedded: boolean;
        dimension: number | null;
      }>(
        `SELECT (SELECT count(*) FROM ${t.messages} WHERE ${NS}) AS messages,
                (SELECT count(*) FROM ${t.kv} WHERE ${NS} AND (expires_at IS NULL OR expires_at > $4)) AS keys,
                (SELECT count(*) FROM ${t.documents} WHERE ${NS}) AS documents,
                EXISTS (SELECT 1 FROM ${t.documents} WHERE ${NS} AND dim IS NOT NULL) AS embedded,
                (SELECT dimension FROM ${t.namespaces} WHERE ${NS}) AS dimension`,
        [...where, now()],
      );
      return {
        messages: Number(row?.messages ?? 0),
        keys: Number(row?.keys ?? 0),
        documents: Number(row?.documents ?? 0),
        ...(row?.embedded === true && row.dimension != null ? { dimension: Number(row.dimension) } : {}),
      };
    },

    async ping(callOptions: CallOptions = {}) {
      begin(callOptions.signal);
      await db.query('SELECT 1');
    },

    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };

  async function* dumpNamespace(
    ns: MemoryNamespace,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<MemoryRecord> {
    begin(signal);
    const where = key3(resolveNamespace(ns));
    const page = async <Row extends object>(sqlText: string, after: unknown): Promise<Row[]> => {
      begin(signal);
      return await db.query<Row>(sqlText, [...where, after, DUMP_PAGE_SIZE]);
    };
    for (let after = 0; ; ) {
      const rows = await page<MessageRow>(
        `SELECT seq, role, content, at, meta FROM ${t.messages} WHERE ${NS} AND seq > $4 ORDER BY seq LIMIT $5`,
        after,
      );
      for (const row of rows) yield { kind: 'message', ...toMessage(row) };
      if (rows.length < DUMP_PAGE_SIZE) break;
      after = Number(rows.at(-1)?.seq);
    }
    const at = now();
    for (let after = ''; ; ) {
      // Keys are pages of the primary key order (the database's collation); '' sorts before any key.
      const rows = await page<{ key: string; value: string; expires_at: number | string | null }>(
        `SELECT key, value, expires_at FROM ${t.kv} WHERE ${NS} AND key > $4 ORDER BY key LIMIT $5`,
        after,
      );
      for (const row of rows) {
        if (row.expires_at !== null && Number(row.expires_at) <= at) continue;
        yield {
          kind: 'kv',
          key: row.key,
          value: JSON.parse(row.value) as unknown,
          ...(row.expires_at === null ? {} : { expiresAt: Number(row.expires_at) }),
        };
      }
      if (rows.length < DUMP_PAGE_SIZE) break;
      after = rows.at(-1)?.key ?? '';
    }
    for (let after = ''; ; ) {
      const rows = await page<DocumentRow>(
        `SELECT doc_id, text, meta, ${sql.embeddingText} AS embedding FROM ${t.documents}
         WHERE ${NS} AND doc_id > $4 ORDER BY doc_id LIMIT $5`,
        after,
      );
      for (const row of rows) {
        yield {
          kind: 'document',
          id: row.doc_id,
          text: JSON.parse(row.text) as string,
          ...(row.meta === null ? {} : { meta: JSON.parse(row.meta) as Record<string, unknown> }),
          ...(row.embedding == null ? {} : { embedding: parseVector(row.embedding) }),
        };
      }
      if (rows.length < DUMP_PAGE_SIZE) break;
      after = rows.at(-1)?.doc_id ?? '';
    }
  }

  return store;
}

/** The statements whose text depends on how embeddings are stored. */
function vectorSql(t: SqlTables, vector: VectorMode) {
  const pgvector = vector.kind === 'pgvector';
  const vectorType = pgvector ? `"${vector.typeSchema.replaceAll('"', '""')}".vector` : 'real[]';
  const cosineDistance = pgvector ? `OPERATOR("${vector.typeSchema.replaceAll('"', '""')}".<=>)` : '';
  const values = (rows: number, width: number, first: number, cast: (column: number) => string = () => '') =>
    Array.from(
      { length: rows },
      (_, row) =>
        `(${Array.from({ length: width }, (_, column) => `$${first + row * width + column}${cast(column)}`).join(', ')})`,
    ).join(', ');
  return {
    /** The qualified pgvector type (pgvector mode only). */
    vectorType,
    /** The operator class of cosine HNSW indexes, qualified like the type. */
    cosineOps: pgvector ? `"${vector.typeSchema.replaceAll('"', '""')}".vector_cosine_ops` : '',
    /** Text form of the embedding column, `[1,2]` (pgvector) or `{1,2}` (array). */
    embeddingText: 'embedding::text',
    /**
     * Upserts n documents; params: tenant, council, agent, updated_at, then per document
     * doc_id, text, meta, meta_filter, stats, embedding, dim, norm.
     */
    upsertDocuments: (n: number) =>
      `INSERT INTO ${t.documents} (tenant, council, agent, updated_at, doc_id, text, meta, meta_filter, stats, embedding, dim, norm)
       SELECT $1::text, $2::text, $3::text, $4::bigint, v.* FROM (VALUES ${values(n, 8, 5, (column) => DOCUMENT_CASTS[column]?.replace('$vector', vectorType) ?? '')}) AS v
       ON CONFLICT (tenant, council, agent, doc_id) DO UPDATE SET text = excluded.text, meta = excluded.meta,
         meta_filter = excluded.meta_filter, stats = excluded.stats, embedding = excluded.embedding,
         dim = excluded.dim, norm = excluded.norm, updated_at = excluded.updated_at`,
    /** Inserts n messages; params: tenant, council, agent, then per message seq, role, content, at, meta. */
    insertMessages: (n: number) =>
      `INSERT INTO ${t.messages} (tenant, council, agent, seq, role, content, at, meta)
       SELECT $1::text, $2::text, $3::text, v.* FROM (VALUES ${values(n, 5, 4, (column) => MESSAGE_CASTS[column] ?? '')}) AS v`,
    /** Upserts n keys; params: tenant, council, agent, then per key key, value, expires_at. */
    upsertKeys: (n: number) =>
      `INSERT INTO ${t.kv} (tenant, council, agent, key, value, expires_at)
       SELECT $1::text, $2::text, $3::text, v.* FROM (VALUES ${values(n, 3, 4, (column) => KV_CASTS[column] ?? '')}) AS v
       ON CONFLICT (tenant, council, agent, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    /**
     * The nearest embedded documents of a namespace, best first; params: tenant, council, agent, the
     * query vector literal, the limit (null = all), and with `filtered` the jsonb filter.
     */
    nearest: (filtered: boolean) => {
      const filter = filtered ? ' AND meta_filter @> $6::jsonb' : '';
      const order = pgvector
        ? `embedding ${cosineDistance} $4::${vectorType}`
        : // Cosine distance over the float4 array, summed in float8; NULL never happens (dim matches).
          `1 - (SELECT sum(a::float8 * b) FROM unnest(embedding, $4::float8[]) AS u(a, b)) / (norm * sqrt(
             (SELECT sum(b * b) FROM unnest($4::float8[]) AS q(b))))`;
      return `SELECT doc_id, text, meta, embedding::text AS embedding FROM ${t.documents}
              WHERE ${NS} AND embedding IS NOT NULL${filter}
              ORDER BY ${order}, doc_id LIMIT $5`;
    },
    /**
     * As `nearest`, in the form the HNSW index of `dimension` matches (its expression and predicate,
     * no tie-break column, which would force a sort); the planner still picks the primary key and a
     * sort when the namespace is small, which is exact.
     */
    nearestIndexed: (dimension: number, filtered: boolean) => {
      const filter = filtered ? ' AND meta_filter @> $6::jsonb' : '';
      return `SELECT doc_id, text, meta, embedding::text AS embedding FROM ${t.documents}
              WHERE ${NS} AND dim = ${dimension}${filter}
              ORDER BY embedding::${vectorType}(${dimension}) ${cosineDistance} $4::${vectorType}(${dimension}) LIMIT $5`;
    },
  };
}

// Explicit types for VALUES columns, which PostgreSQL would otherwise guess as text.
const DOCUMENT_CASTS = [
  '::text',
  '::text',
  '::text',
  '::jsonb',
  '::text',
  '::$vector',
  '::integer',
  '::float8',
];
const MESSAGE_CASTS = ['::bigint', '::text', '::text', '::bigint', '::text'];
const KV_CASTS = ['::text', '::text', '::bigint'];

/** Largest number of parameters one statement gets (PostgreSQL allows 65535). */
const MAX_PARAMS = 30_000;

async function insertBatches(
  tx: SqlQueryable,
  rows: readonly unknown[][],
  width: number,
  statement: (n: number) => string,
  fixed: readonly unknown[],
): Promise<void> {
  const perBatch = Math.max(1, Math.floor(MAX_PARAMS / width));
  for (let start = 0; start < rows.length; start += perBatch) {
    const batch = rows.slice(start, start + perBatch);
    await tx.query(statement(batch.length), [...fixed, ...batch.flat()]);
  }
}

/** The per-document parameters of {@link vectorSql}'s `upsertDocuments`. */
function documentParams(
  id: string,
  text: string,
  meta: string | undefined,
  embedding: readonly number[] | undefined,
  mode: VectorMode,
): unknown[] {
  const stats = statsToJson(documentStats(text));
  return [
    id,
    JSON.stringify(text),
    meta ?? null,
    meta === undefined ? null : metaFilterJson(JSON.parse(meta) as Record<string, unknown>),
    stats,
    embedding === undefined ? null : vectorLiteral(embedding, mode),
    embedding?.length ?? null,
    embedding === undefined ? null : Math.sqrt(embedding.reduce((sum, x) => sum + x * x, 0)),
  ];
}

/**
 * The top-level string, number and boolean entries of a document's meta as jsonb text: what recall
 * filters can match, so `meta_filter @> filter` is exactly `matchesFilter`. Strings containing U+0000
 * are left out (jsonb cannot hold them); a filter with one is applied outside SQL.
 */
function metaFilterJson(meta: Record<string, unknown>): string | null {
  const scalars: Record<string, string | number | boolean> = {};
  let any = false;
  for (const [name, value] of Object.entries(meta)) {
    if (name.includes('\u0000')) continue;
    if (
      (typeof value === 'string' && !value.includes('\u0000')) ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value))
    ) {
      scalars[name] = value;
      any = true;
    }
  }
  return any ? JSON.stringify(scalars) : null;
}

/** A recall filter as jsonb text, or undefined when jsonb cannot hold it (a U+0000 in it). */
function filterToJson(filter: RecallFilter): string | undefined {
  for (const [name, value] of Object.entries(filter)) {
    if (name.includes('\u0000') || (typeof value === 'string' && value.includes('\u0000'))) return undefined;
  }
  return JSON.stringify(filter);
}

/** A vector as a PostgreSQL array literal, `{1,2.5}`. */
function arrayLiteral(vector: readonly number[]): string {
  return `{${vector.join(',')}}`;
}

/** The query vector as its SQL literal: `[1,2]` for pgvector, `{1,2}` for float8[]. */
function vectorLiteral(vector: readonly number[], mode: VectorMode): string {
  return mode.kind === 'pgvector' ? `[${vector.join(',')}]` : arrayLiteral(vector);
}

/**
 * Parses `embedding::text` (`[1,0.5]` or `{1,0.5}`) to the float32 values stored: PostgreSQL prints
 * the shortest decimal that reads back as the same float32, so `Math.fround` recovers it exactly.
 */
export function parseVector(text: string): number[] {
  const inner = text.slice(1, -1);
  return inner === '' ? [] : inner.split(',').map((part) => Math.fround(Number(part)));
}

function toMessage(row: MessageRow): MemoryMessage {
  return {
    seq: Number(row.seq),
    role: row.role,
    content: JSON.parse(row.content) as string,
    at: Number(row.at),
    ...(row.meta === null ? {} : { meta: JSON.parse(row.meta) as Record<string, unknown> }),
  };
}
