/**
 * Gate for integration tests that need a real server on this machine (Redis 127.0.0.1:6379,
 * PostgreSQL 127.0.0.1:5432). In CI a missing server is a failure: the suite would otherwise pass
 * without having tested anything. On a laptop without the server the tests are left out with a
 * printed notice, so `vitest run` still works.
 *
 * @example
 * const runRedis = await requireServer('redis', () => pingRedis('redis://127.0.0.1:6379'));
 * if (runRedis) describeMemoryConformance('redis', open);
 */

/** The servers integration tests may need. */
export type ServerName = 'redis' | 'postgres' | 'redis-server';

const WHERE: Record<ServerName, string> = {
  redis: 'Redis on 127.0.0.1:6379 (e.g. `redis-server --port 6379`)',
  postgres: 'PostgreSQL on 127.0.0.1:5432 (user postgres, database test, trust auth)',
  'redis-server': 'the redis-server program on PATH (Debian package redis-server), for private instances',
};

/**
 * Probes a server and says whether its tests should run.
 *
 * @param probe resolves when the server answers; rejects (or takes longer than `timeoutMs`) when not.
 * @param timeoutMs how long the probe may take, in milliseconds; default 5000.
 * @returns true when the server answered; false (after a `console.warn` naming the server and why)
 * when it did not and `process.env.CI` is unset.
 * @throws Error naming the server and the probe's failure when it did not answer and `CI` is set.
 */
export async function requireServer(
  name: ServerName,
  probe: () => Promise<void>,
  timeoutMs = 5000,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        // Not unref'd: a probe that hangs must still end in a verdict, not a silent exit.
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (isCi()) {
      throw new Error(
        `${name} tests need ${WHERE[name]}, which did not answer: ${reason}. In CI a missing server fails the run; start it.`,
        { cause: error },
      );
    }
    console.warn(`skipping ${name} suite: ${WHERE[name]} did not answer (${reason}); in CI this fails`);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}
