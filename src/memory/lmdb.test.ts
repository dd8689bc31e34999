import { resolve } from 'node:path';
import fc from 'fast-check';
import { compareKeys, type Key } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { rejection, thrown } from '../../test/harness-errors.ts';
import { lmdbKeyPart, lmdbPathFromUrl, loadDriver } from './lmdb.ts';

describe('lmdbPathFromUrl', () => {
  it('resolves relative and absolute directories and decodes percent-escapes', () => {
    expect(lmdbPathFromUrl('lmdb://data/memory')).toBe(resolve(process.cwd(), 'data/memory'));
    expect(lmdbPathFromUrl('lmdb://./data')).toBe(resolve(process.cwd(), 'data'));
    expect(lmdbPathFromUrl('lmdb:///var/lib/forge')).toBe('/var/lib/forge');
    expect(lmdbPathFromUrl('LMDB:///tmp/my%20dir')).toBe('/tmp/my dir');
    expect(lmdbPathFromUrl('  lmdb:///tmp/x  ')).toBe('/tmp/x');
  });

  it('rejects other schemes, no path, queries and bad escapes with an example', () => {
    for (const [url, part] of [
      ['sqlite:///tmp/x.db', 'not an lmdb:// URL'],
      ['lmdb://', 'names no directory'],
      ['lmdb:///tmp/x?mapSize=1', 'query'],
      ['lmdb:///tmp/x#frag', 'query'],
      ['lmdb:///tmp/%E0%A4%A', 'percent-escape'],
    ] as const) {
      const error = thrown(() => lmdbPathFromUrl(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(part);
      expect(error.hint).toContain('lmdb:///var/lib/forge/memory');
    }
  });
});

describe('lmdbKeyPart', () => {
  it('escapes NUL and the escape character, and hashes long strings', () => {
    expect(lmdbKeyPart('plain')).toBe('plain');
    expect(lmdbKeyPart('')).toBe('');
    expect(lmdbKeyPart('a\u0000b')).toBe('a\u0001\u0001b');
    expect(lmdbKeyPart('a\u0001b')).toBe('a\u0001\u0002b');
    const long = lmdbKeyPart('é'.repeat(200));
    expect(long.startsWith('\u0001\u0003')).toBe(true);
    expect(long).toHaveLength(2 + 43);
    // 256 UTF-8 bytes stay readable; one more is hashed.
    expect(lmdbKeyPart('a'.repeat(256))).toBe('a'.repeat(256));
    expect(lmdbKeyPart('a'.repeat(257)).startsWith('\u0001\u0003')).toBe(true);
  });

  it('is injective and never yields NUL, so namespace ranges never overlap (property)', () => {
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'b', '\u0000', '\u0001', '\u0002', '\u0003', 'é') }),
      fc.string({ unit: 'grapheme', maxLength: 300 }),
      fc.string({ minLength: 250, maxLength: 300 }),
    );
    const HIGH = new Uint8Array([0xff]);
    fc.assert(
      fc.property(fc.tuple(text, text, text), fc.tuple(text, text, text), fc.double(), (a, b, seq) => {
        const pa = a.map(lmdbKeyPart);
        const pb = b.map(lmdbKeyPart);
        for (const part of [...pa, ...pb]) expect(part).not.toContain('\u0000');
        const same = a.every((value, i) => value === b[i]);
        expect(pa.every((value, i) => value === pb[i])).toBe(same);
        // An entry of namespace a (a message key) falls in namespace b's range only when a is b.
        const entry: Key = ['m', ...pa, Number.isNaN(seq) ? 1 : seq];
        const start: Key = ['m', ...pb];
        const end: Key = ['m', ...pb, HIGH];
        const inside = compareKeys(entry, start) > 0 && compareKeys(entry, end) < 0;
        expect(inside).toBe(same);
      }),
      { seed: 20261126, numRuns: 2000 },
    );
  });
});

describe('loadDriver', () => {
  it('says which package to install when lmdb is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'lmdb'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const error = await rejection(loadDriver(() => Promise.reject(missing)));
    expect(error.code).toBe('memory_error');
    expect(error.message).toBe('install lmdb to use lmdb:// URLs');
    expect(error.hint).toContain('npm install lmdb');
    expect(error.cause).toBe(missing);
  });

  it('reports a driver that fails to load or exports no open()', async () => {
    const broken = await rejection(loadDriver(() => Promise.reject(new Error('invalid ELF header'))));
    expect(broken.message).toContain('invalid ELF header');
    expect(broken.hint).toContain('prebuilt binary');
    const empty = await rejection(loadDriver(async () => ({})));
    expect(empty.message).toContain('no open()');
  });

  it('finds open() on the real package and on a default export', async () => {
    expect(typeof (await loadDriver())).toBe('function');
    const open = (): void => undefined;
    expect(await loadDriver(async () => ({ default: { open } }))).toBe(open);
  });
});
