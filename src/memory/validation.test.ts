import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import type { MemoryRecord } from './store.ts';
import { checkLoadMode, prepareLoad, resolveNamespace, toJsonText } from './validation.ts';

function problemOf(value: unknown): HarnessError {
  try {
    toJsonText(value, 'value of memory key "k"');
  } catch (error) {
    if (HarnessError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected toJsonText to throw');
}

describe('toJsonText', () => {
  it('accepts JSON data, shared (non-cyclic) references and null-prototype objects', () => {
    const shared = { x: 1 };
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    expect(toJsonText({ a: shared, b: shared, bare }, 'v')).toBe('{"a":{"x":1},"b":{"x":1},"bare":{"a":1}}');
    expect(toJsonText({ kept: 1, dropped: undefined }, 'v')).toBe('{"kept":1}');
    expect(toJsonText(new Date(0), 'v')).toBe('"1970-01-01T00:00:00.000Z"');
  });

  it('names the key, the JSON pointer and the problem', () => {
    const error = problemOf({ 'a/b': [{ '~c': () => 1 }] });
    expect(error.code).toBe('memory_error');
    expect(error.message).toBe(
      'value of memory key "k" is not JSON-serialisable at /a~1b/0/~0c: a function is not JSON',
    );
    expect(error.details).toEqual({ pointer: '/a~1b/0/~0c', problem: 'a function is not JSON' });
    expect(error.hint).toContain('nothing was written');
  });

  it('rejects class instances, Sets, non-finite numbers and toJSON results that are not JSON', () => {
    class Point {
      x = 1;
    }
    expect(problemOf(new Point()).message).toContain('a Point is not plain JSON data');
    expect(problemOf({ s: new Set([1]) }).message).toContain('/s: a Set');
    expect(problemOf([Number.POSITIVE_INFINITY]).message).toContain('/0: Infinity');
    expect(problemOf({ bad: { toJSON: () => 1n } }).message).toContain('/bad: BigInt');
  });
});

describe('resolveNamespace', () => {
  it('defaults the tenant and marks council-wide memory with an empty agent', () => {
    expect(resolveNamespace({ council: 'c' })).toEqual({ tenant: 'default', council: 'c', agent: '' });
    expect(resolveNamespace({ tenant: 't', council: 'c', agent: 'a' })).toEqual({
      tenant: 't',
      council: 'c',
      agent: 'a',
    });
  });

  it('rejects a missing council', () => {
    expect(() => resolveNamespace({} as { council: string })).toThrow(/council must be a non-empty string/);
  });
});

async function loadError(
  records: unknown[] | AsyncIterable<unknown>,
  options: Parameters<typeof prepareLoad>[1] = { mode: 'append' },
): Promise<HarnessError> {
  const error: unknown = await prepareLoad(records as MemoryRecord[], options).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!HarnessError.isInstance(error)) throw new Error(`expected a HarnessError, got ${String(error)}`);
  return error;
}

describe('prepareLoad', () => {
  const message = { kind: 'message', seq: 1, role: 'user', content: 'hi', at: 5 } as const;

  it('serialises JSON, keeps the order and reports the records dimension', async () => {
    async function* records(): AsyncGenerator<MemoryRecord> {
      yield { ...message, meta: { a: 1 } };
      yield { kind: 'kv', key: 'k', value: { b: [1] }, expiresAt: 99 };
      yield { kind: 'kv', key: 'null', value: null };
      yield { kind: 'document', id: 'd', text: 't', embedding: [1, 2] };
      yield { kind: 'document', id: 'e', text: 'u' };
    }
    expect(await prepareLoad(records(), { mode: 'append' })).toEqual({
      records: [
        { kind: 'message', seq: 1, role: 'user', content: 'hi', at: 5, meta: '{"a":1}' },
        { kind: 'kv', key: 'k', value: '{"b":[1]}', expiresAt: 99 },
        { kind: 'kv', key: 'null', value: 'null', expiresAt: undefined },
        { kind: 'document', id: 'd', text: 't', meta: undefined, embedding: [1, 2] },
        { kind: 'document', id: 'e', text: 'u', meta: undefined, embedding: undefined },
      ],
      dimension: 2,
    });
    expect(await prepareLoad([], { mode: 'replace', dimension: 7 })).toEqual({
      records: [],
      dimension: undefined,
    });
  });

  it('names the index of a bad record in the message and details', async () => {
    const error = await loadError([message, message, { kind: 'kv', key: 'k' }]);
    expect(error.code).toBe('memory_error');
    expect(error.message).toBe('load record 2: memory key "k" has no value');
    expect(error.details.index).toBe(2);
    expect(error.hint).toContain('nothing was written');
    const json = await loadError([{ kind: 'kv', key: 'k', value: { n: 1n } }]);
    expect(json.message).toContain('load record 0: value of memory key "k" is not JSON-serialisable at /n');
    expect(json.details).toMatchObject({ index: 0, pointer: '/n' });
    expect((await loadError([message, 'text'])).message).toContain('load record 1: must be an object');
    expect((await loadError([{ ...message, meta: [1] }])).message).toContain(
      'message meta must be a plain object',
    );
  });

  it('checks one dimension across the records, and against the namespace in append mode only', async () => {
    const doc = (id: string, embedding: number[]) => ({ kind: 'document', id, text: id, embedding });
    const across = await loadError([doc('a', [1, 2]), doc('b', [1, 2, 3])]);
    expect(across.message).toContain('load record 1: embedding of memory document "b" has 3 dimensions');
    const namespace = await loadError([doc('a', [1, 2])], { mode: 'append', dimension: 4 });
    expect(namespace.message).toContain('load record 0');
    expect(namespace.message).toContain('4-dimensional');
    expect(
      (await prepareLoad([doc('a', [1, 2])] as MemoryRecord[], { mode: 'replace', dimension: 4 })).dimension,
    ).toBe(2);
  });

  it('allows a seq once in replace mode, any number of times in append mode', async () => {
    const twice = [message, { ...message, content: 'again' }];
    expect((await loadError(twice, { mode: 'replace' })).message).toBe(
      'load record 1: message seq 1 appears twice',
    );
    expect((await prepareLoad(twice as MemoryRecord[], { mode: 'append' })).records).toHaveLength(2);
  });

  it('rejects something that is not iterable, and stops when aborted', async () => {
    expect((await loadError(42 as unknown as unknown[])).message).toContain('iterable');
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<MemoryRecord> {
      yield message;
      controller.abort();
      yield message;
    }
    expect((await loadError(slow(), { mode: 'append', signal: controller.signal })).code).toBe('aborted');
  });

  it('checks the mode', () => {
    expect(checkLoadMode(undefined)).toBe('append');
    expect(checkLoadMode('replace')).toBe('replace');
    expect(() => checkLoadMode('merge')).toThrow(/'append' or 'replace'/);
  });
});
