import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../errors.ts';
import { memoryError } from '../validation.ts';
import type { SqlExecutor, SqlQueryable } from './executor.ts';
import { MIGRATION_LOCK_KEY, migrate, quoteIdent, SQL_SCHEMA_VERSION, sqlTables } from './schema.ts';
import { parseVector } from './store.ts';

/**
 * An executor that records statements and answers the few queries `migrate` reads from, so the order
 * of what it does can be checked without a database (the real ones run in test/memory-*.test.ts).
 */
function recordingExecutor(state: { version: number | null; vector: 'ok' | 'missing' }): {
  db: SqlExecutor;
  log: string[];
} {
  const log: string[] = [];
  const q: SqlQueryable = {
    async query<Row extends object>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
      const text = sql.replace(/\s+/g, ' ').trim();
      log.push(params.length === 0 ? text : `${text} ${JSON.stringify(params)}`);
      if (text.startsWith('SELECT current_schema()')) return [{ schema: 'public' }] as Row[];
      if (text.includes('max(version)')) return [{ version: state.version }] as Row[];
      if (text === 'CREATE EXTENSION IF NOT EXISTS vector' && state.vector === 'missing') {
        throw memoryError('could not open extension control file "vector.control"');
      }
      if (text.includes('FROM pg_extension e'))
        return state.vector === 'ok' ? ([{ schema: 'public' }] as Row[]) : [];
      if (text.includes('FROM pg_attribute')) {
        return [
          { type: state.vector === 'ok' ? 'vector' : '_float4', schema: 'public', version: '0.8.0' },
        ] as Row[];
      }
      return [];
    },
  };
  return {
    log,
    db: {
      query: q.query,
      async transaction(work) {
        log.push('BEGIN');
        try {
          const result = await work(q);
          log.push('COMMIT');
          return result;
        } catch (error) {
          log.push('ROLLBACK');
          throw error;
        }
      },
      async close() {},
    },
  };
}

describe('migrate', () => {
  it('takes the advisory lock first, creates the schema, applies every migration and records it', async () => {
    const { db, log } = recordingExecutor({ version: null, vector: 'ok' });
    const result = await migrate(db, { schema: 'my "mem"', pgvector: true, label: 'test db' });
    expect(log[0]).toBe('BEGIN');
    expect(log[1]).toBe(`SELECT pg_advisory_xact_lock($1) [${MIGRATION_LOCK_KEY}]`);
    expect(log[2]).toBe('CREATE SCHEMA IF NOT EXISTS "my ""mem"""');
    expect(log.at(-1)).toBe('COMMIT');
    expect(result).toEqual({
      tables: sqlTables('my "mem"'),
      vector: { kind: 'pgvector', typeSchema: 'public', iterativeScan: true },
      from: 0,
    });
    expect(log.some((line) => line.includes('embedding "public".vector'))).toBe(true);
    for (let version = 1; version <= SQL_SCHEMA_VERSION; version++) {
      expect(log).toContain(
        `INSERT INTO "my ""mem"""."forge_memory_migrations" (version) VALUES ($1) [${version}]`,
      );
    }
  });

  it('falls back to real[] inside a savepoint when the vector extension is missing', async () => {
    const { db, log } = recordingExecutor({ version: null, vector: 'missing' });
    const result = await migrate(db, { schema: undefined, pgvector: true, label: 'test db' });
    expect(result.vector).toEqual({ kind: 'array' });
    expect(result.tables.schema).toBe('public');
    const failed = log.indexOf('CREATE EXTENSION IF NOT EXISTS vector');
    expect(log[failed - 1]).toBe('SAVEPOINT forge_memory_vector');
    expect(log[failed + 1]).toBe('ROLLBACK TO SAVEPOINT forge_memory_vector');
    expect(log.some((line) => line.includes('embedding real[]'))).toBe(true);
    expect(log.at(-1)).toBe('COMMIT');
  });

  it('does not try the extension when pgvector is off, and migrates nothing when up to date', async () => {
    const off = recordingExecutor({ version: null, vector: 'ok' });
    await migrate(off.db, { schema: 's', pgvector: false, label: 'test db' });
    expect(off.log.some((line) => line.includes('CREATE EXTENSION'))).toBe(false);
    const current = recordingExecutor({ version: SQL_SCHEMA_VERSION, vector: 'ok' });
    expect((await migrate(current.db, { schema: 's', pgvector: true, label: 'test db' })).from).toBe(
      SQL_SCHEMA_VERSION,
    );
    expect(current.log.some((line) => line.startsWith('CREATE TABLE "s"."forge_memory_messages"'))).toBe(
      false,
    );
  });

  it('refuses a schema at a newer version and rolls back', async () => {
    const { db, log } = recordingExecutor({ version: SQL_SCHEMA_VERSION + 3, vector: 'ok' });
    const error: unknown = await migrate(db, {
      schema: 's',
      pgvector: true,
      label: 'PostgreSQL h:5432/app',
    }).catch((reason: unknown) => reason);
    expect(HarnessError.isInstance(error) && error.code).toBe('memory_error');
    expect((error as HarnessError).message).toContain(`version ${SQL_SCHEMA_VERSION + 3}`);
    expect((error as HarnessError).message).toContain('PostgreSQL h:5432/app');
    expect(log.at(-1)).toBe('ROLLBACK');
  });
});

describe('SQL helpers', () => {
  it('quotes identifiers and qualifies table names', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(sqlTables('x').messages).toBe('"x"."forge_memory_messages"');
  });

  it('parses vector text back to the exact float32 values stored', () => {
    expect(parseVector('[0.1,-2.5,3e-08]')).toEqual([Math.fround(0.1), -2.5, Math.fround(3e-8)]);
    expect(parseVector('{0.0009765625,1}')).toEqual([1 / 1024, 1]);
    expect(parseVector('[]')).toEqual([]);
  });
});
