import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memory } from '../src/memory/memory.ts';
import { createPgliteStore, PGLITE_LOCK_FILE } from '../src/memory/pglite.ts';
import { openMemoryStore } from '../src/memory/registry.ts';
import { SQL_SCHEMA_VERSION } from '../src/memory/sql/schema.ts';
import { PURGE_EVERY_SETS, type SqlMemoryStore } from '../src/memory/sql/store.ts';
import { rejection } from './harness-errors.ts';
import {
  describeMemoryConformance,
  seededRandom,
  seededVector,
  VECTOR_CORPUS,
  VECTOR_QUERIES,
} from './memory-conformance.ts';
import { killSpawned, track } from './processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-pglite-'));
let dirs = 0;
const newDir = (): string => join(dir, `db-${++dirs}`);

// One injected clock for every store, so TTL expiry needs no waiting.
let clock = 1_700_000_000_000;
const now = (): number => clock;
const advanceClock = (ms: number): void => {
  clock += ms;
};

// initdb takes about 2 s per new PGlite, so the conformance runs share two in-memory instances (one
// with the pgvector extension, one without) and give every test its own schema. Opening a URL for
// real (directory, :memory:, reopen) is covered below and by the directory conformance run.
let withVector: PGlite;
let withoutVector: PGlite;
let template = '';
beforeAll(async () => {
  withVector = await PGlite.create({ extensions: { vector } });
  withoutVector = await PGlite.create();
  // A data directory initialised once and closed; each directory test starts from a copy of it.
  template = newDir();
  await (await createPgliteStore(`pglite://${template}`)).close();
}, 60_000);
afterAll(async () => {
  await withVector?.close();
  await withoutVector?.close();
  rmSync(dir, { recursive: true, force: true });
});

let schemas = 0;
describeMemoryConformance(
  'pglite with pgvector',
  async () => {
    const store = await createPgliteStore(`pglite://:memory:?schema=vec_${++schemas}`, {
      instance: withVector,
      now,
    });
    expect(store.info.vector).toBe('pgvector');
    return store;
  },
  { advanceClock },
);

describeMemoryConformance(
  'pglite without pgvector (real[] fallback)',
  async () => {
    const store = await createPgliteStore(`pglite://:memory:?schema=plain_${++schemas}`, {
      instance: withoutVector,
      now,
    });
    expect(store.info.vector).toBe('array');
    return store;
  },
  { advanceClock },
);

let lastDir = '';
describeMemoryConformance(
  'pglite directory',
  async () => {
    lastDir = newDir();
    cpSync(template, lastDir, { recursive: true });
    return await createPgliteStore(`pglite://${lastDir}`, { now });
  },
  { advanceClock, reopen: async () => await createPgliteStore(`pglite://${lastDir}`, { now }) },
);

describe('pglite store', () => {
  it('opens pglite://:memory: through the registry and Memory, with pgvector', async () => {
    const store = (await openMemoryStore('pglite://:memory:')) as SqlMemoryStore;
    expect(store.url).toBe('pglite://:memory:');
    expect(store.info).toEqual({
      schema: 'public',
      vector: 'pgvector',
      vectorIndex: 'hnsw',
      migratedFrom: 0,
    });
    await store.remember({ council: 'c' }, VECTOR_CORPUS[0] as Parameters<SqlMemoryStore['remember']>[1]);
    expect(await store.stats({ council: 'c' })).toEqual({
      messages: 0,
      keys: 0,
      documents: 1,
      dimension: 16,
    });
    await store.close();

    const path = newDir();
    const memory = new Memory({ url: `pglite://${path}?schema=agents` });
    await memory.append({ council: 'c' }, { role: 'user', content: 'hi' });
    await memory.close();
    expect(existsSync(join(path, 'PG_VERSION'))).toBe(true);
    // The lock is released at close.
    expect(existsSync(join(path, PGLITE_LOCK_FILE))).toBe(false);
  });

  it('forces the real[] fallback with pgvector: false even where the extension is loaded', async () => {
    const store = await createPgliteStore('pglite://:memory:?schema=forced_fallback', {
      instance: withVector,
      pgvector: false,
    });
    expect(store.info.vector).toBe('array');
    const [type] = (
      await withVector.query<{ type: string }>(
        `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
         WHERE attrelid = 'forced_fallback.forge_memory_documents'::regclass AND attname = 'embedding'`,
      )
    ).rows;
    expect(type?.type).toBe('real[]');
    const ns = { council: 'c' };
    for (const doc of VECTOR_CORPUS) await store.remember(ns, doc);
    const query = VECTOR_CORPUS[4]?.embedding ?? [];
    const hits = await store.recall(ns, '', { embedding: query, k: 3 });
    expect(hits[0]).toMatchObject({ id: 'v04' });
    expect(hits[0]?.score).toBeCloseTo(1, 6);
    await store.close();
    // The store did not close an instance it was given.
    expect((await withVector.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('indexes pgvector embeddings with HNSW per dimension, used for a large namespace, exact for a small one', async () => {
    const store = await createPgliteStore('pglite://:memory:?schema=hnsw', { instance: withVector });
    const exact = await createPgliteStore('pglite://:memory:?schema=hnsw', {
      instance: withVector,
      vectorIndex: 'exact',
    });
    expect([store.info.vectorIndex, exact.info.vectorIndex]).toEqual(['hnsw', 'exact']);
    // 3000 clustered 32-dimensional vectors (real embeddings cluster; uniform noise is HNSW's worst case).
    const random = seededRandom(7);
    const centers = Array.from({ length: 30 }, () => seededVector(random, 32));
    const near = (): number[] =>
      (centers[Math.floor(random() * centers.length)] ?? []).map((c) =>
        Math.fround(c + (random() - 0.5) * 0.4),
      );
    const big = { council: 'big' };
    await store.load(
      big,
      Array.from({ length: 3000 }, (_, i) => ({
        kind: 'document' as const,
        id: `d${i}`,
        text: `doc ${i}`,
        embedding: near(),
      })),
    );
    const small = { council: 'small' };
    for (const doc of VECTOR_CORPUS)
      await store.remember(small, {
        ...doc,
        ...(doc.embedding === undefined ? {} : { embedding: [...doc.embedding, ...doc.embedding] }),
      });
    const indexes = (
      await withVector.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'hnsw' AND indexname LIKE '%hnsw%'",
      )
    ).rows.map((row) => row.indexname);
    expect(indexes).toEqual(['forge_memory_documents_hnsw_32']);
    const plan = (
      await withVector.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT doc_id FROM hnsw.forge_memory_documents WHERE tenant = 'default' AND council = 'big' AND agent = '' AND dim = 32
         ORDER BY embedding::vector(32) <=> $1::vector(32) LIMIT 15`,
        [`[${near().join(',')}]`],
      )
    ).rows.map((row) => row['QUERY PLAN']);
    expect(plan.join('\n')).toContain('forge_memory_documents_hnsw_32');
    let found = 0;
    for (let i = 0; i < 20; i++) {
      const query = near();
      const truth = (await exact.recall(big, '', { embedding: query, k: 10 })).map((hit) => hit.id);
      const hits = await store.recall(big, '', { embedding: query, k: 10 });
      found += hits.filter((hit) => truth.includes(hit.id)).length;
      // Scores are the true cosines whichever way the candidates were found.
      for (const hit of await exact.recall(big, '', { embedding: query, k: 10 })) {
        const same = hits.find((h) => h.id === hit.id);
        if (same !== undefined) expect(same.score).toBeCloseTo(hit.score, 9);
      }
    }
    expect(found / 200).toBeGreaterThanOrEqual(0.95);
    // A small namespace beside the big one (same dimension, same index) still gets its exact top-k.
    const query = [...(VECTOR_QUERIES[1] ?? []), ...(VECTOR_QUERIES[1] ?? [])];
    expect((await store.recall(small, '', { embedding: query, k: 10 })).map((hit) => hit.id)).toEqual(
      (await exact.recall(small, '', { embedding: query, k: 10 })).map((hit) => hit.id),
    );
    await store.close();
    await exact.close();
  });

  it('purges expired keys every PURGE_EVERY_SETS sets, leaving live ones', async () => {
    const store = await createPgliteStore('pglite://:memory:?schema=purge', { instance: withVector, now });
    const ns = { council: 'c' };
    for (let i = 0; i < 10; i++) await store.set(ns, `short${i}`, i, { ttlMs: 1000 });
    await store.set(ns, 'long', 'kept', { ttlMs: 10_000_000 });
    advanceClock(5000);
    const count = async (): Promise<number> =>
      Number(
        (await withVector.query<{ n: number }>('SELECT count(*)::int AS n FROM purge.forge_memory_kv'))
          .rows[0]?.n,
      );
    expect(await count()).toBe(11);
    for (let i = 11; i < PURGE_EVERY_SETS; i++) await store.set(ns, 'filler', i);
    expect(await count()).toBe(2);
    expect(await store.get(ns, 'long')).toBe('kept');
    await store.close();
  });

  it('records migrations and refuses a schema at a newer version', async () => {
    const store = await createPgliteStore('pglite://:memory:?schema=versions', { instance: withVector });
    expect(store.info.migratedFrom).toBe(0);
    await store.close();
    const rows = (
      await withVector.query<{ version: number; applied_at: Date }>(
        'SELECT version, applied_at FROM versions.forge_memory_migrations ORDER BY version',
      )
    ).rows;
    expect(rows.map((row) => row.version)).toEqual(
      Array.from({ length: SQL_SCHEMA_VERSION }, (_, i) => i + 1),
    );
    expect(rows[0]?.applied_at).toBeInstanceOf(Date);
    const again = await createPgliteStore('pglite://:memory:?schema=versions', { instance: withVector });
    expect(again.info.migratedFrom).toBe(SQL_SCHEMA_VERSION);
    await again.close();

    await withVector.query('INSERT INTO versions.forge_memory_migrations (version) VALUES ($1)', [
      SQL_SCHEMA_VERSION + 1,
    ]);
    const error = await rejection(
      createPgliteStore('pglite://:memory:?schema=versions', { instance: withVector }),
    );
    expect(error.code).toBe('memory_error');
    expect(error.message).toContain(`version ${SQL_SCHEMA_VERSION + 1}`);
    expect(error.message).toContain('"versions"');
    expect(error.hint).toContain('upgrade forge-harness');
  });

  it('refuses a directory another store or live process holds, and takes over a stale lock', async () => {
    const path = newDir();
    cpSync(template, path, { recursive: true });
    const store = await createPgliteStore(`pglite://${path}`);
    const twice = await rejection(createPgliteStore(`pglite://${path}`));
    expect(twice.code).toBe('memory_error');
    expect(twice.message).toContain(path);
    expect(twice.message).toContain(`process ${process.pid}`);
    expect(twice.hint).toContain('one process at a time');
    await store.close();

    // A lock naming a live process (the parent of this test process) is respected.
    writeFileSync(join(path, PGLITE_LOCK_FILE), String(process.ppid));
    const held = await rejection(createPgliteStore(`pglite://${path}`));
    expect(held.message).toContain(`process ${process.ppid}`);
    // A lock left by a process that no longer exists is taken over.
    writeFileSync(join(path, PGLITE_LOCK_FILE), '2147483646');
    const taken = await createPgliteStore(`pglite://${path}`);
    expect(readFileSync(join(path, PGLITE_LOCK_FILE), 'utf8')).toBe(String(process.pid));
    await taken.close();
  });

  it('names the path when the directory cannot be used', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory');
    const error = await rejection(createPgliteStore(`pglite://${join(file, 'db')}`));
    expect(error.code).toBe('memory_error');
    expect(error.message).toContain(join(file, 'db'));
    expect(error.hint).toContain('writable directory');

    const garbage = newDir();
    cpSync(template, garbage, { recursive: true });
    writeFileSync(join(garbage, 'PG_VERSION'), 'not a version\n');
    const notPg = await rejection(createPgliteStore(`pglite://${garbage}`));
    expect(notPg.code).toBe('memory_error');
    expect(notPg.message).toContain(garbage);
    // The failed open released its lock.
    expect(existsSync(join(garbage, PGLITE_LOCK_FILE))).toBe(false);
  });
});

const childScript = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
afterAll(killSpawned);

describe('pglite durability', () => {
  it('keeps an append reported just before the process was killed with SIGKILL', async () => {
    const path = newDir();
    cpSync(template, path, { recursive: true });
    const url = `pglite://${path}`;
    const child = spawn(process.execPath, [childScript, 'append-forever', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    let reported = 0;
    while (reported < 25) {
      const line = await lines.next();
      if (line.done) throw new Error(`child stopped before it was killed: ${stderr}`);
      reported = Number(String(line.value).replace('appended ', ''));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    // The killed child's lock names a dead process, so the store takes the directory over.
    const store = await createPgliteStore(url);
    const messages = await store.read({ council: 'concurrency' }, { limit: 10_000 });
    await store.close();
    expect(messages.length).toBeGreaterThanOrEqual(reported);
    expect(messages.find((m) => m.seq === reported)?.content).toBe(`forever:${reported - 1}`);
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => i + 1));
  });
});
