/**
 * The `redis://` backend against real servers: the conformance suite and the multi-process test on
 * the machine's Redis (127.0.0.1:6379, each run under its own key prefix, removed afterwards), and
 * the failure tests (kill -9 and restart, wrong password) on a private redis-server this file starts
 * on a free port, so the shared server is never stopped.
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { HarnessError } from '../src/errors.ts';
import {
  knownMemorySchemes,
  type MemoryMessage,
  type MemoryNamespace,
  type MemoryRecord,
  type MemoryStore,
  openMemoryStore,
} from '../src/memory/index.ts';
import { createRedisStore, redisNamespaceKeys } from '../src/memory/redis.ts';
import { resolveNamespace } from '../src/memory/validation.ts';
import { rejection } from './harness-errors.ts';
import { collect, describeMemoryConformance, VECTOR_CORPUS } from './memory-conformance.ts';
import { startRedisServer } from './private-redis.ts';
import { appendFromProcesses, exited, freePort, killSpawned } from './processes.ts';
import { requireServer } from './servers.ts';

const SHARED = 'redis://127.0.0.1:6379';
// Every key this run writes on the shared server starts with this; afterAll removes them.
const RUN_PREFIX = `forge:test:${process.pid}-${randomUUID().slice(0, 8)}:`;
let prefixes = 0;
const newPrefix = (): string => `${RUN_PREFIX}${++prefixes}:`;

/** Everything an error could show anyone: message, hint, JSON and a deep inspect (cause included). */
function everythingShown(error: HarnessError): string {
  return [
    error.message,
    error.hint ?? '',
    JSON.stringify(error.toJSON()),
    inspect(error, { depth: 10 }),
  ].join('\n');
}

/** Every key matching a glob, by SCAN (never KEYS, which blocks a shared server). */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) found.add(key);
  } while (cursor !== '0');
  return [...found];
}

// A failed test must leave no redis-server or child behind.
afterAll(killSpawned);

describe('redis URLs without a server', () => {
  it('registers redis and rediss', () => {
    expect(knownMemorySchemes()).toEqual(expect.arrayContaining(['redis', 'rediss']));
  });

  it('rejects bad URLs with an example and without the password', async () => {
    const bad: [string, string][] = [
      ['redis://:hunter2@localhost/abc', 'database number'],
      ['redis://:hunter2@localhost:6379/0?db=1', 'unknown parameter "db"'],
      ['redis://:hunter2@localhost:6379/0#x', 'fragment'],
      ['redis://:%zz-hunter2@localhost:6379', 'percent-escape'],
      ['redis://:hunter2@localhost:0', 'port 0'],
      ['http://:hunter2@localhost:6379', 'not a redis://'],
      ['redis://:hunter2@local host', 'does not parse'],
    ];
    for (const [url, problem] of bad) {
      const error = await rejection(createRedisStore(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(problem);
      expect(error.hint).toContain('redis://127.0.0.1:6379');
      expect(everythingShown(error)).not.toContain('hunter2');
    }
    // Through the registry, too (whose own parser rejects an invalid port first).
    for (const url of ['redis://:hunter2@localhost/abc', 'redis://:hunter2@localhost:99999']) {
      const error = await rejection(openMemoryStore(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(':***@localhost');
      expect(everythingShown(error)).not.toContain('hunter2');
    }
    const prefix = await rejection(createRedisStore('redis://127.0.0.1:6379', { keyPrefix: 'a{b}:' }));
    expect(prefix.message).toContain('keyPrefix');
    const timeout = await rejection(createRedisStore('redis://127.0.0.1:6379', { connectTimeoutMs: 0 }));
    expect(timeout.message).toContain('connectTimeoutMs');
  });

  it('fails fast and retryable, naming host:port, when nothing listens there', async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await rejection(
      createRedisStore(`redis://:hunter2@127.0.0.1:${port}/0`, { connectTimeoutMs: 2000 }),
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error.code).toBe('memory_error');
    expect(error.isRetryable).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.hint).toContain(`running at 127.0.0.1:${port}`);
    expect(everythingShown(error)).not.toContain('hunter2');
  });
});

const runShared = await requireServer('redis', async () => {
  const store = await createRedisStore(SHARED, { connectTimeoutMs: 2000, keyPrefix: RUN_PREFIX });
  try {
    await store.ping();
  } finally {
    await store.close();
  }
});

if (runShared) {
  afterAll(async () => {
    const redis = new Redis(SHARED);
    try {
      const keys = await scanKeys(redis, `${RUN_PREFIX}*`);
      for (let start = 0; start < keys.length; start += 1000)
        await redis.unlink(...keys.slice(start, start + 1000));
    } finally {
      redis.disconnect();
    }
  });

  let lastPrefix = '';
  describeMemoryConformance(
    'redis',
    async () => {
      lastPrefix = newPrefix();
      return createRedisStore(SHARED, { keyPrefix: lastPrefix });
    },
    { reopen: async () => createRedisStore(SHARED, { keyPrefix: lastPrefix }) },
  );

  describe('redis backend', () => {
    it('keeps each namespace under one hash tag, with parts escaped so they never collide', async () => {
      const keyPrefix = newPrefix();
      const store = await createRedisStore(SHARED, { keyPrefix });
      const redis = new Redis(SHARED);
      try {
        const first: MemoryNamespace = { tenant: 'a:b', council: 'c' };
        const second: MemoryNamespace = { tenant: 'a', council: 'b:c' };
        const braces: MemoryNamespace = { tenant: '{t}', council: '50%', agent: 'x' };
        for (const ns of [first, second, braces]) {
          await store.append(ns, { role: 'user', content: JSON.stringify(ns) });
          await store.set(ns, 'k', ns.tenant);
          await store.remember(ns, { id: 'd', text: 'words', embedding: [1, 2] });
        }
        for (const ns of [first, second, braces]) {
          expect((await store.read(ns)).map((m) => [m.seq, m.content])).toEqual([[1, JSON.stringify(ns)]]);
          expect(await store.get(ns, 'k')).toBe(ns.tenant);
        }
        const keys = redisNamespaceKeys(keyPrefix, resolveNamespace(braces));
        expect(keys.base).toBe(`${keyPrefix}{%7Bt%7D:50%25:x}:`);
        const stored = (await scanKeys(redis, `${keyPrefix}*`)).sort();
        expect(stored).toHaveLength(3 * 7);
        // The first {...} of every key is its namespace, so Redis Cluster puts a namespace in one slot.
        const tags = new Set(stored.map((key) => /\{([^}]*)\}/.exec(key)?.[1]));
        expect([...tags].sort()).toEqual(['%7Bt%7D:50%25:x', 'a%3Ab:c:', 'a:b%3Ac:']);
        const one = stored
          .filter((key) => key.startsWith(keys.base))
          .map((key) => key.slice(keys.base.length));
        expect(one.sort()).toEqual(['dim', 'docs', 'emb', 'kv', 'kv:k', 'msgs', 'seq']);
        // Embeddings are float32 bytes; the dimension is a key of its own.
        expect((await redis.hgetBuffer(keys.emb, 'd'))?.length).toBe(8);
        expect(await redis.get(keys.dim)).toBe('2');
      } finally {
        redis.disconnect();
        await store.close();
      }
    });

    it('dumps and counts namespaces larger than one page of LRANGE, HSCAN and key names', async () => {
      const store = await createRedisStore(SHARED, { keyPrefix: newPrefix() });
      const ns: MemoryNamespace = { council: 'big' };
      try {
        await Promise.all(
          Array.from({ length: 1100 }, (_, i) => store.append(ns, { role: 'user', content: `m${i}` })),
        );
        await Promise.all(Array.from({ length: 600 }, (_, i) => store.set(ns, `k${i}`, i)));
        await Promise.all(
          Array.from({ length: 600 }, (_, i) =>
            store.remember(ns, { id: `d${i}`, text: `doc ${i}`, embedding: [1, i + 1] }),
          ),
        );
        await store.set(ns, 'expiring', 'x', { ttlMs: 20 });
        await sleep(40);
        const records = await collect(store.dump(ns));
        const messages = records.flatMap((r) => (r.kind === 'message' ? [r.seq] : []));
        expect(messages).toEqual(Array.from({ length: 1100 }, (_, i) => i + 1));
        const keys = records.flatMap((r) => (r.kind === 'kv' ? [r.key] : []));
        expect(new Set(keys).size).toBe(600);
        expect(keys).not.toContain('expiring');
        const docs = records.flatMap((r) => (r.kind === 'document' ? [r.id] : []));
        expect(new Set(docs).size).toBe(600);
        expect(docs).toHaveLength(600);
        expect(await store.stats(ns)).toStrictEqual({
          messages: 1100,
          keys: 600,
          documents: 600,
          dimension: 2,
        });
        // Vector recall scans every page: the best match sits wherever HSCAN puts it.
        const [best] = await store.recall(ns, '', { embedding: [1, 600], k: 1 });
        expect(best?.id).toBe('d599');
      } finally {
        await store.close();
      }
    });

    it("load re-checks the namespace's dimension right before writing", async () => {
      const keyPrefix = newPrefix();
      const store = await createRedisStore(SHARED, { keyPrefix });
      const other = await createRedisStore(SHARED, { keyPrefix });
      const ns: MemoryNamespace = { council: 'race' };
      try {
        // While load reads its records, another client fixes the namespace at 5 dimensions.
        async function* records(): AsyncGenerator<MemoryRecord> {
          yield { kind: 'kv', key: 'k', value: 1 };
          await other.remember(ns, { id: 'five', text: 'five', embedding: [1, 2, 3, 4, 5] });
          yield { kind: 'document', id: 'three', text: 'three', embedding: [1, 2, 3] };
        }
        const error = await rejection(store.load(ns, records()));
        expect(error.code).toBe('memory_error');
        expect(error.message).toContain('3 dimensions');
        expect(error.message).toContain('5-dimensional');
        expect(await store.stats(ns)).toStrictEqual({ messages: 0, keys: 0, documents: 1, dimension: 5 });
      } finally {
        await other.close();
        await store.close();
      }
    });

    it('opens through the registry with ?keyPrefix, lazily loading the backend', async () => {
      const keyPrefix = newPrefix();
      const store = await openMemoryStore(`${SHARED}/0?keyPrefix=${encodeURIComponent(keyPrefix)}`);
      try {
        await store.set({ council: 'c' }, 'k', 'v');
        const direct = await createRedisStore(SHARED, { keyPrefix });
        expect(await direct.get({ council: 'c' }, 'k')).toBe('v');
        await direct.close();
      } finally {
        await store.close();
      }
    });
  });

  describe('redis across processes', () => {
    it('two processes appending 200 messages each get seqs 1..400 with no gap or duplicate', async () => {
      const keyPrefix = newPrefix();
      const url = `${SHARED}/0?keyPrefix=${encodeURIComponent(keyPrefix)}`;
      const children = await appendFromProcesses(url);

      const store = await createRedisStore(SHARED, { keyPrefix });
      const messages = await store.read({ council: 'concurrency' }, { limit: 1000 });
      expect(await store.stats({ council: 'concurrency' })).toMatchObject({ messages: 400 });
      await store.close();
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      for (const child of children) {
        const own = messages.filter((m) => m.content.startsWith(`${child.pid}:`)).map((m) => m.content);
        expect(own).toEqual(Array.from({ length: 200 }, (_, i) => `${child.pid}:${i}`));
      }
      // The two really interleaved (a serial run shows one switch between writers).
      const switches = messages.filter((m, i) => i > 0 && m.meta?.pid !== messages[i - 1]?.meta?.pid).length;
      expect(switches).toBeGreaterThan(20);
    });
  });

  describe('redis failures on a private server', () => {
    const dirs: string[] = [];
    afterAll(() => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });
    const newDir = (): string => {
      const dir = mkdtempSync(join(tmpdir(), 'forge-redis-'));
      dirs.push(dir);
      return dir;
    };
    // Characters that need percent-encoding in a URL, so decoding is exercised too.
    const password = 'p@ss w0rd/s3cret-7f2';
    const passwordInUrl = encodeURIComponent(password);

    it('fails fast while the server is down, reconnects by itself, and keeps every acknowledged write', async () => {
      const dir = newDir();
      const port = await freePort();
      let server = await startRedisServer(port, dir, password);
      const store = await createRedisStore(`redis://:${passwordInUrl}@127.0.0.1:${port}/3`);
      expect(store.url).toBe(`redis://:***@127.0.0.1:${port}/3`);
      const ns: MemoryNamespace = { tenant: 'acme', council: 'support', agent: 'triage' };
      await store.set(ns, 'profile', { name: 'Ada' });
      await store.set(ns, 'session', 's1', { ttlMs: 3_600_000 });
      await store.remember(ns, VECTOR_CORPUS[0] as Parameters<MemoryStore['remember']>[1]);

      // Append until the server dies under the appender; remember what was acknowledged.
      const acknowledged: MemoryMessage[] = [];
      const appender = (async (): Promise<unknown> => {
        for (let i = 0; ; i++) {
          try {
            acknowledged.push(await store.append(ns, { role: 'user', content: `m${i}` }));
          } catch (error) {
            return error;
          }
        }
      })();
      while (acknowledged.length < 50) await sleep(5);
      server.kill('SIGKILL');
      await exited(server);
      const appendError = await appender;
      expect(HarnessError.isInstance(appendError)).toBe(true);

      // Any call now fails at once, retryably, naming the port and never the password.
      await sleep(300);
      for (const attempt of [() => store.get(ns, 'profile'), () => store.ping(), () => store.stats(ns)]) {
        const started = performance.now();
        const error = await rejection(attempt());
        expect(performance.now() - started).toBeLessThan(500);
        expect(error.code).toBe('memory_error');
        expect(error.isRetryable).toBe(true);
        expect(error.message).toContain(`127.0.0.1:${port}`);
        expect(error.hint).toContain(`127.0.0.1:${port}`);
        const shown = everythingShown(error);
        expect(shown).not.toContain(password);
        expect(shown).not.toContain(passwordInUrl);
      }
      for (const error of [appendError as HarnessError]) {
        expect(error.code).toBe('memory_error');
        expect(error.isRetryable).toBe(true);
        expect(everythingShown(error)).not.toContain(password);
      }

      server = await startRedisServer(port, dir, password);
      // The same store answers again once its background reconnect has run.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await store.ping();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await sleep(50);
        }
      }
      const messages = await store.read(ns, { limit: 100_000 });
      // Every acknowledged append is there with its seq; at most the one in flight at the kill is extra.
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => i + 1));
      expect(messages.length).toBeGreaterThanOrEqual(acknowledged.length);
      expect(messages.length).toBeLessThanOrEqual(acknowledged.length + 1);
      for (const message of acknowledged) expect(messages[message.seq - 1]).toEqual(message);
      expect(await store.get(ns, 'profile')).toEqual({ name: 'Ada' });
      expect(await store.get(ns, 'session')).toBe('s1');
      const embedding = VECTOR_CORPUS[0]?.embedding ?? [];
      expect((await store.recall(ns, '', { embedding, k: 1 }))[0]?.id).toBe('v00');
      expect((await store.append(ns, { role: 'user', content: 'after' })).seq).toBe(messages.length + 1);
      expect((await collect(store.dump(ns))).filter((record) => record.kind === 'kv')).toHaveLength(2);

      await store.close();
      server.kill('SIGKILL');
      await exited(server);
    });

    it('rejects a wrong or missing password without showing it', async () => {
      const port = await freePort();
      const server = await startRedisServer(port, newDir(), password);
      const printed = [vi.spyOn(console, 'warn'), vi.spyOn(console, 'error'), vi.spyOn(console, 'log')];
      try {
        for (const [url, reply] of [
          [`redis://:wrong-pass-93@127.0.0.1:${port}`, 'WRONGPASS'],
          [`redis://admin:wrong-pass-93@127.0.0.1:${port}`, 'WRONGPASS'],
          [`redis://127.0.0.1:${port}`, 'NOAUTH'],
        ] as const) {
          const error = await rejection(createRedisStore(url, { connectTimeoutMs: 2000 }));
          expect(error.code).toBe('memory_error');
          expect(error.isRetryable).toBe(false);
          expect(error.message).toContain(`127.0.0.1:${port}`);
          expect(error.message).toContain(reply);
          expect(error.hint).toContain('password');
          const shown = everythingShown(error);
          expect(shown).not.toContain('wrong-pass-93');
          expect(shown).not.toContain(password);
        }
        // The right password works; a store that is open never prints it either.
        const store = await createRedisStore(`redis://default:${passwordInUrl}@127.0.0.1:${port}`);
        await store.set({ council: 'c' }, 'k', 1);
        expect(await store.get({ council: 'c' }, 'k')).toBe(1);
        await store.close();
        for (const spy of printed) {
          for (const call of spy.mock.calls) {
            expect(inspect(call, { depth: 10 })).not.toContain('wrong-pass-93');
            expect(inspect(call, { depth: 10 })).not.toContain(password);
          }
        }
      } finally {
        for (const spy of printed) spy.mockRestore();
        server.kill('SIGKILL');
        await exited(server);
      }
    });
  });
}
