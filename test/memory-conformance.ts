/**
 * The MemoryStore conformance suite: every backend (in-memory, SQLite, and later Redis, Postgres,
 * LMDB) runs it from its own test file, so they all behave the same behind the contract.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { HarnessError, type HarnessErrorCode } from '../src/errors.ts';
import type { MemoryNamespace, MemoryRecord, MemoryStore, RecallHit } from '../src/memory/index.ts';

/** Options of {@link describeMemoryConformance}. */
export interface MemoryConformanceOptions {
  /**
   * Opens the storage the last `open()` call used, as a new store (another connection or process
   * would). When given, the suite checks that messages, keys and documents survive a close and reopen.
   */
  reopen?: () => Promise<MemoryStore>;
  /**
   * Moves the clock the stores were opened with forward by `ms` milliseconds. When given, TTL expiry
   * is checked without waiting; without it the TTL test waits 60 ms of real time (a 30 ms TTL).
   */
  advanceClock?: (ms: number) => void | Promise<void>;
  /**
   * True (default) when vector recall is exact (brute force, or an index that is exact on a small
   * corpus): the top-k must equal the suite's brute-force ranking. False for an approximate index
   * (e.g. HNSW): every hit must still carry its true cosine score (±1e-6), best first, and at least
   * 8 of the true top 10 must be there.
   */
  vectorExact?: boolean;
}

/** The dimension of {@link VECTOR_CORPUS}'s embeddings. */
export const VECTOR_DIMENSION = 16;

/**
 * A deterministic PRNG (mulberry32) returning floats in [0, 1), so the vector corpus is the same on
 * every run and every backend.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A vector of values in [-1, 1] on a 1/1024 grid: exactly representable as float32, so a backend
 * that stores float32 gives back exactly what was stored.
 */
export function seededVector(random: () => number, dimension = VECTOR_DIMENSION): number[] {
  return Array.from({ length: dimension }, () => {
    const value = Math.round((random() * 2 - 1) * 1024) / 1024;
    return value === 0 ? 1 / 1024 : value;
  });
}

const vectorRandom = seededRandom(0x5eed);

/**
 * 50 documents for vector recall: `v00`…`v49`, each with a unique word `tag<i>` for lexical recall,
 * meta `{ group: 'a' | 'b' | 'c', even, n }`, and a {@link VECTOR_DIMENSION}-dimensional embedding,
 * except every tenth from `v07` on (`v07`, `v17`, …), which has none.
 */
export const VECTOR_CORPUS: readonly {
  id: string;
  text: string;
  meta: { group: string; even: boolean; n: number };
  embedding?: number[];
}[] = Array.from({ length: 50 }, (_, i) => {
  const embedding = seededVector(vectorRandom);
  return {
    id: `v${String(i).padStart(2, '0')}`,
    text: `vector note ${['alpha', 'bravo', 'charlie', 'delta', 'echo'][i % 5]} tag${i}`,
    meta: { group: ['a', 'b', 'c'][i % 3] as string, even: i % 2 === 0, n: i },
    ...(i % 10 === 7 ? {} : { embedding }),
  };
});

/** Query vectors for {@link VECTOR_CORPUS}, from the same PRNG. */
export const VECTOR_QUERIES: readonly number[][] = Array.from({ length: 6 }, () =>
  seededVector(vectorRandom),
);

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

/** The suite's own brute force: embedded documents matching `filter`, by cosine, ties by id. */
function bruteForce(
  query: readonly number[],
  k: number,
  filter: Record<string, string | number | boolean> = {},
): { id: string; score: number }[] {
  return VECTOR_CORPUS.filter(
    (doc) =>
      doc.embedding !== undefined &&
      Object.entries(filter).every(([name, value]) => (doc.meta as Record<string, unknown>)[name] === value),
  )
    .map((doc) => ({ id: doc.id, score: cosine(query, doc.embedding ?? []) }))
    .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    .slice(0, k);
}

/** Reads an async iterable to the end. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const KIND_ORDER = { message: 0, kv: 1, document: 2 } as const;
const recordKey = (record: MemoryRecord): string =>
  record.kind === 'message'
    ? String(record.seq).padStart(12, '0')
    : record.kind === 'kv'
      ? record.key
      : record.id;

/**
 * A dump with keys and documents sorted (their order is the backend's), for comparing two dumps.
 * Also checks the dump's own order: messages by seq, then keys, then documents.
 */
export function normalizeDump(records: readonly MemoryRecord[]): MemoryRecord[] {
  for (let i = 1; i < records.length; i++) {
    const before = records[i - 1] as MemoryRecord;
    const here = records[i] as MemoryRecord;
    expect(KIND_ORDER[before.kind], `dump order at record ${i}`).toBeLessThanOrEqual(KIND_ORDER[here.kind]);
    if (before.kind === 'message' && here.kind === 'message') expect(here.seq).toBeGreaterThan(before.seq);
  }
  return [...records].sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      (recordKey(a) < recordKey(b) ? -1 : recordKey(a) > recordKey(b) ? 1 : 0),
  );
}

/** A fixed corpus for recall ranking; ids name what each text is about. */
export const RECALL_CORPUS: readonly {
  id: string;
  text: string;
  meta: Record<string, string | number | boolean>;
}[] = [
  {
    id: 'cats',
    text: 'Cats are small domesticated carnivorous mammals. Cats purr.',
    meta: { topic: 'pets', year: 2021 },
  },
  { id: 'dogs', text: 'Dogs are loyal companions and love long walks.', meta: { topic: 'pets', year: 2022 } },
  {
    id: 'cat-food',
    text: 'Choosing food for your cat: wet or dry cat food? Ask your vet about cat food.',
    meta: { topic: 'pets', year: 2023, vetted: true },
  },
  {
    id: 'weather',
    text: 'Tomorrow brings rain and strong wind along the coast.',
    meta: { topic: 'weather', year: 2023 },
  },
  {
    id: 'sqlite',
    text: 'SQLite stores the whole database in one file, with a write-ahead log for concurrency.',
    meta: { topic: 'tech', year: 2024 },
  },
  {
    id: 'bm25',
    text: 'BM25 ranks documents by term frequency and inverse document frequency.',
    meta: { topic: 'tech', year: 2024, vetted: false },
  },
  {
    id: 'tokyo',
    text: '東京タワーは東京の観光名所です。',
    meta: { topic: 'travel', lang: 'ja' },
  },
  { id: 'arabic', text: 'مرحبا بالعالم، هذه وثيقة عن الطقس', meta: { topic: 'travel', lang: 'ar' } },
];

/** Expects `promise` to reject with a HarnessError of `code` whose message contains every `parts`. */
async function expectHarnessError(
  promise: Promise<unknown>,
  code: HarnessErrorCode,
  ...parts: string[]
): Promise<HarnessError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(HarnessError.isInstance(error), `expected a HarnessError ${code}, got ${String(error)}`).toBe(true);
  const harnessError = error as HarnessError;
  expect(harnessError.code).toBe(code);
  for (const part of parts) expect(harnessError.message).toContain(part);
  return harnessError;
}

/**
 * Registers a vitest `describe` block that checks a {@link MemoryStore} implementation against the
 * contract. Each test opens its own store with `open` (which must return an empty store) and the
 * suite closes it afterwards.
 *
 * @param name shown in the test report, e.g. `sqlite`.
 * @param open returns a new, empty store.
 */
export function describeMemoryConformance(
  name: string,
  open: () => Promise<MemoryStore>,
  options: MemoryConformanceOptions = {},
): void {
  describe(`MemoryStore conformance: ${name}`, () => {
    const opened: MemoryStore[] = [];
    const fresh = async (): Promise<MemoryStore> => {
      const store = await open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    const ns: MemoryNamespace = { council: 'support', agent: 'triage' };

    it('exposes a url without a password', async () => {
      const store = await fresh();
      expect(typeof store.url).toBe('string');
      expect(store.url).not.toMatch(/\/\/[^/@]*:(?!\*\*\*@)[^/@]*@/);
    });

    it('appends messages with increasing seq and reads them in order', async () => {
      const store = await fresh();
      const first = await store.append(ns, { role: 'system', content: 'be brief' });
      const second = await store.append(ns, {
        role: 'user',
        content: 'hello',
        meta: { channel: 'web', n: 1 },
      });
      const third = await store.append(ns, { role: 'assistant', content: 'hi' });
      expect([first.seq, second.seq, third.seq]).toEqual([1, 2, 3]);
      expect(first).not.toHaveProperty('meta');
      expect(second.meta).toEqual({ channel: 'web', n: 1 });
      expect(typeof first.at).toBe('number');
      expect(second.at).toBeGreaterThanOrEqual(first.at);

      const messages = await store.read(ns);
      expect(messages.map((m) => [m.seq, m.role, m.content])).toEqual([
        [1, 'system', 'be brief'],
        [2, 'user', 'hello'],
        [3, 'assistant', 'hi'],
      ]);
      expect(messages[1]).toEqual(second);
      // What a caller gets back is a copy: changing it does not change the store.
      (messages[1]?.meta as Record<string, unknown>).channel = 'changed';
      expect((await store.read(ns))[1]?.meta).toEqual({ channel: 'web', n: 1 });
    });

    it('reads the last `limit` messages (default 50) in chronological order', async () => {
      const store = await fresh();
      expect(await store.read(ns)).toEqual([]);
      for (let i = 1; i <= 60; i++) await store.append(ns, { role: 'user', content: `m${i}` });
      const all = await store.read(ns);
      expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 11));
      expect((await store.read(ns, { limit: 3 })).map((m) => m.content)).toEqual(['m58', 'm59', 'm60']);
      expect(await store.read(ns, { limit: 0 })).toEqual([]);
      expect(await store.read(ns, { limit: 1000 })).toHaveLength(60);
      await expectHarnessError(store.read(ns, { limit: -1 }), 'memory_error', 'limit');
      await expectHarnessError(store.read(ns, { limit: 1.5 }), 'memory_error', 'limit');
    });

    it('rejects a bad message', async () => {
      const store = await fresh();
      const badRole = { role: 'robot', content: 'x' } as unknown as Parameters<MemoryStore['append']>[1];
      await expectHarnessError(store.append(ns, badRole), 'memory_error', 'role');
      const badContent = { role: 'user', content: 42 } as unknown as Parameters<MemoryStore['append']>[1];
      await expectHarnessError(store.append(ns, badContent), 'memory_error', 'content');
      expect(await store.read(ns)).toEqual([]);
    });

    it('gets, sets, overwrites and deletes keys', async () => {
      const store = await fresh();
      expect(await store.get(ns, 'profile')).toBeUndefined();
      await store.set(ns, 'profile', { name: 'Ada', tags: ['a', 'b'], nested: { ok: true } });
      const profile = await store.get<{ name: string; tags: string[] }>(ns, 'profile');
      expect(profile).toEqual({ name: 'Ada', tags: ['a', 'b'], nested: { ok: true } });
      profile?.tags.push('mutated');
      expect(await store.get(ns, 'profile')).toEqual({ name: 'Ada', tags: ['a', 'b'], nested: { ok: true } });

      await store.set(ns, 'profile', 'replaced');
      expect(await store.get(ns, 'profile')).toBe('replaced');
      for (const value of [null, 0, '', false, [], {}]) {
        await store.set(ns, 'falsy', value);
        expect(await store.get(ns, 'falsy')).toEqual(value);
      }
      // Dates have toJSON and come back as the ISO string, as from any JSON store.
      await store.set(ns, 'when', { at: new Date(Date.UTC(2024, 0, 2)) });
      expect(await store.get(ns, 'when')).toEqual({ at: '2024-01-02T00:00:00.000Z' });

      expect(await store.delete(ns, 'profile')).toBe(true);
      expect(await store.get(ns, 'profile')).toBeUndefined();
      expect(await store.delete(ns, 'profile')).toBe(false);
      expect(await store.delete(ns, 'never-set')).toBe(false);
      await expectHarnessError(store.get(ns, ''), 'memory_error', 'key');
    });

    it('expires keys after their ttl', async () => {
      const store = await fresh();
      if (options.advanceClock) {
        await store.set(ns, 'session', { id: 1 }, { ttlMs: 1000 });
        await store.set(ns, 'short', 'x', { ttlMs: 1000 });
        await store.set(ns, 'forever', 'y');
        await store.set(ns, 'cleared', 'z', { ttlMs: 1000 });
        await store.set(ns, 'cleared', 'z2');
        await options.advanceClock(999);
        expect(await store.get(ns, 'session')).toEqual({ id: 1 });
        await options.advanceClock(1);
        expect(await store.get(ns, 'session')).toBeUndefined();
        expect(await store.delete(ns, 'short')).toBe(false);
        await options.advanceClock(10_000_000);
        expect(await store.get(ns, 'forever')).toBe('y');
        expect(await store.get(ns, 'cleared')).toBe('z2');
        // A key set again after expiry is live again.
        await store.set(ns, 'session', { id: 2 }, { ttlMs: 5 });
        expect(await store.get(ns, 'session')).toEqual({ id: 2 });
      } else {
        await store.set(ns, 'session', { id: 1 }, { ttlMs: 30 });
        await store.set(ns, 'forever', 'y');
        expect(await store.get(ns, 'session')).toEqual({ id: 1 });
        await new Promise((resolve) => setTimeout(resolve, 60));
        expect(await store.get(ns, 'session')).toBeUndefined();
        expect(await store.delete(ns, 'session')).toBe(false);
        expect(await store.get(ns, 'forever')).toBe('y');
      }
      for (const ttlMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expectHarnessError(store.set(ns, 'bad-ttl', 1, { ttlMs }), 'memory_error', 'bad-ttl', 'ttlMs');
      }
      expect(await store.get(ns, 'bad-ttl')).toBeUndefined();
    });

    it('isolates tenants, councils and agents', async () => {
      const store = await fresh();
      const a: MemoryNamespace = { tenant: 'acme', council: 'support', agent: 'triage' };
      const spaces: MemoryNamespace[] = [
        { tenant: 'globex', council: 'support', agent: 'triage' },
        { tenant: 'acme', council: 'sales', agent: 'triage' },
        { tenant: 'acme', council: 'support', agent: 'billing' },
        { tenant: 'acme', council: 'support' },
        { council: 'support', agent: 'triage' },
      ];
      await store.append(a, { role: 'user', content: 'secret plan for acme' });
      await store.set(a, 'k', 'acme-value');
      await store.remember(a, { id: 'd1', text: 'acme secret plan' });
      for (const other of spaces) {
        expect(await store.read(other)).toEqual([]);
        expect(await store.get(other, 'k')).toBeUndefined();
        expect(await store.delete(other, 'k')).toBe(false);
        expect(await store.recall(other, 'secret plan')).toEqual([]);
        // Each namespace has its own seq counter.
        expect((await store.append(other, { role: 'user', content: 'other' })).seq).toBe(1);
        await store.set(other, 'k', 'other-value');
      }
      expect((await store.read(a)).map((m) => m.content)).toEqual(['secret plan for acme']);
      expect(await store.get(a, 'k')).toBe('acme-value');
      expect((await store.recall(a, 'secret')).map((hit) => hit.id)).toEqual(['d1']);
      // The tenant defaults to 'default'.
      await store.set({ council: 'c' }, 'shared', 1);
      expect(await store.get({ tenant: 'default', council: 'c' }, 'shared')).toBe(1);
    });

    it('rejects an invalid namespace', async () => {
      const store = await fresh();
      await expectHarnessError(
        store.append({ council: '' }, { role: 'user', content: 'x' }),
        'memory_error',
        'council',
      );
      await expectHarnessError(store.get({ council: 'c', tenant: '' }, 'k'), 'memory_error', 'tenant');
      await expectHarnessError(store.set({ council: 'c', agent: '' }, 'k', 1), 'memory_error', 'agent');
    });

    it('recalls by relevance, best first, only matching documents', async () => {
      const store = await fresh();
      for (const doc of RECALL_CORPUS) await store.remember(ns, doc);

      const catFood = await store.recall(ns, 'cat food');
      expect(catFood[0]?.id).toBe('cat-food');
      expect(catFood[0]?.text).toBe(RECALL_CORPUS[2]?.text);
      expect(catFood[0]?.meta).toEqual({ topic: 'pets', year: 2023, vetted: true });
      // No stemming: "cat" does not match "Cats".
      expect(catFood.map((hit) => hit.id)).toEqual(['cat-food']);

      expect((await store.recall(ns, 'database concurrency'))[0]?.id).toBe('sqlite');
      expect((await store.recall(ns, 'RAIN?'))[0]?.id).toBe('weather');
      const ranked = await store.recall(ns, 'cats dogs frequency');
      expect(ranked.map((hit) => hit.id).sort()).toEqual(['bm25', 'cats', 'dogs']);
      for (let i = 1; i < ranked.length; i++) {
        expect(ranked[i - 1]?.score).toBeGreaterThanOrEqual(ranked[i]?.score ?? Number.NaN);
      }
      for (const hit of ranked) expect(hit.score).toBeGreaterThan(0);

      expect(await store.recall(ns, 'zebra')).toEqual([]);
      expect(await store.recall(ns, '  ?! ')).toEqual([]);
      // Default k is 5; k limits.
      const many = await store.recall(ns, 'cats dogs cat food rain database frequency 東京 مرحبا');
      expect(many).toHaveLength(5);
      expect(await store.recall(ns, 'cats dogs rain', { k: 2 })).toHaveLength(2);
      await expectHarnessError(store.recall(ns, 'cats', { k: 0 }), 'memory_error', 'k');
    });

    it('replaces a document with the same id and generates ids when absent', async () => {
      const store = await fresh();
      expect(await store.remember(ns, { id: 'note', text: 'the launch is on monday' })).toBe('note');
      expect(await store.remember(ns, { id: 'note', text: 'the launch moved to friday' })).toBe('note');
      expect(await store.recall(ns, 'monday')).toEqual([]);
      const hits = await store.recall(ns, 'launch');
      expect(hits.map((hit) => [hit.id, hit.text])).toEqual([['note', 'the launch moved to friday']]);
      expect(hits[0]).not.toHaveProperty('meta');

      const first = await store.remember(ns, { text: 'generated one' });
      const second = await store.remember(ns, { text: 'generated two' });
      expect(first).toMatch(/.+/);
      expect(second).not.toBe(first);
      expect((await store.recall(ns, 'generated')).map((hit) => hit.id).sort()).toEqual(
        [first, second].sort(),
      );
    });

    it('filters recall by meta', async () => {
      const store = await fresh();
      for (const doc of RECALL_CORPUS) await store.remember(ns, doc);
      const query = 'cats dogs cat food frequency database';
      const unfiltered = await store.recall(ns, query, { k: 10 });
      const tech = await store.recall(ns, query, { k: 10, filter: { topic: 'tech' } });
      expect(tech.map((hit) => hit.id).sort()).toEqual(['bm25', 'sqlite']);
      // Filtering selects documents; it does not change their scores.
      for (const hit of tech) expect(hit.score).toBe(unfiltered.find((u) => u.id === hit.id)?.score);
      expect(
        (await store.recall(ns, query, { filter: { topic: 'pets', year: 2022 } })).map((h) => h.id),
      ).toEqual(['dogs']);
      expect((await store.recall(ns, query, { filter: { vetted: true } })).map((h) => h.id)).toEqual([
        'cat-food',
      ]);
      // Values compare strictly: the string "2022" is not the number 2022.
      expect(await store.recall(ns, query, { filter: { year: '2022' } })).toEqual([]);
      expect(await store.recall(ns, query, { filter: { missing: 'x' } })).toEqual([]);
    });

    it('stores large values (1 MB)', async () => {
      const store = await fresh();
      const big = 'x'.repeat(1024 * 1024);
      await store.set(ns, 'big-string', big);
      expect(await store.get(ns, 'big-string')).toBe(big);
      const bigObject = { rows: Array.from({ length: 16 * 1024 }, (_, i) => ({ i, pad: 'y'.repeat(48) })) };
      await store.set(ns, 'big-object', bigObject);
      expect(await store.get(ns, 'big-object')).toEqual(bigObject);
      const message = await store.append(ns, { role: 'tool', content: big });
      expect((await store.read(ns))[0]?.content).toHaveLength(big.length);
      expect(message.content).toBe(big);
      await store.remember(ns, { id: 'big', text: `${'filler '.repeat(150_000)}needle` });
      expect((await store.recall(ns, 'needle'))[0]?.id).toBe('big');
    });

    it('keeps unicode exactly: emoji, CJK, right-to-left', async () => {
      const store = await fresh();
      const uns: MemoryNamespace = { tenant: 'テナント', council: 'مجلس', agent: '🤖' };
      const text = 'Hello 👋🏽 — 你好，世界 — مرحبا بالعالم — עברית — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 — \u0000 nul';
      await store.append(uns, { role: 'user', content: text, meta: { ключ: '値 🎉' } });
      const [message] = await store.read(uns);
      expect(message?.content).toBe(text);
      expect(message?.meta).toEqual({ ключ: '値 🎉' });
      await store.set(uns, '键🔑', { '👍': 'שלום', lone: 'e\u0301' });
      expect(await store.get(uns, '键🔑')).toEqual({ '👍': 'שלום', lone: 'e\u0301' });
      expect(await store.get({ ...uns, agent: '🤖🤖' }, '键🔑')).toBeUndefined();
      for (const doc of RECALL_CORPUS) await store.remember(uns, doc);
      expect((await store.recall(uns, '東京'))[0]?.id).toBe('tokyo');
      expect((await store.recall(uns, 'بالعالم'))[0]?.id).toBe('arabic');
    });

    it('rejects values that are not JSON and writes nothing', async () => {
      const store = await fresh();
      await store.set(ns, 'kept', 'original');
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      const bad: [unknown, string][] = [
        [() => 1, 'function'],
        [{ nested: { fn() {} } }, '/nested/fn'],
        [10n, 'BigInt'],
        [{ count: 10n }, '/count'],
        [cyclic, 'cycle'],
        [undefined, 'undefined'],
        [[1, undefined], '/1'],
        [Number.NaN, 'NaN'],
        [new Map([['a', 1]]), 'Map'],
        [Symbol('s'), 'symbol'],
      ];
      for (const [value, problem] of bad) {
        await expectHarnessError(store.set(ns, 'kept', value), 'memory_error', '"kept"', problem);
        expect(await store.get(ns, 'kept')).toBe('original');
        await expectHarnessError(store.set(ns, 'fresh', value), 'memory_error', '"fresh"');
        expect(await store.get(ns, 'fresh')).toBeUndefined();
      }
      const badMeta = { fn: () => 1 } as Record<string, unknown>;
      await expectHarnessError(
        store.append(ns, { role: 'user', content: 'x', meta: badMeta }),
        'memory_error',
        'meta',
      );
      await expectHarnessError(
        store.append(ns, { role: 'user', content: 'x', meta: cyclic }),
        'memory_error',
        'meta',
        'cycle',
      );
      expect(await store.read(ns)).toEqual([]);
      expect((await store.append(ns, { role: 'user', content: 'after' })).seq).toBe(1);
      await expectHarnessError(
        store.remember(ns, {
          id: 'doc',
          text: 'unwritten words',
          meta: { big: 1n } as Record<string, unknown>,
        }),
        'memory_error',
        '"doc"',
        '/big',
      );
      expect(await store.recall(ns, 'unwritten')).toEqual([]);
    });

    it('rejects every call with an aborted signal and writes nothing', async () => {
      const store = await fresh();
      const signal = AbortSignal.abort();
      await expectHarnessError(store.append(ns, { role: 'user', content: 'x' }, { signal }), 'aborted');
      await expectHarnessError(store.read(ns, { signal }), 'aborted');
      await expectHarnessError(store.get(ns, 'k', { signal }), 'aborted');
      await expectHarnessError(store.set(ns, 'k', 1, { signal }), 'aborted');
      await expectHarnessError(store.delete(ns, 'k', { signal }), 'aborted');
      await expectHarnessError(store.remember(ns, { id: 'd', text: 'aborted doc' }, { signal }), 'aborted');
      await expectHarnessError(store.recall(ns, 'aborted', { signal }), 'aborted');
      await expectHarnessError(store.ping({ signal }), 'aborted');
      expect(await store.read(ns)).toEqual([]);
      expect(await store.get(ns, 'k')).toBeUndefined();
      expect(await store.recall(ns, 'aborted doc')).toEqual([]);
      // A live signal is fine.
      await store.set(ns, 'k', 1, { signal: new AbortController().signal });
      expect(await store.get(ns, 'k')).toBe(1);
    });

    it('pings while open and rejects calls once closed', async () => {
      const store = await fresh();
      await store.ping();
      await store.close();
      await store.close();
      await expectHarnessError(store.ping(), 'memory_error', 'closed');
      await expectHarnessError(store.read(ns), 'memory_error', 'closed');
      await expectHarnessError(store.set(ns, 'k', 1), 'memory_error', 'closed');
    });

    const vectorExact = options.vectorExact ?? true;
    const rememberVectorCorpus = async (store: MemoryStore, into: MemoryNamespace = ns): Promise<void> => {
      for (const doc of VECTOR_CORPUS) await store.remember(into, doc);
    };
    /** Checks vector hits against the suite's brute force (exactly, or as an approximate index must). */
    const expectVectorHits = (
      hits: RecallHit[],
      query: readonly number[],
      k: number,
      filter?: Record<string, string | number | boolean>,
    ): void => {
      const expected = bruteForce(query, k, filter);
      const truth = new Map(bruteForce(query, 1000, filter).map((hit) => [hit.id, hit.score]));
      for (const hit of hits) {
        const doc = VECTOR_CORPUS.find((d) => d.id === hit.id);
        expect(doc, `hit ${hit.id} is a corpus document`).toBeDefined();
        // Only embedded documents matching the filter are candidates.
        expect(truth.has(hit.id), `hit ${hit.id} is an embedded document matching the filter`).toBe(true);
        expect(Math.abs(hit.score - (truth.get(hit.id) ?? Number.NaN))).toBeLessThan(1e-6);
        expect(hit.text).toBe(doc?.text);
        expect(hit.meta).toEqual(doc?.meta);
        expect(hit).not.toHaveProperty('embedding');
      }
      for (let i = 1; i < hits.length; i++) {
        expect(hits[i - 1]?.score).toBeGreaterThanOrEqual((hits[i]?.score ?? Number.NaN) - 1e-6);
      }
      if (vectorExact) {
        expect(hits.map((hit) => hit.id)).toEqual(expected.map((hit) => hit.id));
        hits.forEach((hit, i) => {
          expect(Math.abs(hit.score - (expected[i]?.score ?? Number.NaN))).toBeLessThan(1e-6);
        });
      } else {
        expect(hits.length).toBeLessThanOrEqual(k);
        const found = expected.slice(0, 10).filter((e) => hits.some((hit) => hit.id === e.id)).length;
        expect(found).toBeGreaterThanOrEqual(Math.ceil(Math.min(10, expected.length) * 0.8));
      }
    };

    it('recalls by cosine similarity like brute force, with filters, only embedded documents', async () => {
      const store = await fresh();
      // A namespace with no embedded document has no vector candidates.
      expect(await store.recall(ns, '', { embedding: VECTOR_QUERIES[0] ?? [] })).toEqual([]);
      await store.remember(ns, { id: 'plain', text: 'no vector here' });
      expect(await store.recall(ns, 'vector', { embedding: VECTOR_QUERIES[0] ?? [] })).toEqual([]);
      await rememberVectorCorpus(store);

      // The corpus has no near-ties in the compared ranks, so an exact backend must match id for id.
      for (const query of VECTOR_QUERIES) {
        const ranked = bruteForce(query, 11);
        for (let i = 1; i < ranked.length; i++) {
          expect((ranked[i - 1]?.score ?? 0) - (ranked[i]?.score ?? 0)).toBeGreaterThan(1e-5);
        }
      }
      for (const query of VECTOR_QUERIES) {
        expectVectorHits(await store.recall(ns, 'ignored text', { embedding: query, k: 10 }), query, 10);
        // Default k is 5, and the query text does not change vector ranking.
        const five = await store.recall(ns, '', { embedding: query });
        expect(five).toHaveLength(5);
        expectVectorHits(five, query, 5);
        expectVectorHits(
          await store.recall(ns, 'zebra', { embedding: query, k: 10, filter: { group: 'b' } }),
          query,
          10,
          { group: 'b' },
        );
        expectVectorHits(
          await store.recall(ns, '', { embedding: query, k: 10, filter: { group: 'a', even: true } }),
          query,
          10,
          { group: 'a', even: true },
        );
      }
      const query = VECTOR_QUERIES[0] ?? [];
      // No score cut-off: every embedded document is a candidate, and only those (45 of 51 documents).
      const all = await store.recall(ns, '', { embedding: query, k: 100 });
      if (vectorExact) expect(all).toHaveLength(45);
      expectVectorHits(all, query, 100);
      expect(all.map((hit) => hit.id)).not.toContain('v07');
      expect(all.map((hit) => hit.id)).not.toContain('plain');
      expect(await store.recall(ns, '', { embedding: query, filter: { group: 'nope' } })).toEqual([]);
      // A document's own vector finds it first, with similarity 1.
      const own = VECTOR_CORPUS[12]?.embedding ?? [];
      const [first] = await store.recall(ns, '', { embedding: own, k: 1 });
      expect(first?.id).toBe('v12');
      expect(first?.score).toBeCloseTo(1, 6);

      // Lexical recall still works on the same namespace, embedded or not.
      expect((await store.recall(ns, 'tag17')).map((hit) => hit.id)).toEqual(['v17']);
      expect((await store.recall(ns, 'tag12')).map((hit) => hit.id)).toEqual(['v12']);
      expect((await store.recall(ns, 'here')).map((hit) => hit.id)).toEqual(['plain']);
      for (const hit of await store.recall(ns, 'alpha', { k: 20 })) expect(hit.score).toBeGreaterThan(0);
      await expectHarnessError(store.recall(ns, '', { embedding: query, k: 0 }), 'memory_error', 'k');
    });

    it('rejects an embedding of another dimension, on remember and on recall, writing nothing', async () => {
      const store = await fresh();
      const sixteen = VECTOR_CORPUS[0]?.embedding ?? [];
      const five = [0.5, -0.25, 0.125, 1, 0.75];
      await store.remember(ns, { id: 'first', text: 'first embedded words', embedding: sixteen });
      await expectHarnessError(
        store.remember(ns, { id: 'second', text: 'second embedded words', embedding: five }),
        'memory_error',
        '16',
        '5',
      );
      expect(await store.recall(ns, 'second')).toEqual([]);
      // Replacing a document with a vector of another length keeps the old one.
      await expectHarnessError(
        store.remember(ns, { id: 'first', text: 'changed words', embedding: five }),
        'memory_error',
        '16',
        '5',
      );
      expect((await store.recall(ns, 'first')).map((hit) => hit.text)).toEqual(['first embedded words']);
      expect(await store.stats(ns)).toEqual({ messages: 0, keys: 0, documents: 1, dimension: 16 });
      await expectHarnessError(store.recall(ns, '', { embedding: five }), 'memory_error', '16', '5');
      expect((await store.recall(ns, '', { embedding: sixteen })).map((hit) => hit.id)).toEqual(['first']);
      // A document without a vector is fine beside embedded ones; other namespaces have their own dimension.
      await store.remember(ns, { id: 'plain', text: 'plain words' });
      const other: MemoryNamespace = { council: 'support', agent: 'other' };
      await store.remember(other, { id: 'small', text: 'small', embedding: five });
      expect((await store.recall(other, '', { embedding: five })).map((hit) => hit.id)).toEqual(['small']);
    });

    it('rejects embeddings that are not finite numbers, writing nothing', async () => {
      const store = await fresh();
      const good = VECTOR_CORPUS[0]?.embedding ?? [];
      const bad: unknown[] = [
        [...good.slice(1), Number.NaN],
        [Number.POSITIVE_INFINITY, ...good.slice(1)],
        [Number.NEGATIVE_INFINITY],
        ['0.5', ...good.slice(1)],
        [],
        new Array(16).fill(0),
        'not a vector',
      ];
      for (const embedding of bad) {
        await expectHarnessError(
          store.remember(ns, {
            id: 'bad',
            text: 'bad vector words',
            embedding: embedding as number[],
          }),
          'memory_error',
          'embedding',
        );
      }
      expect(await store.recall(ns, 'bad vector')).toEqual([]);
      expect(await store.stats(ns)).toEqual({ messages: 0, keys: 0, documents: 0 });
      await store.remember(ns, { id: 'ok', text: 'ok', embedding: good });
      for (const embedding of bad) {
        await expectHarnessError(
          store.recall(ns, '', { embedding: embedding as number[] }),
          'memory_error',
          'embedding',
        );
      }
    });

    /** Writes a small namespace: 3 messages, 2 live keys (one with a TTL) and 1 expired, 3 documents. */
    const populate = async (
      store: MemoryStore,
      into: MemoryNamespace,
    ): Promise<{ expiresBetween: [number, number] }> => {
      const clockBefore = options.advanceClock ? 1000 : 30;
      await store.set(into, 'gone', 'expires soon', { ttlMs: clockBefore });
      if (options.advanceClock) await options.advanceClock(clockBefore);
      else await new Promise((resolve) => setTimeout(resolve, clockBefore * 2));
      const before = await store.append(into, { role: 'system', content: 'be brief' });
      await store.set(into, 'temp', { n: 1 }, { ttlMs: 3_600_000 });
      const after = await store.append(into, { role: 'user', content: 'hello 👋', meta: { channel: 'web' } });
      await store.append(into, { role: 'assistant', content: 'hi' });
      await store.set(into, 'profile', { name: 'Ada', tags: ['x'] });
      await store.remember(into, VECTOR_CORPUS[0] as Parameters<MemoryStore['remember']>[1]);
      await store.remember(into, VECTOR_CORPUS[1] as Parameters<MemoryStore['remember']>[1]);
      await store.remember(into, { id: 'bare', text: 'no meta, no vector' });
      return { expiresBetween: [before.at + 3_600_000, after.at + 3_600_000] };
    };

    it('dumps messages by seq, then live keys, then documents with embeddings, of exactly one namespace', async () => {
      const store = await fresh();
      const exact: MemoryNamespace = { tenant: 'acme', council: 'support', agent: 'triage' };
      const { expiresBetween } = await populate(store, exact);
      // Neighbours that must not leak in: council-wide memory, another agent, another tenant.
      for (const neighbour of [
        { tenant: 'acme', council: 'support' },
        { tenant: 'acme', council: 'support', agent: 'triage2' },
        { council: 'support', agent: 'triage' },
      ]) {
        await store.append(neighbour, { role: 'user', content: 'neighbour' });
        await store.set(neighbour, 'neighbour-key', 1);
        await store.remember(neighbour, { id: 'neighbour-doc', text: 'neighbour', embedding: [1, 2, 3] });
      }
      const records = await collect(store.dump(exact));
      const sorted = normalizeDump(records);
      expect(records).toHaveLength(8);
      expect(records.slice(0, 3)).toStrictEqual(
        (await store.read(exact)).map((message) => ({ kind: 'message', ...message })),
      );
      expect(records[0]).not.toHaveProperty('meta');
      const temp = sorted.find((record) => record.kind === 'kv' && record.key === 'temp');
      expect(temp).toStrictEqual({ kind: 'kv', key: 'temp', value: { n: 1 }, expiresAt: expect.any(Number) });
      const expiresAt = temp?.kind === 'kv' ? (temp.expiresAt ?? 0) : 0;
      expect(expiresAt).toBeGreaterThanOrEqual(expiresBetween[0]);
      expect(expiresAt).toBeLessThanOrEqual(expiresBetween[1]);
      expect(sorted.slice(3)).toStrictEqual([
        { kind: 'kv', key: 'profile', value: { name: 'Ada', tags: ['x'] } },
        temp,
        { kind: 'document', id: 'bare', text: 'no meta, no vector' },
        { kind: 'document', ...VECTOR_CORPUS[0] },
        { kind: 'document', ...VECTOR_CORPUS[1] },
      ]);
      expect(await collect(store.dump({ tenant: 'acme', council: 'nobody' }))).toEqual([]);
    });

    it('stats counts messages, live keys, documents and the dimension of one namespace', async () => {
      const store = await fresh();
      expect(await store.stats(ns)).toStrictEqual({ messages: 0, keys: 0, documents: 0 });
      await populate(store, ns);
      await store.append({ council: 'support' }, { role: 'user', content: 'council-wide' });
      await store.set({ council: 'support', agent: 'x' }, 'other', 1);
      expect(await store.stats(ns)).toStrictEqual({ messages: 3, keys: 2, documents: 3, dimension: 16 });
      expect(await store.stats({ council: 'support' })).toStrictEqual({ messages: 1, keys: 0, documents: 0 });
    });

    it('loads a dump into a fresh namespace as an identical copy', async () => {
      const store = await fresh();
      await populate(store, ns);
      const original = await collect(store.dump(ns));
      const copy: MemoryNamespace = { tenant: 'copy', council: 'support', agent: 'triage' };
      expect(await store.load(copy, original)).toBe(original.length);
      expect(normalizeDump(await collect(store.dump(copy)))).toStrictEqual(normalizeDump(original));
      // From the async iterable `dump` returns, in replace mode, into another fresh namespace.
      const copy2: MemoryNamespace = { tenant: 'copy2', council: 'support' };
      expect(await store.load(copy2, store.dump(ns), { mode: 'replace' })).toBe(original.length);
      expect(normalizeDump(await collect(store.dump(copy2)))).toStrictEqual(normalizeDump(original));
      // What was loaded works like what was written.
      expect((await store.append(copy, { role: 'user', content: 'next' })).seq).toBe(4);
      expect(await store.get(copy, 'profile')).toEqual({ name: 'Ada', tags: ['x'] });
      const embedding = VECTOR_CORPUS[1]?.embedding ?? [];
      expect((await store.recall(copy, '', { embedding, k: 1 }))[0]?.id).toBe('v01');
      expect((await store.recall(copy, 'meta'))[0]?.id).toBe('bare');
      expect(await store.stats(copy2)).toStrictEqual(await store.stats(ns));
    });

    it("load 'replace' empties the namespace and keeps seq and at; 'append' renumbers after what is there", async () => {
      const store = await fresh();
      const records: MemoryRecord[] = [
        { kind: 'message', seq: 10, role: 'user', content: 'ten', at: 1_000 },
        { kind: 'message', seq: 20, role: 'assistant', content: 'twenty', at: 2_000, meta: { k: 'v' } },
        { kind: 'kv', key: 'profile', value: { from: 'load' } },
        { kind: 'kv', key: 'expired', value: 1, expiresAt: 5 },
        { kind: 'document', id: 'doc', text: 'loaded doc words', embedding: [1, 0, 0.5] },
      ];
      await store.append(ns, { role: 'user', content: 'old' });
      await store.set(ns, 'old-key', true);
      await store.remember(ns, { id: 'old-doc', text: 'old doc words', embedding: [0.1, 0.2, 0.3, 0.4] });

      expect(await store.load(ns, records, { mode: 'replace' })).toBe(5);
      expect((await store.read(ns)).map((m) => [m.seq, m.content, m.at])).toEqual([
        [10, 'ten', 1_000],
        [20, 'twenty', 2_000],
      ]);
      expect(await store.get(ns, 'old-key')).toBeUndefined();
      expect(await store.get(ns, 'profile')).toEqual({ from: 'load' });
      expect(await store.get(ns, 'expired')).toBeUndefined();
      expect(await store.recall(ns, 'old')).toEqual([]);
      // The old 4-dimensional documents are gone, so the namespace now holds 3 dimensions.
      expect(await store.stats(ns)).toStrictEqual({ messages: 2, keys: 1, documents: 1, dimension: 3 });
      expect((await store.append(ns, { role: 'user', content: 'next' })).seq).toBe(21);

      const target: MemoryNamespace = { council: 'support', agent: 'append-target' };
      await store.append(target, { role: 'user', content: 'first' });
      await store.append(target, { role: 'user', content: 'second' });
      await store.set(target, 'profile', 'before');
      expect(await store.load(target, records)).toBe(5);
      const messages = await store.read(target);
      expect(messages.map((m) => [m.seq, m.content])).toEqual([
        [1, 'first'],
        [2, 'second'],
        [3, 'ten'],
        [4, 'twenty'],
      ]);
      expect(messages[3]?.meta).toEqual({ k: 'v' });
      expect(await store.get(target, 'profile')).toEqual({ from: 'load' });
      expect((await store.recall(target, 'loaded'))[0]?.id).toBe('doc');
      expect((await store.append(target, { role: 'user', content: 'after' })).seq).toBe(5);
      expect(await store.load(target, [])).toBe(0);
    });

    it('load rejects a bad record naming its index and writes nothing', async () => {
      const store = await fresh();
      await populate(store, ns);
      const before = normalizeDump(await collect(store.dump(ns)));
      const good: MemoryRecord[] = [
        { kind: 'message', seq: 1, role: 'user', content: 'a', at: 1 },
        { kind: 'kv', key: 'new-key', value: 'new' },
        {
          kind: 'document',
          id: 'new-doc',
          text: 'new doc words',
          embedding: VECTOR_CORPUS[5]?.embedding ?? [],
        },
      ];
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bad: [unknown, string][] = [
        [{ kind: 'kv', key: '', value: 1 }, 'key'],
        [{ kind: 'kv', key: 'k', value: 10n }, 'BigInt'],
        [{ kind: 'kv', key: 'k', value: cyclic }, 'cycle'],
        [{ kind: 'message', seq: 2, role: 'robot', content: 'x', at: 1 }, 'role'],
        [{ kind: 'message', seq: 0, role: 'user', content: 'x', at: 1 }, 'seq'],
        [{ kind: 'message', seq: 2, role: 'user', content: 'x' }, 'at'],
        [{ kind: 'document', id: 'd', text: 'x', embedding: [Number.NaN, 1] }, 'embedding'],
        // Another dimension than the records before it, and than the namespace.
        [{ kind: 'document', id: 'd', text: 'x', embedding: [1, 2, 3, 4, 5] }, '5'],
        [{ kind: 'document', text: 'no id' }, 'id'],
        [{ kind: 'nonsense' }, 'kind'],
        [null, 'object'],
      ];
      for (const mode of ['append', 'replace'] as const) {
        for (const [record, problem] of bad) {
          const records = [...good, record, ...good] as MemoryRecord[];
          const error = await expectHarnessError(store.load(ns, records, { mode }), 'memory_error', problem);
          expect(error.message).toMatch(/\brecord 3\b/);
          expect(normalizeDump(await collect(store.dump(ns)))).toStrictEqual(before);
        }
      }
      // In replace mode a seq may appear once (it is kept).
      const twice = [
        ...good,
        { kind: 'message', seq: 1, role: 'user', content: 'again', at: 2 },
      ] as MemoryRecord[];
      const error = await expectHarnessError(
        store.load(ns, twice, { mode: 'replace' }),
        'memory_error',
        'seq',
      );
      expect(error.message).toMatch(/\brecord 3\b/);
      expect(normalizeDump(await collect(store.dump(ns)))).toStrictEqual(before);
      await expectHarnessError(store.load(ns, good, { mode: 'merge' as 'append' }), 'memory_error', 'mode');
      expect(normalizeDump(await collect(store.dump(ns)))).toStrictEqual(before);
    });

    it('gives 100 concurrent appends from one process seqs 1..100 with no gap or duplicate', async () => {
      const store = await fresh();
      const appended = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.append(ns, { role: 'user', content: `c${i}` })),
      );
      expect(appended.map((m) => m.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      const messages = await store.read(ns, { limit: 200 });
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      for (const message of appended) {
        expect(messages[message.seq - 1]?.content).toBe(message.content);
      }
      expect(new Set(messages.map((m) => m.content)).size).toBe(100);
    });

    it('rejects dump, load and stats with an aborted signal, or once closed, and writes nothing', async () => {
      const store = await fresh();
      const signal = AbortSignal.abort();
      await store.set(ns, 'k', 1);
      await expectHarnessError(collect(store.dump(ns, { signal })), 'aborted');
      await expectHarnessError(
        store.load(ns, [{ kind: 'kv', key: 'k', value: 2 }], { signal, mode: 'replace' }),
        'aborted',
      );
      await expectHarnessError(store.stats(ns, { signal }), 'aborted');
      expect(await store.get(ns, 'k')).toBe(1);
      await store.close();
      await expectHarnessError(collect(store.dump(ns)), 'memory_error', 'closed');
      await expectHarnessError(store.load(ns, []), 'memory_error', 'closed');
      await expectHarnessError(store.stats(ns), 'memory_error', 'closed');
    });

    const reopen = options.reopen;
    if (reopen) {
      it('keeps messages, keys and documents across close and reopen', async () => {
        const store = await fresh();
        await store.append(ns, { role: 'user', content: 'one', meta: { a: 1 } });
        await store.append(ns, { role: 'assistant', content: 'two' });
        await store.set(ns, 'profile', { name: 'Ada' });
        await store.set(ns, 'temp', 1, { ttlMs: 60_000 });
        await store.remember(ns, { id: 'doc', text: 'persistent memories survive', meta: { kind: 'note' } });
        await store.remember(ns, VECTOR_CORPUS[3] as Parameters<MemoryStore['remember']>[1]);
        const dumped = await collect(store.dump(ns));
        await store.close();

        const again = await reopen();
        opened.push(again);
        const messages = await again.read(ns);
        expect(messages.map((m) => [m.seq, m.content])).toEqual([
          [1, 'one'],
          [2, 'two'],
        ]);
        expect(messages[0]?.meta).toEqual({ a: 1 });
        expect((await again.append(ns, { role: 'user', content: 'three' })).seq).toBe(3);
        expect(await again.get(ns, 'profile')).toEqual({ name: 'Ada' });
        expect(await again.get(ns, 'temp')).toBe(1);
        expect(await again.recall(ns, 'memories')).toEqual([
          expect.objectContaining({ id: 'doc', text: 'persistent memories survive', meta: { kind: 'note' } }),
        ]);
        const embedding = VECTOR_CORPUS[3]?.embedding ?? [];
        expect((await again.recall(ns, '', { embedding }))[0]).toMatchObject({
          id: 'v03',
          score: expect.any(Number),
        });
        expect(await again.stats(ns)).toMatchObject({ documents: 2, dimension: 16 });
        const reread = await collect(again.dump(ns));
        expect(normalizeDump(reread.filter((r) => r.kind !== 'message'))).toStrictEqual(
          normalizeDump(dumped.filter((r) => r.kind !== 'message')),
        );
      });
    }
  });
}
