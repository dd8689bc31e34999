import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import { pgliteTargetFromUrl } from './pglite.ts';

describe('pgliteTargetFromUrl', () => {
  it('resolves relative, absolute and :memory: URLs, with an optional schema', () => {
    expect(pgliteTargetFromUrl('pglite://data/memory')).toEqual({
      path: resolve(process.cwd(), 'data/memory'),
      schema: undefined,
    });
    expect(pgliteTargetFromUrl('pglite:///var/lib/forge/mem?schema=agents')).toEqual({
      path: '/var/lib/forge/mem',
      schema: 'agents',
    });
    expect(pgliteTargetFromUrl('pglite:///tmp/my%20dir')).toEqual({ path: '/tmp/my dir', schema: undefined });
    expect(pgliteTargetFromUrl('pglite://:memory:')).toEqual({ path: ':memory:', schema: undefined });
  });

  it('rejects URLs it cannot use, with examples', () => {
    for (const [url, part] of [
      ['pglite://', 'no directory'],
      ['sqlite://a.db', 'not a pglite://'],
      ['pglite://a?mode=ro', '"mode"'],
      ['pglite://a?schema=', 'schema'],
      ['pglite://a#x', 'fragment'],
      ['pglite://%zz', 'percent'],
    ] as const) {
      const error = thrown(() => pgliteTargetFromUrl(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(part);
      expect(error.hint).toContain('pglite://:memory:');
    }
  });
});
