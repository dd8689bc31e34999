/**
 * The MemoryStore conformance suite: every backend (in-memory, SQLite, and later Redis, Postgres,
 * LMDB) runs it from its own test file, so they all behave the same behind the contract.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { HarnessError, type HarnessErrorCode } from '../src/errors.ts';
import type { MemoryNamespace, MemoryStore } from '../src/memory/index.ts';

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

    const reopen = options.reopen;
    if (reopen) {
      it('keeps messages, keys and documents across close and reopen', async () => {
        const store = await fresh();
        await store.append(ns, { role: 'user', content: 'one', meta: { a: 1 } });
        await store.append(ns, { role: 'assistant', content: 'two' });
        await store.set(ns, 'profile', { name: 'Ada' });
        await store.set(ns, 'temp', 1, { ttlMs: 60_000 });
        await store.remember(ns, { id: 'doc', text: 'persistent memories survive', meta: { kind: 'note' } });
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
      });
    }
  });
}
