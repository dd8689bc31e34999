/**
 * The schema of the SQL memory backends (PostgreSQL and PGlite) and its migrations.
 *
 * Migrations run in one transaction under a transaction-scoped advisory lock, so processes that open
 * the same database at once apply each one exactly once (the others wait, then find it applied).
 * `forge_memory_migrations` records each applied version with its time; a database at a version newer
 * than this code is refused instead of being written with an older idea of the schema.
 *
 * Vectors: when the `vector` extension (pgvector) exists or can be created, `embedding` is a pgvector
 * `vector` without a dimension (each namespace fixes its own in `forge_memory_namespaces.dimension`);
 * otherwise it is `real[]` and cosine is computed in SQL (see `store.ts`). Which of the two a schema
 * uses is decided when it is created and read back from the column type on every open, so a schema
 * created without pgvector keeps `real[]` even after the extension is installed.
 */

import { HarnessError } from '../../errors.ts';
import { memoryError } from '../validation.ts';
import type { SqlExecutor, SqlQueryable } from './executor.ts';

/** Prefix of every table the store creates, so it can share a schema with an application's tables. */
export const TABLE_PREFIX = 'forge_memory_';

/**
 * Key of the advisory lock migrations hold. One key for every schema of a database, because creating
 * the `vector` extension is database-wide and two schemas migrating at once would race on it.
 */
export const MIGRATION_LOCK_KEY = 0x666f7267; // 'forg'

/** How a schema stores embeddings. */
export type VectorMode =
  /**
   * pgvector `vector` column, cosine distance with `<=>`; `typeSchema` is where the type lives,
   * `iterativeScan` whether the extension (≥ 0.8) can continue an HNSW scan until enough rows pass
   * the query's other conditions.
   */
  | { kind: 'pgvector'; typeSchema: string; iterativeScan: boolean }
  /** `real[]` column, cosine computed in SQL over `unnest`. */
  | { kind: 'array' };

/** Names of the tables of one schema, already quoted and qualified. */
export interface SqlTables {
  schema: string;
  migrations: string;
  namespaces: string;
  messages: string;
  kv: string;
  documents: string;
}

/** Quotes an SQL identifier (doubling embedded quotes). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The qualified table names of a schema. */
export function sqlTables(schema: string): SqlTables {
  const table = (name: string): string => `${quoteIdent(schema)}.${quoteIdent(TABLE_PREFIX + name)}`;
  return {
    schema,
    migrations: table('migrations'),
    namespaces: table('namespaces'),
    messages: table('messages'),
    kv: table('kv'),
    documents: table('documents'),
  };
}

/** What a migration step may depend on. */
interface MigrationContext {
  tables: SqlTables;
  /** The SQL type of `documents.embedding` for a new schema. */
  embeddingType: string;
}

/**
 * The schema, one entry per version: entry i migrates version i to i + 1, as a list of single
 * statements. Only ever append; a released entry never changes, because databases out there ran it.
 */
const MIGRATIONS: readonly ((context: MigrationContext) => string[])[] = [
  ({ tables: t, embeddingType }) => {
    const ns = 'tenant text NOT NULL, council text NOT NULL, agent text NOT NULL';
    const index = (name: string): string => quoteIdent(`${TABLE_PREFIX}${name}`);
    return [
      // One row per namespace: the last message seq handed out (appends take it with a row lock, so
      // concurrent appenders in any number of processes get consecutive, unique seqs) and the
      // dimension fixed by the first embedded document.
      `CREATE TABLE ${t.namespaces} (${ns},
         last_seq bigint NOT NULL DEFAULT 0,
         dimension integer,
         PRIMARY KEY (tenant, council, agent))`,
      // content and meta are JSON text: PostgreSQL text cannot hold U+0000 and jsonb reorders keys,
      // JSON text keeps any JavaScript string and object exactly.
      `CREATE TABLE ${t.messages} (${ns},
         seq bigint NOT NULL, role text NOT NULL, content text NOT NULL, at bigint NOT NULL, meta text,
         PRIMARY KEY (tenant, council, agent, seq))`,
      `CREATE TABLE ${t.kv} (${ns},
         key text NOT NULL, value text NOT NULL, expires_at bigint,
         PRIMARY KEY (tenant, council, agent, key))`,
      `CREATE INDEX ${index('kv_expires_at')} ON ${t.kv} (expires_at) WHERE expires_at IS NOT NULL`,
      // meta_filter holds meta's top-level scalars as jsonb, so recall filters run in SQL with @>;
      // stats are the BM25 term statistics (bm25.ts); dim is the embedding's length.
      `CREATE TABLE ${t.documents} (${ns},
         doc_id text NOT NULL, text text NOT NULL, meta text, meta_filter jsonb, stats text NOT NULL,
         embedding ${embeddingType}, dim integer, norm double precision, updated_at bigint NOT NULL,
         PRIMARY KEY (tenant, council, agent, doc_id))`,
    ];
  },
];

/** The schema version this code writes. */
export const SQL_SCHEMA_VERSION = MIGRATIONS.length;

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Schema to put the tables in (created when missing); undefined = the connection's current schema. */
  schema: string | undefined;
  /** Try to use (and create) the `vector` extension for a new schema; default true. */
  pgvector: boolean;
  /** Names the database in errors, e.g. `PostgreSQL 127.0.0.1:5432/test` (never with a password). */
  label: string;
}

/** What {@link migrate} found or made. */
export interface MigrateResult {
  tables: SqlTables;
  vector: VectorMode;
  /** The version before migrating (0 for a new schema). */
  from: number;
}

/**
 * Brings the schema to {@link SQL_SCHEMA_VERSION}: creates the schema and the version table when
 * missing, applies the missing migrations in one transaction under an advisory lock, and reports
 * how embeddings are stored.
 *
 * @throws HarnessError `memory_error` when the database is at a newer version than this code.
 */
export async function migrate(db: SqlExecutor, options: MigrateOptions): Promise<MigrateResult> {
  return await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    let schema = options.schema;
    if (schema === undefined) {
      const [row] = await tx.query<{ schema: string | null }>('SELECT current_schema() AS schema');
      if (row?.schema == null) {
        throw memoryError(`${options.label} has no current schema to put the memory tables in`, {
          hint: 'add ?schema=<name> to the URL, or set a search_path that names an existing schema',
        });
      }
      schema = row.schema;
    } else {
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    }
    const tables = sqlTables(schema);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${tables.migrations} (
         version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const [versionRow] = await tx.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${tables.migrations}`,
    );
    const from = Number(versionRow?.version ?? 0);
    if (from > SQL_SCHEMA_VERSION) {
      throw memoryError(
        `memory schema "${schema}" of ${options.label} is at version ${from}, newer than this forge-harness supports (${SQL_SCHEMA_VERSION})`,
        {
          hint: 'upgrade forge-harness, or point the URL at another database or ?schema=',
          details: { schema, version: from, supported: SQL_SCHEMA_VERSION },
        },
      );
    }
    if (from < SQL_SCHEMA_VERSION) {
      const embeddingType =
        from === 0 && options.pgvector ? ((await createVectorType(tx)) ?? 'real[]') : 'real[]';
      for (let version = from; version < SQL_SCHEMA_VERSION; version++) {
        for (const statement of MIGRATIONS[version]?.({ tables, embeddingType }) ?? [])
          await tx.query(statement);
        await tx.query(`INSERT INTO ${tables.migrations} (version) VALUES ($1)`, [version + 1]);
      }
    }
    return { tables, vector: await vectorMode(tx, tables), from };
  });
}

/**
 * Creates the `vector` extension when it is missing and can be (inside a savepoint, so a database
 * without pgvector, or a role that may not create extensions, leaves the transaction usable).
 * Returns the qualified type name, or undefined when pgvector is not available.
 */
async function createVectorType(tx: SqlQueryable): Promise<string | undefined> {
  await tx.query('SAVEPOINT forge_memory_vector');
  try {
    await tx.query('CREATE EXTENSION IF NOT EXISTS vector');
    await tx.query('RELEASE SAVEPOINT forge_memory_vector');
  } catch (error) {
    if (HarnessError.isInstance(error) && error.isRetryable) throw error;
    await tx.query('ROLLBACK TO SAVEPOINT forge_memory_vector');
    return undefined;
  }
  const [row] = await tx.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'vector'`,
  );
  return row === undefined ? undefined : `${quoteIdent(row.schema)}.vector`;
}

/** Reads how `documents.embedding` is stored from its column type. */
async function vectorMode(tx: SqlQueryable, tables: SqlTables): Promise<VectorMode> {
  const [row] = await tx.query<{ type: string; schema: string; version: string | null }>(
    `SELECT t.typname AS type, n.nspname AS schema,
            (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS version
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE a.attrelid = $1::regclass AND a.attname = 'embedding' AND NOT a.attisdropped`,
    [tables.documents],
  );
  if (row?.type !== 'vector') return { kind: 'array' };
  const [major = 0, minor = 0] = (row.version ?? '0').split('.').map(Number);
  return { kind: 'pgvector', typeSchema: row.schema, iterativeScan: major > 0 || minor >= 8 };
}
