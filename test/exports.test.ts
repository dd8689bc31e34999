// Every subpath export resolves and offers its entry points (the package.json `exports` map is API).
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

describe('package exports', () => {
  it('every subpath resolves to its module', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const expected: Record<string, string> = {
      '.': 'Harness',
      './testing': 'FakeProviderServer',
      './config': 'parseConfig',
      './memory': 'Memory',
      './memory/redis': 'createRedisStore',
      './memory/postgres': 'createPostgresStore',
      './memory/pglite': 'createPgliteStore',
      './memory/lmdb': 'createLmdbStore',
      './health': 'HealthMonitor',
    };
    const subpaths = Object.keys(pkg.exports).filter((s) => s !== './package.json');
    expect(subpaths.sort()).toEqual(Object.keys(expected).sort());
    for (const [subpath, name] of Object.entries(expected)) {
      const module = (await import(`forge-harness${subpath.slice(1)}`)) as Record<string, unknown>;
      expect(typeof module[name], `${subpath} exports ${name}`).toBe('function');
    }
  });
});
