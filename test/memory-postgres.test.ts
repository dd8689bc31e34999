import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../src/errors.ts';
import { createPostgresStore } from '../src/memory/postgres.ts';
import { openMemoryStore } from '../src/memory/registry.ts';
import { SQL_SCHEMA_VERSION } from '../src/memory/sql/schema.ts';
import type { SqlMemoryStore } from '../src/memory/sql/store.ts';
import type { MemoryMessage } from '../src/memory/store.ts';
import { rejection } from './harness-errors.ts';
import { describeMemoryConformance, VECTOR_CORPUS } from './memory-conformance.ts';
import { appendFromProcesses, freePort, killSpawned } from './processes.ts';
import { requireServer } from './servers.ts';

const SERVER = 'postgres://postgres@127.0.0.1:5432/test';
const run = `forge_test_${process.pid}_${Date.now().toString(36)}`;
const schemas: string[] = [];
const newSchema = (name: string): string => {
  const schema = `${run}_${name}`;
  schemas.push(schema);
  return schema;
};

const admin = new pg.Pool({ connectionString: SERVER, max: 2 });
admin.on('error', () => undefined);
const available = await requireServer('postgres', async () => {
  await admin.query('SELECT 1');
});
afterAll(async () => {
  if (available) {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
  await admin.end();
});

let clock = 1_700_000_000_000;
const now = (): number => clock;
const advanceClock = (ms: number): void => {
  clock += ms;
};

if (available) {
  // With pgvector on the server the schema gets a vector column, without it the real[] fallback;
  // this machine's PostgreSQL 15 has no pgvector package, so CI runs the fallback here.
  const [extension] = (
    await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'vector'",
    )
  ).rows;
  const expectedVector = Number(extension?.n) > 0 ? 'pgvector' : 'array';

  let lastUrl = '';
  describeMemoryConformance(
    'postgres',
    async () => {
      lastUrl = `${SERVER}?schema=${newSchema(`c${schemas.length}`)}`;
      const store = await createPostgresStore(lastUrl, { now });
      expect(store.info.vector).toBe(expectedVector);
      return store;
    },
    { advanceClock, reopen: async () => await createPostgresStore(lastUrl, { now }) },
  );

  describe('postgres store', () => {
    it('opens postgres:// and postgresql:// through the registry, with the password redacted', async () => {
      const schema = newSchema('registry');
      const store = (await openMemoryStore(
        `postgresql://postgres:not-used@127.0.0.1:5432/test?schema=${schema}`,
      )) as SqlMemoryStore;
      expect(store.url).toBe(`postgresql://postgres:***@127.0.0.1:5432/test?schema=${schema}`);
      expect(store.info).toMatchObject({ schema, vector: expectedVector, migratedFrom: 0 });
      await store.append({ council: 'c' }, { role: 'user', content: 'hi' });
      await store.close();
      const again = (await openMemoryStore(
        `postgres://postgres@127.0.0.1/test?schema=${schema}`,
      )) as SqlMemoryStore;
      expect(again.info.migratedFrom).toBe(SQL_SCHEMA_VERSION);
      expect((await again.read({ council: 'c' })).map((m) => m.content)).toEqual(['hi']);
      await again.close();
    });

    it('migrates a new schema once when several stores open it at the same time', async () => {
      const schema = newSchema('race');
      const url = `${SERVER}?schema=${schema}`;
      const stores = await Promise.all(Array.from({ length: 6 }, () => createPostgresStore(url)));
      expect(stores.map((store) => store.info.migratedFrom).filter((from) => from === 0)).toHaveLength(1);
      for (const store of stores) await store.close();
      const { rows } = await admin.query<{ version: number; applied_at: Date }>(
        `SELECT version, applied_at FROM "${schema}".forge_memory_migrations ORDER BY version`,
      );
      expect(rows.map((row) => row.version)).toEqual(
        Array.from({ length: SQL_SCHEMA_VERSION }, (_, i) => i + 1),
      );
      expect(rows[0]?.applied_at).toBeInstanceOf(Date);

      await admin.query(`INSERT INTO "${schema}".forge_memory_migrations (version) VALUES ($1)`, [
        SQL_SCHEMA_VERSION + 1,
      ]);
      const error = await rejection(createPostgresStore(url));
      expect(error.code).toBe('memory_error');
      expect(error.isRetryable).toBe(false);
      expect(error.message).toContain(`version ${SQL_SCHEMA_VERSION + 1}`);
      expect(error.message).toContain('127.0.0.1:5432/test');
      expect(error.hint).toContain('upgrade forge-harness');
    });

    it('stores the fallback as real[] without pgvector and still ranks by cosine', async () => {
      const store = await createPostgresStore(`${SERVER}?schema=${newSchema('fallback')}`, {
        pgvector: false,
      });
      expect(store.info.vector).toBe('array');
      const ns = { council: 'c' };
      for (const doc of VECTOR_CORPUS) await store.remember(ns, doc);
      const hits = await store.recall(ns, '', { embedding: VECTOR_CORPUS[9]?.embedding ?? [], k: 2 });
      expect(hits[0]?.id).toBe('v09');
      expect(hits[0]?.score).toBeCloseTo(1, 6);
      await store.close();
    });

    it('reports a wrong database name as a non-retryable memory_error with the fix', async () => {
      const error = await rejection(
        createPostgresStore('postgres://postgres:s3cret@127.0.0.1:5432/no_such_db_forge'),
      );
      expect(error.code).toBe('memory_error');
      expect(error.isRetryable).toBe(false);
      expect(error.message).toContain('"no_such_db_forge"');
      expect(error.message).toContain('127.0.0.1:5432');
      expect(error.hint).toContain('createdb');
      expect(JSON.stringify(error.toJSON())).not.toContain('s3cret');
    });

    it('fails fast with a retryable error naming host:port when nothing listens, never the password', async () => {
      const port = await freePort();
      const started = Date.now();
      const error = await rejection(
        createPostgresStore(`postgres://postgres:hunter2@127.0.0.1:${port}/test`),
      );
      expect(Date.now() - started).toBeLessThan(3000);
      expect(error.code).toBe('memory_error');
      expect(error.isRetryable).toBe(true);
      expect(error.message).toContain(`127.0.0.1:${port}`);
      expect(error.message).toContain('/test');
      expect(error.hint).toContain('pg_isready');
      expect(JSON.stringify(error.toJSON())).not.toContain('hunter2');
      expect(error.message).not.toContain('hunter2');
    });

    it('survives pg_terminate_backend of its connections mid-use without losing or duplicating appends', async () => {
      const app = `${run}_terminate`;
      const store = await createPostgresStore(
        `${SERVER}?schema=${newSchema('terminate')}&application_name=${app}`,
        {
          maxConnections: 4,
        },
      );
      const ns = { council: 'terminate' };
      const acknowledged: MemoryMessage[] = [];
      const failures: HarnessError[] = [];
      const worker = async (id: number): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          try {
            acknowledged.push(await store.append(ns, { role: 'user', content: `w${id}:${i}` }));
          } catch (error) {
            if (!HarnessError.isInstance(error)) throw error;
            failures.push(error);
          }
        }
      };
      const killer = async (): Promise<void> => {
        for (let round = 0; round < 3; round++) {
          while (acknowledged.length < 30 * (round + 1))
            await new Promise((resolve) => setTimeout(resolve, 1));
          await admin.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
            [app],
          );
        }
      };
      await Promise.all([worker(1), worker(2), worker(3), worker(4), killer()]);
      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) {
        expect(failure.code).toBe('memory_error');
        expect(failure.isRetryable).toBe(true);
        expect(failure.message).toContain('127.0.0.1:5432/test');
      }
      // The pool replaced the terminated connections: the store answers again by itself.
      await store.ping();
      const messages = await store.read(ns, { limit: 1000 });
      // No duplicate and no gap; every acknowledged append is there with its seq. (An append whose
      // connection died after COMMIT but before the reply may be there without an acknowledgement.)
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => i + 1));
      expect(new Set(messages.map((m) => m.content)).size).toBe(messages.length);
      for (const message of acknowledged) expect(messages[message.seq - 1]).toEqual(message);
      expect(messages.length).toBeLessThanOrEqual(acknowledged.length + failures.length);
      await store.close();
    });
  });

  afterAll(killSpawned);

  describe('postgres across processes', () => {
    it('two processes appending 200 messages each get seqs 1..400 with no gap or duplicate', async () => {
      // Both children open (and so migrate) the same new schema at once, then append together.
      const url = `${SERVER}?schema=${newSchema('processes')}`;
      const children = await appendFromProcesses(url);

      const store = await createPostgresStore(url);
      const messages = await store.read({ council: 'concurrency' }, { limit: 1000 });
      await store.close();
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      for (const child of children) {
        const own = messages.filter((m) => m.content.startsWith(`${child.pid}:`)).map((m) => m.content);
        expect(own).toEqual(Array.from({ length: 200 }, (_, i) => `${child.pid}:${i}`));
      }
      const switches = messages.filter((m, i) => i > 0 && m.meta?.pid !== messages[i - 1]?.meta?.pid).length;
      expect(switches).toBeGreaterThan(20);
    });
  });
}

// A private cluster on a free port, so stopping it never disturbs the machine's shared server.
const binDir = ['/usr/lib/postgresql']
  .filter((root) => existsSync(root))
  .flatMap((root) => readdirSync(root).map((version) => join(root, version, 'bin')))
  .filter((dir) => existsSync(join(dir, 'initdb')))
  .sort()
  .at(-1);
const isRoot = process.getuid?.() === 0;
const privateCluster = binDir !== undefined && isRoot;
if (!privateCluster) {
  const why = `needs root and PostgreSQL server binaries under /usr/lib/postgresql (found ${binDir ?? 'none'}, root ${isRoot})`;
  if (process.env.CI) throw new Error(`the postgres restart test ${why}`);
  console.warn(`skipping postgres restart suite: it ${why}`);
} else {
  describe('postgres server restart (private cluster)', () => {
    const base = mkdtempSync(join(tmpdir(), 'forge-pg-cluster-'));
    const data = join(base, 'data');
    const asPostgres = (command: string, args: string[]): string =>
      execFileSync('runuser', ['-u', 'postgres', '--', join(binDir!, command), ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    let port = 0;
    const start = (): void => {
      asPostgres('pg_ctl', [
        '-D',
        data,
        '-l',
        join(base, 'log'),
        '-w',
        '-t',
        '30',
        '-o',
        `-p ${port} -k /tmp -c listen_addresses=127.0.0.1`,
        'start',
      ]);
    };
    const stop = (): void => {
      asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    };
    afterAll(() => {
      try {
        stop();
      } catch {
        // Already stopped.
      }
      rmSync(base, { recursive: true, force: true });
    });

    it('fails fast while the server is down, recovers by itself, and keeps every acknowledged write', async () => {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(base, uid, gid);
      asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
      port = await freePort();
      start();

      const store = await createPostgresStore(
        `postgres://postgres:s3cret-pw@127.0.0.1:${port}/postgres?schema=restart`,
        { connectTimeoutMs: 2000 },
      );
      const ns = { council: 'restart' };
      const acknowledged: MemoryMessage[] = [];
      for (let i = 0; i < 20; i++)
        acknowledged.push(await store.append(ns, { role: 'user', content: `before:${i}` }));
      await store.set(ns, 'kept', { v: 1 });
      await store.remember(ns, { id: 'doc', text: 'kept through a restart', embedding: [0.5, 0.25, 1] });

      stop();
      for (const call of [
        () => store.append(ns, { role: 'user', content: 'while down' }),
        () => store.read(ns),
        () => store.get(ns, 'kept'),
        () => store.ping(),
      ]) {
        const started = Date.now();
        const error = await rejection(call());
        expect(Date.now() - started).toBeLessThan(2500);
        expect(error.code).toBe('memory_error');
        expect(error.isRetryable).toBe(true);
        expect(error.message).toContain(`127.0.0.1:${port}`);
        expect(error.message).toContain('/postgres');
        expect(error.message).not.toContain('s3cret-pw');
        expect(error.hint).toContain(`${port}`);
      }

      start();
      // The same store reconnects on its own; no reopen.
      let answered = false;
      for (let attempt = 0; attempt < 50 && !answered; attempt++) {
        answered = await store.ping().then(
          () => true,
          () => false,
        );
        if (!answered) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(answered).toBe(true);
      acknowledged.push(await store.append(ns, { role: 'user', content: 'after' }));
      const messages = await store.read(ns, { limit: 1000 });
      expect(messages).toEqual(acknowledged);
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      expect(await store.get(ns, 'kept')).toEqual({ v: 1 });
      expect((await store.recall(ns, '', { embedding: [0.5, 0.25, 1] }))[0]?.id).toBe('doc');
      await store.close();
    });
  });
}
