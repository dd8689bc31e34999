import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../src/errors.ts';
import {
  createInMemoryStore,
  createSqliteStore,
  knownMemorySchemes,
  Memory,
  type MemoryRecord,
  type MemoryStore,
  openMemoryStore,
  parseMemoryUrl,
  redactUrl,
  registerMemoryScheme,
  SQLITE_SCHEMA_VERSION,
  sqlitePathFromUrl,
} from '../src/memory/index.ts';
import { rejection, thrown } from './harness-errors.ts';
import {
  collect,
  describeMemoryConformance,
  normalizeDump,
  RECALL_CORPUS,
  seededRandom,
  seededVector,
} from './memory-conformance.ts';
import { appendFromProcesses, exited, killSpawned, lines, spawnNode } from './processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newDbPath = (): string => join(dir, `db-${++files}`, 'memory.db');

// One injected clock for the stores of the conformance runs, so TTL expiry needs no waiting.
let clock = 1_700_000_000_000;
const now = (): number => clock;
const advanceClock = (ms: number): void => {
  clock += ms;
};

describeMemoryConformance('in-memory', async () => createInMemoryStore('memory://', { now }), {
  advanceClock,
});

let lastSqlitePath = '';
describeMemoryConformance(
  'sqlite file',
  async () => {
    lastSqlitePath = newDbPath();
    return createSqliteStore(`sqlite://${lastSqlitePath}`, { now });
  },
  { advanceClock, reopen: async () => createSqliteStore(`sqlite://${lastSqlitePath}`, { now }) },
);

// The same file backend with vector recall forced to the JS brute force (no sqlite-vec).
let lastBrutePath = '';
describeMemoryConformance(
  'sqlite file, brute-force vectors',
  async () => {
    lastBrutePath = newDbPath();
    return createSqliteStore(`sqlite://${lastBrutePath}`, { now, vectorExtension: false });
  },
  {
    advanceClock,
    reopen: async () => createSqliteStore(`sqlite://${lastBrutePath}`, { now, vectorExtension: false }),
  },
);

describeMemoryConformance('sqlite :memory:', async () => createSqliteStore('sqlite://:memory:', { now }), {
  advanceClock,
});

// Through the public URL path with the real clock: Memory → registry → sqlite.
let lastMemoryUrl = '';
describeMemoryConformance(
  'Memory over a sqlite URL',
  async () => {
    lastMemoryUrl = `sqlite://${newDbPath()}`;
    return new Memory({ url: lastMemoryUrl });
  },
  { reopen: async () => new Memory({ url: lastMemoryUrl }) },
);

describe('recall ranking agrees between backends', () => {
  it('returns the same ids in the same order with the same scores', async () => {
    const stores: MemoryStore[] = [createInMemoryStore(), createSqliteStore(`sqlite://${newDbPath()}`)];
    const ns = { council: 'c' };
    const extra = [
      { id: 'tie-b', text: 'identical twin text' },
      { id: 'tie-a', text: 'identical twin text' },
      { id: 'dup', text: 'cat cat cat cat cat cat cat cat' },
    ];
    for (const store of stores) {
      for (const doc of [...RECALL_CORPUS, ...extra]) await store.remember(ns, doc);
    }
    const queries = [
      'cat food',
      'cats dogs frequency',
      'identical twin',
      'cat',
      'the document database file',
      '東京 タワー',
      'الطقس',
      'nothing matches this',
    ];
    for (const query of queries) {
      const [memoryHits, sqliteHits] = await Promise.all(
        stores.map((store) => store.recall(ns, query, { k: 20 })),
      );
      expect(sqliteHits, query).toEqual(memoryHits);
    }
    // Equal scores break ties by id.
    expect((await stores[0]?.recall(ns, 'identical twin'))?.map((hit) => hit.id)).toEqual(['tie-a', 'tie-b']);
    for (const store of stores) await store.close();
  });
});

describe('sqlite store', () => {
  it('resolves relative, absolute and :memory: URLs', () => {
    expect(sqlitePathFromUrl('sqlite://data/app.db')).toBe(resolve(process.cwd(), 'data/app.db'));
    expect(sqlitePathFromUrl('sqlite://./data/app.db')).toBe(resolve(process.cwd(), 'data/app.db'));
    expect(sqlitePathFromUrl('sqlite:///var/lib/forge/app.db')).toBe('/var/lib/forge/app.db');
    expect(sqlitePathFromUrl('sqlite:///tmp/my%20dir/a.db')).toBe('/tmp/my dir/a.db');
    expect(sqlitePathFromUrl('sqlite://:memory:')).toBe(':memory:');
    expect(thrown(() => sqlitePathFromUrl('sqlite://')).code).toBe('memory_error');
    expect(thrown(() => sqlitePathFromUrl('sqlite://a.db?mode=ro')).message).toContain('query');
    expect(thrown(() => sqlitePathFromUrl('sqlite://%zz')).message).toContain('percent');
  });

  it('creates parent directories, uses WAL and records the schema version', async () => {
    const path = join(dir, 'nested', 'deeper', 'app.db');
    const store = createSqliteStore(`sqlite://${path}`);
    await store.append({ council: 'c' }, { role: 'user', content: 'x' });
    await store.close();
    const db = new DatabaseSync(path);
    expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(db.prepare('SELECT version FROM schema_version').all()).toEqual([
      { version: SQLITE_SCHEMA_VERSION },
    ]);
    db.close();
    // Reopening an up-to-date file migrates nothing and keeps one version row.
    await createSqliteStore(`sqlite://${path}`).close();
    const again = new DatabaseSync(path);
    expect(again.prepare('SELECT count(*) AS n FROM schema_version').get()).toEqual({ n: 1 });
    again.close();
  });

  it('refuses a database written by a newer schema', () => {
    const path = newDbPath();
    createSqliteStore(`sqlite://${path}`).close();
    const db = new DatabaseSync(path);
    db.exec(`UPDATE schema_version SET version = ${SQLITE_SCHEMA_VERSION + 1}`);
    db.close();
    const error = thrown(() => createSqliteStore(`sqlite://${path}`));
    expect(error.code).toBe('memory_error');
    expect(error.message).toContain(path);
    expect(error.hint).toContain('upgrade');
  });

  it('names the path and the fix when the path cannot be used', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory');
    const underFile = join(file, 'app.db');
    const notDir = thrown(() => createSqliteStore(`sqlite://${underFile}`));
    expect(notDir.code).toBe('memory_error');
    expect(notDir.message).toContain(underFile);
    expect(notDir.hint).toContain('writable');

    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    const isDir = thrown(() => createSqliteStore(`sqlite://${directory}`));
    expect(isDir.code).toBe('memory_error');
    expect(isDir.message).toContain(directory);
    expect(isDir.hint).toContain('not a directory');

    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'this is definitely not a sqlite database '.repeat(100));
    const notDb = thrown(() => createSqliteStore(`sqlite://${garbage}`));
    expect(notDb.code).toBe('memory_error');
    expect(notDb.message).toContain(garbage);
    expect(notDb.hint).toContain('not a usable SQLite database');
  });

  it('reports a lock held past the busy timeout as a retryable memory_error', async () => {
    const path = newDbPath();
    const store = createSqliteStore(`sqlite://${path}`, { busyTimeoutMs: 50 });
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const error = await rejection(store.append({ council: 'c' }, { role: 'user', content: 'blocked' }));
      expect(error.code).toBe('memory_error');
      expect(error.isRetryable).toBe(true);
      expect(error.message).toContain(path);
      expect(error.hint).toContain('busy timeout (50 ms)');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    // Once the lock is gone the same store works, and the failed append left no gap.
    expect((await store.append({ council: 'c' }, { role: 'user', content: 'ok' })).seq).toBe(1);
    await store.close();
  });
});

describe('sqlite vector recall and export', () => {
  it('uses sqlite-vec when it loads, brute force when told not to, and both rank alike', async () => {
    const withExtension = createSqliteStore('sqlite://:memory:');
    const required = createSqliteStore('sqlite://:memory:', { vectorExtension: true });
    const bruteForce = createSqliteStore('sqlite://:memory:', { vectorExtension: false });
    expect([withExtension.vectorSearch, required.vectorSearch, bruteForce.vectorSearch]).toEqual([
      'sqlite-vec',
      'sqlite-vec',
      'brute-force',
    ]);
    await required.close();
    // 600 documents of 32 plain float64 values (stored as float32), plus exact ties broken by id.
    const random = seededRandom(42);
    const ns = { council: 'vectors' };
    const docs = Array.from({ length: 600 }, (_, i) => ({
      id: `d${i}`,
      text: `doc ${i}`,
      meta: { bucket: i % 7 },
      embedding: Array.from({ length: 32 }, () => random() * 2 - 1),
    }));
    const twin = docs[10]?.embedding ?? [];
    docs.push(
      { id: 'twin-b', text: 'twin', meta: { bucket: 99 }, embedding: twin },
      { id: 'twin-a', text: 'twin', meta: { bucket: 99 }, embedding: twin },
    );
    for (const store of [withExtension, bruteForce]) {
      expect(
        await store.load(
          ns,
          docs.map((doc): MemoryRecord => ({ kind: 'document', ...doc })),
        ),
      ).toBe(602);
    }
    const queries = [
      twin,
      ...Array.from({ length: 5 }, () => Array.from({ length: 32 }, () => random() - 0.5)),
    ];
    for (const embedding of queries) {
      for (const options of [
        { k: 1 },
        { k: 10 },
        { k: 100 },
        { k: 10, filter: { bucket: 3 } },
        { k: 5, filter: { bucket: 99 } },
      ]) {
        const [fast, slow] = await Promise.all(
          [withExtension, bruteForce].map((store) => store.recall(ns, '', { embedding, ...options })),
        );
        expect(fast).toEqual(slow);
        expect(fast).toHaveLength(options.filter?.bucket === 99 ? 2 : options.k);
      }
    }
    expect((await withExtension.recall(ns, '', { embedding: twin, k: 3 })).map((hit) => hit.id)).toEqual([
      'd10',
      'twin-a',
      'twin-b',
    ]);
    await withExtension.close();
    await bruteForce.close();
  });

  it('dumps a namespace larger than one page in order, and loads it back in one go', async () => {
    const store = createSqliteStore(`sqlite://${newDbPath()}`, { now });
    const ns = { council: 'big' };
    const random = seededRandom(7);
    const records: MemoryRecord[] = [
      ...Array.from(
        { length: 1234 },
        (_, i): MemoryRecord => ({
          kind: 'message',
          seq: i + 1,
          role: 'user',
          content: `m${i}`,
          at: i,
        }),
      ),
      ...Array.from({ length: 1100 }, (_, i): MemoryRecord => ({ kind: 'kv', key: `k${i}`, value: i })),
      { kind: 'kv', key: 'expired', value: 0, expiresAt: 1 },
      ...Array.from(
        { length: 1050 },
        (_, i): MemoryRecord => ({
          kind: 'document',
          id: `d${i}`,
          text: `doc ${i}`,
          embedding: seededVector(random, 8),
        }),
      ),
    ];
    expect(await store.load(ns, records, { mode: 'replace' })).toBe(records.length);
    const dumped = await collect(store.dump(ns));
    expect(dumped).toHaveLength(records.length - 1);
    expect(dumped.slice(0, 1234)).toEqual(records.slice(0, 1234));
    expect(normalizeDump(dumped)).toEqual(
      normalizeDump(records.filter((r) => r.kind !== 'kv' || r.key !== 'expired')),
    );
    expect(await store.stats(ns)).toEqual({ messages: 1234, keys: 1100, documents: 1050, dimension: 8 });
    await store.close();
  });

  it('rolls a load back as a whole when a write fails halfway', async () => {
    const path = newDbPath();
    const store = createSqliteStore(`sqlite://${path}`);
    const ns = { council: 'c' };
    await store.append(ns, { role: 'user', content: 'kept' });
    await store.set(ns, 'kept', 1);
    const before = await collect(store.dump(ns));
    // A trigger makes the last insert fail after the namespace was emptied and other rows written.
    const other = new DatabaseSync(path);
    other.exec(
      `CREATE TRIGGER boom BEFORE INSERT ON documents WHEN NEW.doc_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`,
    );
    other.close();
    const records: MemoryRecord[] = [
      { kind: 'message', seq: 5, role: 'user', content: 'new', at: 1 },
      { kind: 'kv', key: 'new', value: 2 },
      { kind: 'document', id: 'boom', text: 'explodes' },
    ];
    const error = await rejection(store.load(ns, records, { mode: 'replace' }));
    expect(error.code).toBe('memory_error');
    expect(error.message).toContain('boom');
    expect(await collect(store.dump(ns))).toEqual(before);
    await store.close();
  });

  it('migrates a version 1 database: old documents keep working and can take embeddings', async () => {
    const path = newDbPath();
    mkdirSync(join(path, '..'), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL);
      INSERT INTO schema_version VALUES (1);
      CREATE TABLE messages (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, council TEXT NOT NULL, agent TEXT NOT NULL,
        seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, at INTEGER NOT NULL, meta TEXT,
        UNIQUE (tenant, council, agent, seq));
      CREATE TABLE kv (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, council TEXT NOT NULL, agent TEXT NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER, UNIQUE (tenant, council, agent, key));
      CREATE INDEX kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE documents (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, council TEXT NOT NULL, agent TEXT NOT NULL,
        doc_id TEXT NOT NULL, text TEXT NOT NULL, meta TEXT, stats TEXT NOT NULL, updated_at INTEGER NOT NULL,
        UNIQUE (tenant, council, agent, doc_id));
      INSERT INTO documents (tenant, council, agent, doc_id, text, meta, stats, updated_at)
        VALUES ('default', 'c', '', 'old', 'an old note', NULL, '[3,[["an",1],["old",1],["note",1]]]', 0);`);
    db.close();
    const store = createSqliteStore(`sqlite://${path}`);
    const ns = { council: 'c' };
    expect((await store.recall(ns, 'old')).map((hit) => hit.id)).toEqual(['old']);
    expect(await store.stats(ns)).toEqual({ messages: 0, keys: 0, documents: 1 });
    await store.remember(ns, { id: 'new', text: 'a new note', embedding: [1, 0] });
    expect((await store.recall(ns, '', { embedding: [1, 0.1] })).map((hit) => hit.id)).toEqual(['new']);
    expect(await collect(store.dump(ns))).toEqual([
      { kind: 'document', id: 'new', text: 'a new note', embedding: [1, 0] },
      { kind: 'document', id: 'old', text: 'an old note' },
    ]);
    await store.close();
    const check = new DatabaseSync(path);
    expect(check.prepare('SELECT version FROM schema_version').get()).toEqual({
      version: SQLITE_SCHEMA_VERSION,
    });
    check.close();
  });
});

const childScript = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
// A failed test must not leave a child appending forever.
afterAll(killSpawned);

describe('sqlite across processes', () => {
  it('two processes appending 200 messages each get seqs 1..400 with no gap or duplicate', async () => {
    const path = newDbPath();
    const url = `sqlite://${path}`;
    // Both open the same new store, then start appending together.
    const children = await appendFromProcesses(url);

    const store = createSqliteStore(url);
    const messages = await store.read({ council: 'concurrency' }, { limit: 1000 });
    await store.close();
    expect(messages).toHaveLength(400);
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    // Each child's own messages are all there, in its order.
    for (const child of children) {
      const own = messages.filter((m) => m.content.startsWith(`${child.pid}:`)).map((m) => m.content);
      expect(own).toEqual(Array.from({ length: 200 }, (_, i) => `${child.pid}:${i}`));
    }
    // The two really interleaved (a serial run shows one switch between writers; runs here show ~390).
    const switches = messages.filter((m, i) => i > 0 && m.meta?.pid !== messages[i - 1]?.meta?.pid).length;
    expect(switches).toBeGreaterThan(20);
  });

  it('keeps an append reported just before the process was killed with SIGKILL', async () => {
    const path = newDbPath();
    const url = `sqlite://${path}`;
    const child = spawnNode(childScript, ['append-forever', url]);
    const output = lines(child);
    let reported = 0;
    while (reported < 25) {
      const line = await output.next();
      if (line.done) throw new Error('child stopped before it was killed');
      reported = Number(String(line.value).replace('appended ', ''));
    }
    child.kill('SIGKILL');
    await exited(child);

    const store = createSqliteStore(url);
    const messages = await store.read({ council: 'concurrency' }, { limit: 10_000 });
    await store.close();
    expect(messages.length).toBeGreaterThanOrEqual(reported);
    expect(messages.find((m) => m.seq === reported)?.content).toBe(`forever:${reported - 1}`);
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => i + 1));
  });
});

describe('memory URL registry', () => {
  it('knows memory and sqlite by default', () => {
    expect(knownMemorySchemes()).toEqual(expect.arrayContaining(['memory', 'sqlite']));
  });

  it('rejects an unknown scheme listing the known ones, without leaking the password', async () => {
    const error = await rejection(openMemoryStore('mongodb://admin:hunter2@db.example/app'));
    expect(error.code).toBe('unknown_memory_scheme');
    expect(error.message).toContain('mongodb');
    expect(error.message).toContain('memory, ');
    expect(error.message).toContain('sqlite');
    expect(error.message).toContain('admin:***@db.example');
    expect(JSON.stringify(error.toJSON())).not.toContain('hunter2');
    expect(error.details.known).toEqual(knownMemorySchemes());
  });

  it('rejects an unparseable URL with the URL redacted and an example', async () => {
    for (const url of ['./data/app.db', '', 'sqlite', '://x']) {
      const error = await rejection(openMemoryStore(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(`"${url}"`);
      expect(error.hint).toContain('sqlite://./data/app.db');
    }
    // A known scheme whose URL the WHATWG parser rejects (an invalid port).
    registerMemoryScheme('strict-test', () => createInMemoryStore('strict-test://'));
    const error = await rejection(openMemoryStore('strict-test://user:s3cret@host:notaport/x'));
    expect(error.code).toBe('memory_error');
    expect(error.message).toContain('strict-test://user:***@host:notaport/x');
    expect(error.message).not.toContain('s3cret');
  });

  it('opens the default schemes', async () => {
    const memory = await openMemoryStore('memory://');
    expect(memory.url).toBe('memory://');
    await memory.close();
    const inMemorySqlite = await openMemoryStore('sqlite://:memory:');
    await inMemorySqlite.set({ council: 'c' }, 'k', 1);
    expect(await inMemorySqlite.get({ council: 'c' }, 'k')).toBe(1);
    await inMemorySqlite.close();
    const path = join(dir, 'with space', 'a.db');
    const spaced = await openMemoryStore(`sqlite://${path}`);
    await spaced.close();
    expect(existsSync(path)).toBe(true);
  });

  it('lets a backend plug in by scheme', async () => {
    const seen: string[] = [];
    registerMemoryScheme('Plug-Test', (url, raw) => {
      seen.push(`${url.protocol} ${url.hostname} ${raw}`);
      return createInMemoryStore(raw);
    });
    expect(knownMemorySchemes()).toContain('plug-test');
    const store = await openMemoryStore('PLUG-TEST://box/x');
    expect(seen).toEqual(['plug-test: box PLUG-TEST://box/x']);
    await store.close();
    expect(parseMemoryUrl(' sqlite://:memory: ').url.pathname).toBe(':memory:');
  });

  it('redacts passwords', () => {
    expect(redactUrl('redis://user:p%40ss@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUrl('redis://:only-pass@host')).toBe('redis://:***@host');
    expect(redactUrl('postgres://u:p@ss@h/db')).toBe('postgres://u:***@h/db');
    expect(redactUrl('postgres://h/db?user=u&password=pw&sslmode=require')).toBe(
      'postgres://h/db?user=u&password=***&sslmode=require',
    );
    expect(redactUrl('redis://user@host')).toBe('redis://user@host');
    expect(redactUrl('sqlite://./data/app.db')).toBe('sqlite://./data/app.db');
    expect(redactUrl('not a url: with:colon@x')).toBe('not a url: with:colon@x');
  });
});

describe('Memory', () => {
  it('does no I/O until first use, then opens the backend', async () => {
    const path = join(dir, 'lazy', 'dir', 'app.db');
    const memory = new Memory({ url: `sqlite://${path}` });
    expect(memory.isOpen).toBe(false);
    expect(existsSync(join(dir, 'lazy'))).toBe(false);
    expect(memory.url).toBe(`sqlite://${path}`);
    await memory.append({ council: 'c' }, { role: 'user', content: 'hi' });
    expect(memory.isOpen).toBe(true);
    expect(existsSync(path)).toBe(true);
    await memory.close();
    expect(memory.isOpen).toBe(false);
    expect((await rejection(memory.read({ council: 'c' }))).message).toContain('closed');
  });

  it('opens once for concurrent first calls and retries after a failed opening', async () => {
    let opens = 0;
    let failNext = true;
    registerMemoryScheme('flaky-test', async (_url, raw) => {
      opens++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (failNext) {
        failNext = false;
        throw new Error('backend down');
      }
      return createInMemoryStore(raw);
    });
    const memory = new Memory({ url: 'flaky-test://user:pw@host' });
    expect(memory.url).toBe('flaky-test://user:***@host');
    const first = await Promise.allSettled([memory.ping(), memory.get({ council: 'c' }, 'k'), memory.ping()]);
    expect(first.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(opens).toBe(1);
    const reason = (first[0] as PromiseRejectedResult).reason as unknown;
    expect(HarnessError.isInstance(reason) && reason.code).toBe('memory_error');

    await Promise.all([memory.set({ council: 'c' }, 'k', 1), memory.ping(), memory.ping()]);
    expect(opens).toBe(2);
    expect(await memory.get({ council: 'c' }, 'k')).toBe(1);
    expect(opens).toBe(2);
    await memory.close();
  });

  it('reports an unknown scheme on first use, not on construction', async () => {
    const memory = new Memory({ url: 'nosuch://x' });
    expect((await rejection(memory.ping())).code).toBe('unknown_memory_scheme');
  });

  it('throws on construction only for a URL that does not parse, or for url and store together', () => {
    expect(thrown(() => new Memory({ url: 'data/app.db' })).code).toBe('memory_error');
    expect(thrown(() => new Memory({ url: 'memory://', store: createInMemoryStore() })).code).toBe(
      'memory_error',
    );
  });

  it('honours an aborted signal before opening', async () => {
    const path = join(dir, 'never-opened', 'app.db');
    const memory = new Memory({ url: `sqlite://${path}` });
    expect((await rejection(memory.ping({ signal: AbortSignal.abort() }))).code).toBe('aborted');
    expect(existsSync(path)).toBe(false);
  });

  it('wraps a store or a URL with Memory.from, and defaults to memory://', async () => {
    const store = createInMemoryStore();
    const wrapped = Memory.from(store);
    expect(wrapped.url).toBe('memory://');
    await wrapped.set({ council: 'c' }, 'k', 'v');
    expect(await store.get({ council: 'c' }, 'k')).toBe('v');
    expect(Memory.from(wrapped)).toBe(wrapped);
    expect(Memory.from('sqlite://:memory:').url).toBe('sqlite://:memory:');
    expect(new Memory().url).toBe('memory://');
    await wrapped.close();
    expect((await rejection(store.ping())).message).toContain('closed');
  });
});
