import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/harness-errors.ts';
import { HarnessError } from '../errors.ts';
import { POSTGRES_APPLICATION_NAME, postgresError, postgresTargetFromUrl } from './postgres.ts';

describe('postgresTargetFromUrl', () => {
  it('reads user, host, port, database and schema, and keeps other parameters for pg', () => {
    const target = postgresTargetFromUrl(
      'postgres://ada:s3cret@db.example:6543/app?schema=forge&sslmode=require',
    );
    expect(target).toMatchObject({
      host: 'db.example',
      port: 6543,
      database: 'app',
      user: 'ada',
      schema: 'forge',
      label: 'PostgreSQL db.example:6543/app',
    });
    const pgUrl = new URL(target.connectionString);
    expect(pgUrl.searchParams.get('schema')).toBeNull();
    expect(pgUrl.searchParams.get('sslmode')).toBe('require');
    expect(pgUrl.searchParams.get('application_name')).toBe(POSTGRES_APPLICATION_NAME);
    expect(pgUrl.password).toBe('s3cret');
  });

  it('defaults the port to 5432, the database to the user, and keeps a given application_name', () => {
    expect(postgresTargetFromUrl('postgresql://postgres@127.0.0.1')).toMatchObject({
      port: 5432,
      database: 'postgres',
      schema: undefined,
      label: 'PostgreSQL 127.0.0.1:5432/postgres',
    });
    const named = postgresTargetFromUrl('postgres://u@h/d?application_name=mine');
    expect(new URL(named.connectionString).searchParams.get('application_name')).toBe('mine');
    expect(postgresTargetFromUrl('postgres://u@[::1]:5433/d').label).toBe('PostgreSQL [::1]:5433/d');
    expect(postgresTargetFromUrl('postgres://u@h/my%20db').database).toBe('my db');
  });

  it('rejects bad URLs with an example and without the password', () => {
    for (const [url, part] of [
      ['postgres://u:pw1@h:99999/d', 'parse'],
      ['mysql://u:pw1@h/d', 'postgres://'],
      ['postgres://u:pw1@h/a/b', '"a/b"'],
      ['postgres://u:pw1@h/d?schema=', 'schema'],
      [`postgres://u:pw1@h/d?schema=${'s'.repeat(64)}`, '63'],
      ['postgres://u:pw1@h/%zz', 'percent'],
    ] as const) {
      const error = thrown(() => postgresTargetFromUrl(url));
      expect(error.code).toBe('memory_error');
      expect(error.message).toContain(part);
      expect(error.message).not.toContain('pw1');
      expect(error.hint).toContain('postgres://user:password@127.0.0.1:5432/app');
    }
  });
});

describe('postgresError', () => {
  const target = { label: 'PostgreSQL h:5432/app', host: 'h', port: 5432, database: 'app', user: 'ada' };
  const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

  it('makes unreachable and dropped connections retryable, naming host:port', () => {
    for (const cause of [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      Object.assign(new AggregateError([new Error('a'), new Error('b')], ''), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('connection failure', '08006'),
    ]) {
      const error = postgresError(cause, target);
      expect(error.code).toBe('memory_error');
      expect(error.isRetryable).toBe(true);
      expect(error.message).toContain('h:5432');
      expect(error.message).toContain('PostgreSQL h:5432/app');
      expect(error.cause).toBe(cause);
    }
  });

  it('names the fix for errors a retry will not cure', () => {
    const missing = postgresError(withCode('database "app" does not exist', '3D000'), target);
    expect(missing.isRetryable).toBe(false);
    expect(missing.hint).toContain('createdb -h h -p 5432 app');
    expect(postgresError(withCode('password authentication failed', '28P01'), target).hint).toContain(
      'password',
    );
    expect(postgresError(withCode('permission denied for database app', '42501'), target).hint).toContain(
      'CREATE',
    );
    expect(
      postgresError(withCode('invalid byte sequence for encoding "UTF8": 0x00', '22021'), target).message,
    ).toContain('U+0000');
    const other = postgresError(withCode('syntax error', '42601'), target);
    expect(other.isRetryable).toBe(false);
    expect(other.details).toMatchObject({ code: '42601', host: 'h', port: 5432, database: 'app' });
    const kept = new HarnessError('aborted', 'the operation was aborted');
    expect(postgresError(kept, target)).toBe(kept);
  });
});
