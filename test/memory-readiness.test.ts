// Issue 6 §5: a memory backend that goes down gives typed, retryable errors, the health monitor's
// readiness reports it (naming host:port, never the password), and everything recovers — with no
// accepted write lost — when the server returns. Uses a private redis-server, never the shared one.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, Council, Harness, HarnessError, Memory } from 'forge-harness';
import { afterAll, expect, it } from 'vitest';
import { startRedisServer } from './private-redis.ts';
import { exited, freePort, killSpawned } from './processes.ts';
import { requireServer } from './servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-ready-'));
afterAll(() => {
  killSpawned();
  rmSync(dir, { recursive: true, force: true });
});

// The test starts and kills its own redis-server; it needs the program, not a running server.
const runnable = await requireServer(
  'redis-server',
  () =>
    new Promise<void>((resolve, reject) =>
      execFile('redis-server', ['--version'], (error) => (error ? reject(error) : resolve())),
    ),
);

it.runIf(runnable)(
  'readiness follows the memory backend down and back up',
  async () => {
    const port = await freePort();
    const password = 'hunter2-not-shown';
    let server = await startRedisServer(port, dir, password);
    const memory = new Memory({ url: `redis://:${password}@127.0.0.1:${port}/0` });
    const harness = new Harness({
      models: [{ id: 'sim', type: 'simulated' }],
      councils: [new Council({ name: 'Desk', memory, agents: [new Agent({ name: 'A', model: 'sim' })] })],
    });

    expect((await harness.run('Desk', 'first request about order 1234')).status).toBe('succeeded');
    const up = await harness.health.check();
    expect(up.ready).toBe(true);
    expect(up.probes[0]).toMatchObject({ kind: 'memory', status: 'up' });

    server.kill('SIGKILL');
    await exited(server);
    const down = await harness.health.check();
    expect(down.ready).toBe(false);
    expect(down.probes[0]?.status).toBe('down');
    expect(down.probes[0]?.detail).toContain(`127.0.0.1:${port}`);
    expect(down.probes[0]?.detail).toContain('(retryable)');
    expect(JSON.stringify(down)).not.toContain(password);

    const failed = await harness.run('Desk', 'second request');
    expect(failed.status).toBe('failed');
    expect(HarnessError.isInstance(failed.error) && failed.error.code).toBe('memory_error');
    expect(failed.error?.isRetryable).toBe(true);
    expect(failed.error?.format()).not.toContain(password);

    server = await startRedisServer(port, dir, password);
    let back = await harness.health.check();
    for (let i = 0; i < 50 && !back.ready; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      back = await harness.health.check();
    }
    expect(back.ready).toBe(true);
    expect((await harness.run('Desk', 'third request')).status).toBe('succeeded');
    // The first run's exchange, acknowledged before the crash, is still there.
    const thread = await memory.read({ council: 'Desk', agent: 'A' });
    expect(thread.map((m) => m.content)).toContain('first request about order 1234');
    expect(thread.map((m) => m.content)).toContain('third request');
    await harness.stop();
    server.kill('SIGKILL');
  },
  60_000,
);
