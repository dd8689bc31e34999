import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { Memory, type MemoryNamespace, type MemoryStore, openMemoryStore } from '../src/memory/index.ts';
import { createLmdbStore, LMDB_LAYOUT_VERSION, lmdbKeyPart } from '../src/memory/lmdb.ts';
import { rejection } from './harness-errors.ts';
import { collect, describeMemoryConformance } from './memory-conformance.ts';
import { appendFromProcesses, exited, killSpawned, lines, spawnNode } from './processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-lmdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(dir, `env-${++dirs}`);

// One injected clock for the conformance run, so TTL expiry needs no waiting.
let clock = 1_700_000_000_000;
const now = (): number => clock;
const advanceClock = (ms: number): void => {
  clock += ms;
};

let lastDir = '';
describeMemoryConformance(
  'lmdb',
  async () => {
    lastDir = newDir();
    return createLmdbStore(`lmdb://${lastDir}`, { now });
  },
  { advanceClock, reopen: async () => createLmdbStore(`lmdb://${lastDir}`, { now }) },
);

// Through the public URL path with the real clock: Memory → registry → lazy import → lmdb.
let lastUrl = '';
describeMemoryConformance(
  'Memory over an lmdb URL',
  async () => {
    lastUrl = `lmdb://${newDir()}`;
    return new Memory({ url: lastUrl });
  },
  { reopen: async () => new Memory({ url: lastUrl }) },
);

/** Every raw key of an environment's main database, for checks of what is really on disk. */
async function rawKeys(path: string): Promise<unknown[][]> {
  const db = open({ path, noSubdir: false });
  try {
    return Array.from(db.getKeys()) as unknown[][];
  } finally {
    await db.close();
  }
}

describe('lmdb store', () => {
  const ns: MemoryNamespace = { council: 'support', agent: 'triage' };

  it('opens relative and absolute URLs, creating the directory, and through the registry', async () => {
    const absolute = join(newDir(), 'nested', 'deeper');
    const store = await createLmdbStore(`lmdb://${absolute}`);
    await store.append(ns, { role: 'user', content: 'hello' });
    await store.close();
    const viaRegistry = await openMemoryStore(`lmdb://${absolute}`);
    expect((await viaRegistry.read(ns)).map((m) => m.content)).toEqual(['hello']);
    expect(viaRegistry.url).toBe(`lmdb://${absolute}`);
    await viaRegistry.close();

    const relative = `lmdb://${join('.', 'relative-env')}`;
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const store2 = await createLmdbStore(relative);
      await store2.set(ns, 'k', 1);
      await store2.close();
      // A name with a dot is still a directory (lmdb-js would take it for a file by default).
      const dotted = await createLmdbStore('lmdb://memory.lmdb');
      await dotted.set(ns, 'k', 2);
      await dotted.close();
    } finally {
      process.chdir(cwd);
    }
    const reopened = await createLmdbStore(`lmdb://${resolve(dir, 'relative-env')}`);
    expect(await reopened.get(ns, 'k')).toBe(1);
    await reopened.close();
    const dotted = await createLmdbStore(`lmdb://${resolve(dir, 'memory.lmdb')}`);
    expect(await dotted.get(ns, 'k')).toBe(2);
    await dotted.close();
  });

  it('rejects a file where the directory should be, naming the path and the fix', async () => {
    const file = join(newDir(), 'a-file');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'not a directory');
    for (const path of [file, join(file, 'below')]) {
      const error = await rejection(createLmdbStore(`lmdb://${path}`));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(path);
      expect(error.message).toContain('file is in the way');
      expect(error.hint).toContain('directory');
      const viaRegistry = await rejection(openMemoryStore(`lmdb://${path}`));
      expect(viaRegistry.code).toBe('memory_error');
    }
  });

  it('rejects a directory that holds no LMDB environment or a cut-short one, without crashing', async () => {
    // lmdb-js itself would crash the process (SIGSEGV) on these files.
    const garbage = newDir();
    mkdirSync(garbage);
    writeFileSync(join(garbage, 'data.mdb'), 'x'.repeat(100_000));
    const error = await rejection(createLmdbStore(`lmdb://${garbage}`));
    expect(error.code).toBe('memory_error');
    expect(error.message).toContain(garbage);
    expect(error.message).toContain('no LMDB header');

    const cut = newDir();
    const store = await createLmdbStore(`lmdb://${cut}`);
    await store.append({ council: 'c' }, { role: 'user', content: 'x' });
    await store.close();
    const data = join(cut, 'data.mdb');
    writeFileSync(data, readFileSync(data).subarray(0, 4096));
    const cutError = await rejection(createLmdbStore(`lmdb://${cut}`));
    expect(cutError.message).toContain('cut short');
    expect(cutError.hint).toContain(data);

    const newer = newDir();
    const raw = open({ path: newer, noSubdir: false });
    raw.putSync(['layout'], LMDB_LAYOUT_VERSION + 1);
    await raw.close();
    const tooNew = await rejection(createLmdbStore(`lmdb://${newer}`));
    expect(tooNew.code).toBe('memory_error');
    expect(tooNew.message).toContain(`layout version ${LMDB_LAYOUT_VERSION + 1}`);
    expect(tooNew.hint).toContain('upgrade forge-harness');
  });

  it('shares one directory between two stores of one process; closing one leaves the other working', async () => {
    const url = `lmdb://${newDir()}`;
    const a = await createLmdbStore(url);
    const b = await createLmdbStore(url);
    await a.append(ns, { role: 'user', content: 'from a' });
    expect((await b.read(ns)).map((m) => m.content)).toEqual(['from a']);
    expect((await b.append(ns, { role: 'user', content: 'from b' })).seq).toBe(2);
    await a.close();
    expect((await b.append(ns, { role: 'user', content: 'after a closed' })).seq).toBe(3);
    expect(await b.stats(ns)).toStrictEqual({ messages: 3, keys: 0, documents: 0 });
    await b.close();
  });

  it('rejects bad URLs and options with an example', async () => {
    for (const url of ['lmdb://', 'lmdb://dir?mode=x', 'lmdb://bad%zzescape']) {
      const error = await rejection(createLmdbStore(url));
      expect(error.code).toBe('memory_error');
      expect(error.hint ?? error.message).toContain('lmdb://');
    }
    const error = await rejection(createLmdbStore(`lmdb://${newDir()}`, { mapSizeBytes: -1 }));
    expect(error.message).toContain('mapSizeBytes');
  });

  it('keeps keys, ids and namespace parts apart that differ only in NUL, escapes or length', async () => {
    const path = newDir();
    const store = await createLmdbStore(`lmdb://${path}`);
    const long = 'k'.repeat(3000);
    const keys = [
      'a',
      'a\u0000',
      'a\u0000b',
      'a\u0001',
      'a\u0001\u0001',
      '\u0001\u0003',
      long,
      `${long}x`,
      'é',
    ];
    for (const [i, key] of keys.entries()) await store.set(ns, key, i);
    for (const [i, key] of keys.entries()) expect(await store.get(ns, key)).toBe(i);
    expect((await collect(store.dump(ns))).map((r) => (r.kind === 'kv' ? r.key : '')).sort()).toEqual(
      [...keys].sort(),
    );
    for (const [i, id] of keys.entries()) {
      await store.remember(ns, { id, text: `document number${i}`, embedding: [1, i + 1] });
    }
    expect((await store.recall(ns, 'number3')).map((hit) => hit.id)).toEqual(['a\u0001']);
    expect((await store.recall(ns, '', { embedding: [1, 7], k: 1 }))[0]?.id).toBe(long);
    expect(await store.stats(ns)).toStrictEqual({ messages: 0, keys: 9, documents: 9, dimension: 2 });

    // Namespaces: a part that is a prefix of another, NUL inside, a very long part, council-wide memory.
    const spaces: MemoryNamespace[] = [
      { tenant: 't', council: 'c' },
      { tenant: 't', council: 'c', agent: 'a' },
      { tenant: 't', council: 'c', agent: 'ab' },
      { tenant: 't', council: 'c', agent: 'a\u0000' },
      { tenant: 't', council: 'c\u0000a' },
      { tenant: 't\u0000c', council: 'a' },
      { tenant: 't', council: 'c', agent: 'x'.repeat(2000) },
      { tenant: 't', council: 'c', agent: `${'x'.repeat(2000)}y` },
    ];
    for (const [i, space] of spaces.entries()) {
      for (let n = 0; n <= i; n++) await store.append(space, { role: 'user', content: `${i}` });
      await store.set(space, 'who', i);
    }
    for (const [i, space] of spaces.entries()) {
      const messages = await store.read(space);
      expect(messages.map((m) => [m.seq, m.content])).toEqual(
        Array.from({ length: i + 1 }, (_, n) => [n + 1, `${i}`]),
      );
      expect(await store.get(space, 'who')).toBe(i);
      expect(await store.stats(space)).toStrictEqual({ messages: i + 1, keys: 1, documents: 0 });
      expect(await collect(store.dump(space))).toHaveLength(i + 2);
    }
    await store.close();
    // No raw key exceeds LMDB's limit or holds a NUL inside a string part.
    for (const key of await rawKeys(path)) {
      for (const part of key) if (typeof part === 'string') expect(part).not.toContain('\u0000');
    }
    expect(lmdbKeyPart(long).length).toBeLessThan(64);
  });

  it('sweeps expired keys from disk on later writes', async () => {
    const path = newDir();
    let time = 1_000;
    const store = await createLmdbStore(`lmdb://${path}`, { now: () => time });
    for (let i = 0; i < 10; i++) await store.set(ns, `short${i}`, i, { ttlMs: 10 });
    await store.set(ns, 'long', 'x', { ttlMs: 1_000_000 });
    await store.set(ns, 'forever', 'y');
    // Replacing a key with a TTL drops its old expiry entry.
    await store.set(ns, 'short0', 'now forever');
    time += 11;
    expect(await store.stats(ns)).toStrictEqual({ messages: 0, keys: 3, documents: 0 });
    await store.set(ns, 'trigger', 1);
    await store.close();
    const raw = await rawKeys(path);
    const kv = raw.filter((key) => key[0] === 'k').map((key) => key.at(-1));
    expect(kv.sort()).toEqual(['forever', 'long', 'short0', 'trigger']);
    expect(raw.filter((key) => key[0] === 'x')).toHaveLength(1);
  });

  it('pages a large dump and reads a window by range', async () => {
    const store = await createLmdbStore(`lmdb://${newDir()}`);
    await store.load(
      ns,
      Array.from({ length: 1_234 }, (_, i) => ({
        kind: 'message' as const,
        seq: i + 1,
        role: 'user' as const,
        content: `m${i + 1}`,
        at: i,
      })),
    );
    for (let i = 0; i < 1_100; i++) await store.set(ns, `key${String(i).padStart(4, '0')}`, i);
    const records = await collect(store.dump(ns));
    expect(
      records.filter((r) => r.kind === 'message').map((r) => (r.kind === 'message' ? r.seq : 0)),
    ).toEqual(Array.from({ length: 1_234 }, (_, i) => i + 1));
    expect(records.filter((r) => r.kind === 'kv')).toHaveLength(1_100);
    expect((await store.read(ns, { limit: 3 })).map((m) => m.seq)).toEqual([1232, 1233, 1234]);
    // An aborted signal between pages ends the dump.
    const controller = new AbortController();
    let seen = 0;
    const error = await rejection(
      (async () => {
        for await (const _ of store.dump(ns, { signal: controller.signal })) {
          if (++seen === 10) controller.abort();
        }
      })(),
    );
    expect(error.code).toBe('aborted');
    expect(seen).toBeLessThanOrEqual(500);
    await store.close();
  });
});

const childScript = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
// A failed test must not leave a child appending forever.
afterAll(killSpawned);

describe('lmdb across processes', () => {
  const concurrency: MemoryNamespace = { council: 'concurrency' };

  it('two processes appending 200 messages each get seqs 1..400 with no gap or duplicate', async () => {
    const url = `lmdb://${newDir()}`;
    // Both open the same new store, then start appending together.
    const children = await appendFromProcesses(url);

    const store = await createLmdbStore(url);
    const messages = await store.read(concurrency, { limit: 1000 });
    expect(await store.stats(concurrency)).toMatchObject({ messages: 400 });
    await store.close();
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    // Each child's own messages are all there, in its order.
    for (const child of children) {
      const own = messages.filter((m) => m.content.startsWith(`${child.pid}:`)).map((m) => m.content);
      expect(own).toEqual(Array.from({ length: 200 }, (_, i) => `${child.pid}:${i}`));
    }
    // The two really interleaved: a serial run shows one switch between writers.
    const switches = messages.filter((m, i) => i > 0 && m.meta?.pid !== messages[i - 1]?.meta?.pid).length;
    expect(switches).toBeGreaterThan(20);
  });

  it('keeps an append reported just before the process was killed with SIGKILL, and opens again', async () => {
    const path = newDir();
    const url = `lmdb://${path}`;
    const child = spawnNode(childScript, ['append-forever', url]);
    const output = lines(child);
    // A reader in another process sees each reported append at once, while the writer keeps going.
    const watcher: MemoryStore = await createLmdbStore(url);
    let reported = 0;
    while (reported < 50) {
      const line = await output.next();
      if (line.done) throw new Error('child stopped before it was killed');
      reported = Number(String(line.value).replace('appended ', ''));
      expect((await watcher.read(concurrency, { limit: 1 }))[0]?.seq).toBeGreaterThanOrEqual(reported);
    }
    // Killed mid-stream: it may be inside a write transaction, holding the writer lock.
    child.kill('SIGKILL');
    await exited(child);
    await watcher.close();

    const store = await createLmdbStore(url);
    const messages = await store.read(concurrency, { limit: 100_000 });
    expect(messages.length).toBeGreaterThanOrEqual(reported);
    expect(messages.find((m) => m.seq === reported)?.content).toBe(`forever:${reported - 1}`);
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => i + 1));
    // The dead writer's lock was released: the next append continues the sequence.
    expect((await store.append(concurrency, { role: 'user', content: 'after' })).seq).toBe(
      messages.length + 1,
    );
    await store.close();
  });
});
