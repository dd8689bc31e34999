import { describe, expect, it } from 'vitest';
import { canonicalJson, SkillCache, skillCacheKey } from './cache.ts';

describe('canonicalJson', () => {
  it('sorts keys at every level and follows JSON otherwise', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ a: undefined, b: () => 1, c: Number.NaN })).toBe('{"c":null}');
    expect(canonicalJson([undefined, new Date(0)])).toBe('[null,"1970-01-01T00:00:00.000Z"]');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('refuses cycles and bigints', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
    // The same object twice (not a cycle) is fine.
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"x":1},{"x":1}]');
  });
});

describe('skillCacheKey', () => {
  it('depends on the input (not its key order), the name and the version', () => {
    const key = skillCacheKey('Lookup', '1.0.0', { a: 1, b: 2 });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(skillCacheKey('Lookup', '1.0.0', { b: 2, a: 1 })).toBe(key);
    expect(skillCacheKey('Lookup', '1.0.1', { a: 1, b: 2 })).not.toBe(key);
    expect(skillCacheKey('Other', '1.0.0', { a: 1, b: 2 })).not.toBe(key);
    expect(skillCacheKey('Lookup', '1.0.0', { a: 1, b: 3 })).not.toBe(key);
  });

  it('is undefined for an input that is not JSON, which then runs uncached', async () => {
    expect(skillCacheKey('Lookup', '1.0.0', { n: 1n })).toBeUndefined();
    const cache = new SkillCache({ size: 5 });
    let runs = 0;
    const skill = { name: 'Lookup', version: '1.0.0' };
    const execute = async () => ++runs;
    await cache.run(skill, { n: 1n }, undefined, execute);
    await cache.run(skill, { n: 1n }, undefined, execute);
    expect(runs).toBe(2);
    expect(cache.stats()).toEqual({ hits: 0, misses: 0, size: 0, evictions: 0 });
  });
});

describe('SkillCache', () => {
  it('defaults to 500 results for 60 s and clears with its counters', async () => {
    const cache = new SkillCache();
    expect([cache.size, cache.ttlMs]).toEqual([500, 60_000]);
    const skill = { name: 'S', version: '1' };
    await cache.run(skill, {}, undefined, async () => 1);
    await cache.run(skill, {}, undefined, async () => 2);
    expect(cache.stats()).toEqual({ hits: 1, misses: 1, size: 1, evictions: 0 });
    cache.clear();
    expect(cache.stats()).toEqual({ hits: 0, misses: 0, size: 0, evictions: 0 });
  });

  it('caches a result of undefined too', async () => {
    const cache = new SkillCache({ size: 5 });
    let runs = 0;
    const skill = { name: 'S', version: '1' };
    const execute = async () => {
      runs++;
      return undefined;
    };
    expect(await cache.run(skill, { a: 1 }, undefined, execute)).toBeUndefined();
    expect(await cache.run(skill, { a: 1 }, undefined, execute)).toBeUndefined();
    expect(runs).toBe(1);
  });

  it('rejects limits that make no sense, naming the option', () => {
    expect(() => new SkillCache({ size: 0 }, 'Skill(X).cache')).toThrow(
      expect.objectContaining({ code: 'config_invalid', location: { path: 'Skill(X).cache.size' } }),
    );
    expect(() => new SkillCache({ size: 1.5 })).toThrow(expect.objectContaining({ code: 'config_invalid' }));
    expect(() => new SkillCache({ ttlMs: -1 }, 'c')).toThrow(
      expect.objectContaining({ code: 'config_invalid', location: { path: 'c.ttlMs' } }),
    );
    expect(new SkillCache({ ttlMs: 0 }).ttlMs).toBe(0);
  });
});
