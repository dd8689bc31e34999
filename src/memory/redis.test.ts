import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import { parseRedisUrl, redisNamespaceKeys } from './redis.ts';
import { resolveNamespace } from './validation.ts';

describe('parseRedisUrl', () => {
  it('reads host, port, database, credentials, TLS and keyPrefix', () => {
    expect(parseRedisUrl('redis://cache')).toEqual({
      host: 'cache',
      port: 6379,
      db: 0,
      tls: false,
      address: 'cache:6379',
    });
    expect(
      parseRedisUrl(' rediss://ops:p%40ss%20word@cache.internal:6380/2?keyPrefix=app%3Amem%3A '),
    ).toEqual({
      host: 'cache.internal',
      port: 6380,
      db: 2,
      username: 'ops',
      password: 'p@ss word',
      tls: true,
      keyPrefix: 'app:mem:',
      address: 'cache.internal:6380',
    });
    expect(parseRedisUrl('redis://:secret@[::1]:7000/')).toEqual({
      host: '::1',
      port: 7000,
      db: 0,
      password: 'secret',
      tls: false,
      address: '[::1]:7000',
    });
  });

  it('names the problem and an example, never the password', () => {
    const cases: [string, string][] = [
      ['redis://:topsecret@host/db1', '"/db1"'],
      ['redis://:topsecret@host?timeout=5', '"timeout"'],
      ['redis://:topsecret@host#x', 'fragment'],
      ['memcached://:topsecret@host', 'not a redis://'],
      ['redis://:topsecret@host:0', 'port 0'],
      ['redis://:%E0%A4%A@host', 'percent-escape in its password'],
      ['not a url', 'does not parse'],
    ];
    for (const [url, problem] of cases) {
      const error = thrown(() => parseRedisUrl(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(problem);
      expect(error.hint).toContain('redis://[:password@]host[:port][/db]');
      expect(JSON.stringify(error.toJSON())).not.toContain('topsecret');
    }
  });
});

describe('redisNamespaceKeys', () => {
  it('puts every key of a namespace under one hash tag and escapes the parts', () => {
    const keys = redisNamespaceKeys('forge:mem:', resolveNamespace({ council: 'support', agent: 'triage' }));
    expect(keys).toEqual({
      base: 'forge:mem:{default:support:triage}:',
      seq: 'forge:mem:{default:support:triage}:seq',
      msgs: 'forge:mem:{default:support:triage}:msgs',
      kv: 'forge:mem:{default:support:triage}:kv',
      kvPrefix: 'forge:mem:{default:support:triage}:kv:',
      docs: 'forge:mem:{default:support:triage}:docs',
      emb: 'forge:mem:{default:support:triage}:emb',
      dim: 'forge:mem:{default:support:triage}:dim',
    });
    const base = (tenant: string, council: string, agent?: string): string =>
      redisNamespaceKeys(
        'p:',
        resolveNamespace({ tenant, council, ...(agent === undefined ? {} : { agent }) }),
      ).base;
    // Council-wide memory is its own namespace, and ':' inside a part cannot shift the boundaries.
    expect(base('t', 'c')).toBe('p:{t:c:}:');
    expect(base('a:b', 'c')).not.toBe(base('a', 'b:c'));
    expect(base('{x}', '100%')).toBe('p:{%7Bx%7D:100%25:}:');
    expect(base('テナント', '🤖')).toBe('p:{テナント:🤖:}:');
  });
});
