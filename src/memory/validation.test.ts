import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { resolveNamespace, toJsonText } from './validation.ts';

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
