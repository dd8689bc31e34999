/**
 * The `postgres://` and `postgresql://` memory backend on node-postgres (`pg`, an optional peer
 * dependency loaded only when such a URL is opened), over the shared SQL layer of `sql/store.ts`.
 *
 * - A `pg.Pool` (default 10 connections). A call on a server that is down or that dropped the
 *   connection fails at once with a retryable `memory_error` naming host:port and database (never the
 *   password); the pool discards broken connections and opens new ones on the next call, so the store
 *   recovers by itself when the server is back. An acknowledged write was committed (PostgreSQL's
 *   default `synchronous_commit = on`), so a server restart never loses it.
 * - `?schema=name` puts the tables in that schema (created when missing); other query parameters
 *   (`sslmode`, `application_name`, …) go to node-postgres as they are.
 * - Vectors use pgvector when the database has the extension or lets the store create it, and the
 *   `real[]` fallback otherwise (see `sql/schema.ts` and `sql/store.ts`).
 */

import type { Pool, PoolClient, PoolConfig } from 'pg';
import { HarnessError } from '../errors.ts';
import { redactUrl } from './redact.ts';
import type { SqlExecutor, SqlQueryable } from './sql/executor.ts';
import { createSqlMemoryStore, type SqlMemoryStore } from './sql/store.ts';
import type { EmbeddedStoreOptions } from './store.ts';
import { memoryError } from './validation.ts';

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions extends EmbeddedStoreOptions {
  /** Most connections the pool opens; default 10. */
  maxConnections?: number;
  /** How long opening a connection may take before the call fails (retryable), in ms; default 5000. */
  connectTimeoutMs?: number;
  /** Use pgvector when available (for a new schema); false forces the `real[]` fallback. Default true. */
  pgvector?: boolean;
  /** With pgvector: `hnsw` (default) indexes embeddings per dimension, `exact` always scans; see `SqlMemoryStoreOptions`. */
  vectorIndex?: 'hnsw' | 'exact';
}

/** Where a `postgres://` URL points, without its password. */
export interface PostgresTarget {
  /** Host name, IP address, or socket directory. */
  host: string;
  port: number;
  /** Database name (node-postgres defaults it to the user name when the URL names none). */
  database: string;
  user: string | undefined;
  /** From `?schema=`; undefined = the connection's current schema (usually `public`). */
  schema: string | undefined;
  /** The URL for node-postgres: as given, minus `schema`. Holds the password: never log it. */
  connectionString: string;
  /** `PostgreSQL host:port/database`, for messages. */
  label: string;
}

/** The `application_name` the store's connections use unless the URL sets one. */
export const POSTGRES_APPLICATION_NAME = 'forge-harness-memory';

const EXAMPLE = 'postgres://user:password@127.0.0.1:5432/app or postgres://127.0.0.1/app?schema=forge_memory';

/**
 * Reads a `postgres://` or `postgresql://` URL: user, password, host, port (default 5432), database
 * and the optional `?schema=`.
 *
 * @throws HarnessError `memory_error` with an example for another scheme, an unparseable URL, a
 * database name with a `/`, or an empty or over-long schema name.
 */
export function postgresTargetFromUrl(url: string): PostgresTarget {
  const shown = redactUrl(url);
  const fail = (problem: string, cause?: unknown): HarnessError =>
    memoryError(`memory URL "${shown}" ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      hint: `write it as ${EXAMPLE}`,
      details: { url: shown },
    });
  if (!URL.canParse(url)) throw fail('does not parse as a URL');
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw fail('is not a postgres:// or postgresql:// URL');
  }
  let database: string;
  let user: string | undefined;
  try {
    database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    user = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  } catch (error) {
    throw fail('has a malformed percent-escape', error);
  }
  if (database.includes('/')) throw fail(`names database "${database}", which has a "/"`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || parsed.searchParams.get('host') || 'localhost';
  const port = Number(parsed.port || parsed.searchParams.get('port') || 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw fail(`has port ${port}, not 1–65535`);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && (schema === '' || schema.length > 63 || schema.includes('\u0000'))) {
    throw fail(`has ?schema="${schema}"; a schema name is 1 to 63 characters`);
  }
  parsed.searchParams.delete('schema');
  if (!parsed.searchParams.has('application_name')) {
    parsed.searchParams.set('application_name', POSTGRES_APPLICATION_NAME);
  }
  database ||= user ?? process.env.USER ?? 'postgres';
  return {
    host,
    port,
    database,
    user,
    schema,
    connectionString: parsed.toString(),
    label: `PostgreSQL ${host.includes(':') ? `[${host}]` : host}:${port}/${database}`,
  };
}

/**
 * Opens a PostgreSQL memory store: connects, creates the schema when `?schema=` names a missing one,
 * migrates the tables and returns the store.
 *
 * @throws HarnessError `memory_error`: "install pg to use postgres:// URLs" when the driver is
 * missing; retryable when the server cannot be reached (naming host:port and database); not retryable
 * for a wrong database, user or password, or a schema at a newer version.
 */
export async function createPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<SqlMemoryStore> {
  const target = postgresTargetFromUrl(url);
  const pg = await loadPg();
  const config: PoolConfig = {
    connectionString: target.connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
  };
  const pool: Pool = new pg.Pool(config);
  // A connection that dies while idle (server restart, pg_terminate_backend) is reported here; the
  // pool has already dropped it, so there is nothing to do but not crash the process.
  pool.on('error', () => undefined);
  const executor = poolExecutor(pool, target);
  return await createSqlMemoryStore(executor, {
    url: redactUrl(url),
    label: target.label,
    schema: target.schema,
    pgvector: options.pgvector ?? true,
    ...(options.vectorIndex === undefined ? {} : { vectorIndex: options.vectorIndex }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
}

type PgModule = typeof import('pg');

async function loadPg(): Promise<PgModule> {
  try {
    const module = (await import('pg')) as PgModule & { default?: PgModule };
    return module.default ?? module;
  } catch (error) {
    throw memoryError('install pg to use postgres:// URLs (npm install pg)', {
      cause: error,
      hint: 'pg (node-postgres) is an optional peer dependency of forge-harness; add it to your project',
    });
  }
}

function poolExecutor(pool: Pool, target: PostgresTarget): SqlExecutor {
  const run = async <Row extends object>(
    client: Pool | PoolClient,
    sql: string,
    params: readonly unknown[] | undefined,
  ): Promise<Row[]> => {
    try {
      const result = await client.query(sql, params === undefined ? undefined : [...params]);
      return result.rows as Row[];
    } catch (error) {
      throw postgresError(error, target);
    }
  };
  return {
    query: (sql, params) => run(pool, sql, params),
    async transaction(work) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw postgresError(error, target);
      }
      // A connection that failed is destroyed on release rather than handed to the next call.
      let broken: Error | undefined;
      const tx: SqlQueryable = { query: (sql, params) => run(client, sql, params) };
      try {
        await run(client, 'BEGIN', undefined);
        const result = await work(tx);
        await run(client, 'COMMIT', undefined);
        return result;
      } catch (error) {
        if (HarnessError.isInstance(error) && error.isRetryable) broken = error;
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

// Node's socket errors that mean "the server is not there (now)".
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ENOTCONN',
]);
// SQLSTATEs worth retrying: the server is shutting down / starting / out of connections, or the
// transaction lost a race.
const RETRYABLE_SQLSTATE = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const DROPPED =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Connection terminated unexpectedly|Client was closed/i;

/**
 * Maps a node-postgres error to a `memory_error` naming host:port and database (never the password)
 * with a hint; `isRetryable` is true when the server could not be reached or dropped the connection.
 */
export function postgresError(
  error: unknown,
  target: Pick<PostgresTarget, 'label' | 'host' | 'port' | 'database' | 'user'>,
): HarnessError {
  if (HarnessError.isInstance(error)) return error;
  const code =
    typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
  const reason =
    (error instanceof Error && error.message) ||
    (error instanceof AggregateError ? error.errors.map((e: unknown) => String(e)).join('; ') : '') ||
    code ||
    String(error);
  const where = `${target.host}:${target.port}`;
  const details = {
    host: target.host,
    port: target.port,
    database: target.database,
    ...(code === undefined ? {} : { code }),
  };
  const make = (message: string, hint: string, isRetryable: boolean): HarnessError =>
    memoryError(`${message} (${target.label}): ${reason}`, { cause: error, isRetryable, hint, details });

  if ((code !== undefined && UNREACHABLE.has(code)) || DROPPED.test(reason) || code?.startsWith('08')) {
    return make(
      `cannot reach the PostgreSQL memory server at ${where}`,
      `check that PostgreSQL is running and accepts connections on ${where} (pg_isready -h ${target.host} -p ${target.port}); the store reconnects by itself when it is back`,
      true,
    );
  }
  if (code !== undefined && RETRYABLE_SQLSTATE.has(code)) {
    return make(
      `the PostgreSQL memory server at ${where} ended the call`,
      'the server is restarting, out of connections or resolved a conflict; retry the call',
      true,
    );
  }
  switch (code) {
    case 'ENOTFOUND':
      return make(
        `cannot resolve the PostgreSQL memory host ${target.host}`,
        'check the host name in the URL',
        false,
      );
    case '3D000':
      return make(
        `PostgreSQL memory database "${target.database}" does not exist at ${where}`,
        `create it (createdb -h ${target.host} -p ${target.port} ${target.database}) or fix the database name in the URL`,
        false,
      );
    case '28P01':
    case '28000':
      return make(
        `PostgreSQL at ${where} refused user "${target.user ?? ''}"`,
        "check the user and password in the URL and the server's pg_hba.conf",
        false,
      );
    case '42501':
      return make(
        `PostgreSQL user "${target.user ?? ''}" lacks a privilege the memory store needs at ${where}`,
        'grant CREATE on the database (for ?schema=) or on the schema, or use a schema the user owns',
        false,
      );
    case '22021':
      return make(
        'PostgreSQL cannot store a text containing U+0000 (NUL) in a namespace, key or document id',
        'remove NUL characters from names, keys and ids (message and document texts may hold them)',
        false,
      );
    default:
      return make(
        `PostgreSQL memory call failed at ${where}`,
        'check the server log for this statement',
        false,
      );
  }
}
