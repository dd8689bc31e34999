import { describe, expect, it } from 'vitest';
import { rejection } from '../../test/harness-errors.ts';
import { HarnessError } from '../errors.ts';
import { createInMemoryStore } from './in-memory.ts';
import { type Embedder, Memory, SUMMARY_KEY, type Summarizer } from './memory.ts';
import { createSqliteStore } from './sqlite.ts';
import type { MemoryMessage, MemoryNamespace, MemoryRecord } from './store.ts';

const ns: MemoryNamespace = { council: 'support', agent: 'triage' };

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

// A deterministic "semantic" embedder: words of one concept share an axis, so "feline" finds
// "kitten" although the texts share no word. Every vector has a small baseline, so none is zero.
const AXES: Record<string, number> = { cat: 0, kitten: 0, feline: 0, dog: 1, puppy: 1, car: 2, engine: 2 };
function fakeEmbedder(): { embedder: Embedder; calls: string[][]; signals: (AbortSignal | undefined)[] } {
  const calls: string[][] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const embedder: Embedder = async (texts, options) => {
    calls.push(texts);
    signals.push(options?.signal);
    return texts.map((text) => {
      const vector = [0.01, 0.01, 0.01, 0.01];
      for (const word of text.toLowerCase().split(/\W+/)) {
        const axis = AXES[word];
        if (axis !== undefined) vector[axis] = (vector[axis] ?? 0) + 1;
      }
      return vector;
    });
  };
  return { embedder, calls, signals };
}

describe('Memory with an embedder', () => {
  it('embeds documents and queries, so recall is semantic with no extra code', async () => {
    const fake = fakeEmbedder();
    const memory = new Memory({ store: createInMemoryStore(), embedder: fake.embedder });
    await memory.remember(ns, { id: 'pet', text: 'A kitten sleeps on the sofa' });
    await memory.remember(ns, { id: 'garage', text: 'The engine needs oil' });
    await memory.remember(ns, { id: 'park', text: 'Walk the puppy' });
    expect(fake.calls).toEqual([
      ['A kitten sleeps on the sofa'],
      ['The engine needs oil'],
      ['Walk the puppy'],
    ]);

    const hits = await memory.recall(ns, 'feline', { k: 1 });
    expect(hits.map((hit) => hit.id)).toEqual(['pet']);
    expect(hits[0]?.score).toBeGreaterThan(0.99);
    expect((await memory.recall(ns, 'car trouble')).map((hit) => hit.id)[0]).toBe('garage');
    // The same store without the embedder only matches words.
    expect(await new Memory({ store: createInMemoryStore() }).recall(ns, 'feline')).toEqual([]);

    const records = await collect(memory.dump(ns));
    const pet = records.find(
      (r): r is Extract<MemoryRecord, { kind: 'document' }> => r.kind === 'document' && r.id === 'pet',
    );
    expect(pet?.embedding).toEqual([1.01, 0.01, 0.01, 0.01]);
    expect(await memory.stats(ns)).toEqual({ messages: 0, keys: 0, documents: 3, dimension: 4 });
  });

  it('uses a given embedding as it is, and does not embed a blank query', async () => {
    const fake = fakeEmbedder();
    const memory = new Memory({ store: createInMemoryStore(), embedder: fake.embedder });
    await memory.remember(ns, { id: 'given', text: 'kitten', embedding: [0, 0, 1, 0] });
    expect(fake.calls).toEqual([]);
    expect((await memory.recall(ns, 'kitten', { embedding: [0, 0, 1, 0] }))[0]?.score).toBeCloseTo(1, 9);
    expect(await memory.recall(ns, '   ')).toEqual([]);
    expect(fake.calls).toEqual([]);
    // An embedded query does find it (cosine has no cut-off), just with a low score.
    const [hit] = await memory.recall(ns, 'kitten');
    expect(hit?.id).toBe('given');
    expect(hit?.score).toBeLessThan(0.1);
    expect(fake.calls).toEqual([['kitten']]);
  });

  it('passes the signal down and stops on abort before embedding', async () => {
    const fake = fakeEmbedder();
    const memory = new Memory({ store: createInMemoryStore(), embedder: fake.embedder });
    const controller = new AbortController();
    await memory.remember(ns, { text: 'dog' }, { signal: controller.signal });
    expect(fake.signals).toEqual([controller.signal]);
    const aborted = AbortSignal.abort();
    expect((await rejection(memory.remember(ns, { text: 'cat' }, { signal: aborted }))).code).toBe('aborted');
    expect((await rejection(memory.recall(ns, 'cat', { signal: aborted }))).code).toBe('aborted');
    expect(fake.calls).toHaveLength(1);
  });

  it('turns embedder failures and bad output into errors and writes nothing', async () => {
    const store = createInMemoryStore();
    const failing = new Memory({
      store,
      embedder: async () => {
        throw new Error('model offline');
      },
    });
    const failed = await rejection(failing.remember(ns, { id: 'x', text: 'dog' }));
    expect(failed.code).toBe('memory_error');
    expect(failed.message).toContain('embedder failed: model offline');
    const typed = new Memory({
      store,
      embedder: async () => {
        throw new HarnessError('provider_error', 'rate limited', { isRetryable: true });
      },
    });
    const passed = await rejection(typed.recall(ns, 'dog'));
    expect([passed.code, passed.isRetryable]).toEqual(['provider_error', true]);
    const two = new Memory({ store, embedder: async () => [[1], [2]] });
    expect((await rejection(two.remember(ns, { id: 'x', text: 'dog' }))).message).toContain(
      '2 vectors for 1 text',
    );
    const nan = new Memory({ store, embedder: async () => [[Number.NaN, 1]] });
    expect((await rejection(nan.remember(ns, { id: 'x', text: 'dog' }))).message).toContain('NaN at index 0');
    expect(await store.stats(ns)).toEqual({ messages: 0, keys: 0, documents: 0 });
    expect(() => new Memory({ embedder: 'nope' as unknown as Embedder })).toThrow(
      /embedder must be a function/,
    );
  });
});

/** A summariser that writes `[previous] + seqs` and records what it was given. */
function fakeSummarizer(fail: (call: number) => boolean = () => false) {
  const calls: { seqs: number[]; previous: string | undefined }[] = [];
  const summarize: Summarizer = async (messages, previous) => {
    calls.push({ seqs: messages.map((m) => m.seq), previous });
    if (fail(calls.length)) throw new Error(`summary ${calls.length} failed`);
    return `${previous === undefined ? '' : `${previous}|`}${messages.map((m) => m.content).join(',')}`;
  };
  return { summarize, calls };
}

const say = (memory: Memory, content: string, into: MemoryNamespace = ns): Promise<MemoryMessage> =>
  memory.append(into, { role: 'user', content });

describe('Memory with summarize', () => {
  it('summarises every n appends with the previous summary, and context shows summary + the rest', async () => {
    const fake = fakeSummarizer();
    const memory = new Memory({
      store: createInMemoryStore(),
      summarize: { every: 3, summarize: fake.summarize },
    });
    for (let i = 1; i <= 7; i++) await say(memory, `m${i}`);
    expect(fake.calls).toEqual([
      { seqs: [1, 2, 3], previous: undefined },
      { seqs: [4, 5, 6], previous: 'm1,m2,m3' },
    ]);
    expect(await memory.get(ns, SUMMARY_KEY)).toEqual({ text: 'm1,m2,m3|m4,m5,m6', uptoSeq: 6 });
    const context = await memory.context(ns);
    expect(context.summary).toBe('m1,m2,m3|m4,m5,m6');
    expect(context.messages.map((m) => m.content)).toEqual(['m7']);
    expect((await memory.context(ns, { limit: 0 })).messages).toEqual([]);
    expect((await rejection(memory.context(ns, { limit: -1 }))).message).toContain('limit');
    // Another namespace has its own summary.
    const other = { council: 'other' };
    await say(memory, 'x', other);
    expect(await memory.context(other)).toEqual({ messages: [expect.objectContaining({ content: 'x' })] });
  });

  it('keeps the latest `keep` messages out of the summary', async () => {
    const fake = fakeSummarizer();
    const memory = new Memory({
      store: createInMemoryStore(),
      summarize: { every: 4, keep: 2, summarize: fake.summarize },
    });
    for (let i = 1; i <= 9; i++) await say(memory, `m${i}`);
    expect(fake.calls.map((call) => call.seqs)).toEqual([
      [1, 2],
      [3, 4, 5, 6],
    ]);
    const context = await memory.context(ns, { limit: 2 });
    expect(context.summary).toBe('m1,m2|m3,m4,m5,m6');
    expect(context.messages.map((m) => m.seq)).toEqual([8, 9]);
    expect((await memory.context(ns)).messages.map((m) => m.seq)).toEqual([7, 8, 9]);
  });

  it('does not fail the append when the hook fails; keeps the error and retries on the next append', async () => {
    const fake = fakeSummarizer((call) => call === 1);
    const memory = new Memory({
      store: createInMemoryStore(),
      summarize: { every: 3, summarize: fake.summarize },
    });
    for (let i = 1; i <= 3; i++) await say(memory, `m${i}`);
    expect(fake.calls).toHaveLength(1);
    expect(String(memory.summaryError(ns))).toContain('summary 1 failed');
    expect(await memory.context(ns)).toEqual({ messages: expect.any(Array) });
    expect((await say(memory, 'm4')).seq).toBe(4);
    expect(fake.calls[1]).toEqual({ seqs: [1, 2, 3, 4], previous: undefined });
    expect(memory.summaryError(ns)).toBeUndefined();
    await say(memory, 'm5');
    expect(fake.calls).toHaveLength(2);
    await say(memory, 'm6');
    expect(fake.calls[2]).toEqual({ seqs: [5, 6], previous: 'm1,m2,m3,m4' });
  });

  it('keeps a non-string result as the error, and runs summaries of one namespace one at a time', async () => {
    const bad = new Memory({
      store: createInMemoryStore(),
      summarize: { every: 1, summarize: async () => 42 as unknown as string },
    });
    await say(bad, 'x');
    expect(String(bad.summaryError(ns))).toContain('returned number');

    const fake = fakeSummarizer();
    let running = 0;
    let most = 0;
    const memory = new Memory({
      store: createInMemoryStore(),
      summarize: {
        every: 2,
        summarize: async (messages, previous, options) => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
          return fake.summarize(messages, previous, options);
        },
      },
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => say(memory, `m${i + 1}`)));
    expect(most).toBe(1);
    // The summarised ranges follow each other with no gap and no overlap, up to seq 10.
    expect(fake.calls.flatMap((call) => call.seqs)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(await memory.get(ns, SUMMARY_KEY)).toMatchObject({ uptoSeq: 10 });
  });

  it('validates its options, and context works without summarize', async () => {
    const summarize = fakeSummarizer().summarize;
    expect(() => new Memory({ summarize: { every: 0, summarize } })).toThrow(/every must be a whole number/);
    expect(() => new Memory({ summarize: { every: 2, keep: -1, summarize } })).toThrow(/keep/);
    expect(() => new Memory({ summarize: { every: 2 } as never })).toThrow(/summarize.summarize/);
    const plain = new Memory();
    await say(plain, 'hello');
    expect(await plain.context(ns)).toEqual({
      messages: [expect.objectContaining({ seq: 1, content: 'hello' })],
    });
    await plain.close();
  });

  it('works over SQLite with an embedder too', async () => {
    const fake = fakeSummarizer();
    const memory = new Memory({
      store: createSqliteStore('sqlite://:memory:'),
      embedder: fakeEmbedder().embedder,
      summarize: { every: 2, summarize: fake.summarize },
    });
    await say(memory, 'a');
    await say(memory, 'b');
    await say(memory, 'c');
    expect(await memory.context(ns)).toEqual({
      summary: 'a,b',
      messages: [expect.objectContaining({ seq: 3, content: 'c' })],
    });
    await memory.remember(ns, { id: 'pet', text: 'kitten' });
    expect((await memory.recall(ns, 'cat'))[0]?.id).toBe('pet');
    await memory.close();
  });
});
