import { afterEach, describe, expect, it, vi } from 'vitest';
import { HealthMonitor } from './monitor.ts';
import type { Probe, ProbeStatus } from './probe.ts';

function probe(name: string, statuses: ProbeStatus[], critical = true): Probe & { calls: number } {
  const p = {
    name,
    kind: 'memory' as const,
    critical,
    calls: 0,
    async check() {
      const status = statuses[Math.min(p.calls, statuses.length - 1)] ?? 'up';
      p.calls++;
      return status === 'up' ? { status } : { status, detail: `${name} is ${status}` };
    },
  };
  return p;
}

afterEach(() => vi.useRealTimers());

describe('HealthMonitor', () => {
  it('is ready only when every critical probe is up', async () => {
    const monitor = new HealthMonitor([
      probe('a', ['up']),
      probe('b', ['down', 'up']),
      probe('c', ['down'], false),
    ]);
    expect(monitor.report().ready).toBe(false); // nothing checked yet
    const first = await monitor.check();
    expect(first.ready).toBe(false);
    expect(first.probes.find((p) => p.name === 'b')).toMatchObject({ status: 'down', detail: 'b is down' });
    const second = await monitor.check();
    expect(second.ready).toBe(true); // c is down but not critical
  });

  it('checks on its interval and reports status changes once', async () => {
    vi.useFakeTimers();
    const p = probe('db', ['up', 'up', 'down', 'down', 'up']);
    const monitor = new HealthMonitor([p], { intervalMs: 10_000 });
    const changes: string[] = [];
    monitor.onChange(({ probe: r, previous }) => changes.push(`${previous ?? 'none'}->${r.status}`));
    monitor.start();
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 4; i++) await vi.advanceTimersByTimeAsync(10_000);
    monitor.stop();
    expect(p.calls).toBe(5);
    expect(changes).toEqual(['none->up', 'up->down', 'down->up']);
  });

  it('marks a probe that hangs as down after the timeout and aborts it', async () => {
    vi.useFakeTimers();
    let aborted = false;
    const hanging: Probe = {
      name: 'hang',
      kind: 'memory',
      check: (signal) =>
        new Promise(() => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
    };
    const monitor = new HealthMonitor([hanging], { timeoutMs: 500 });
    const round = monitor.check();
    await vi.advanceTimersByTimeAsync(500);
    const report = await round;
    expect(report.probes[0]).toMatchObject({ status: 'down', detail: 'timed out after 500 ms' });
    expect(aborted).toBe(true);
  });

  it('keeps running and calls every listener when one of them throws', async () => {
    const monitor = new HealthMonitor([probe('db', ['down'])]);
    const heard: string[] = [];
    monitor.onChange(() => {
      throw new Error('listener bug');
    });
    monitor.onChange(({ probe: r }) => heard.push(r.status));
    await expect(monitor.check()).resolves.toMatchObject({ ready: false });
    expect(heard).toEqual(['down']);
  });

  it('reports an overall status and the probes not checked yet', async () => {
    const monitor = new HealthMonitor([probe('db', ['up']), probe('cache', ['degraded'], false)]);
    expect(monitor.report()).toMatchObject({ ready: false, status: 'degraded', pending: ['db', 'cache'] });
    expect(await monitor.check()).toMatchObject({ ready: true, status: 'degraded', pending: [] });
    monitor.add(probe('queue', ['down']));
    // A dependency added but never checked keeps the process from being ready.
    expect(monitor.report()).toMatchObject({ ready: false, pending: ['queue'] });
    expect(await monitor.check()).toMatchObject({ ready: false, status: 'down' });
    expect(monitor.remove('queue')).toBe(true);
    expect(monitor.remove('queue')).toBe(false);
    expect(monitor.report()).toMatchObject({ ready: true, status: 'degraded' });
    expect(monitor.probes().map((p) => p.name)).toEqual(['db', 'cache']);
  });

  it('gives a probe its own timeout and keeps its data', async () => {
    vi.useFakeTimers();
    const slow: Probe = {
      name: 'model:slow',
      kind: 'provider',
      timeoutMs: 5_000,
      check: (signal) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve({ status: 'up', data: { latencyMs: 3_000 } }), 3_000);
          signal.addEventListener('abort', () => clearTimeout(timer));
        }),
    };
    const monitor = new HealthMonitor([slow], { timeoutMs: 2_000 });
    const round = monitor.check();
    await vi.advanceTimersByTimeAsync(3_000);
    expect((await round).probes[0]).toMatchObject({ status: 'up', data: { latencyMs: 3_000 } });
  });

  it('keeps no result of a probe removed while it was being checked', async () => {
    let finish: (() => void) | undefined;
    const monitor = new HealthMonitor([
      {
        name: 'gone',
        kind: 'memory',
        check: () =>
          new Promise((resolve) => {
            finish = () => resolve({ status: 'up' });
          }),
      },
    ]);
    const round = monitor.check();
    monitor.remove('gone');
    finish?.();
    expect((await round).probes).toEqual([]);
  });

  it('tells whether it runs and when its last round finished', async () => {
    vi.useFakeTimers({ now: 50_000 });
    const monitor = new HealthMonitor([probe('db', ['up'])], { intervalMs: 10_000 });
    expect(monitor).toMatchObject({ running: false, lastRoundAt: 0, intervalMs: 10_000 });
    monitor.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(monitor).toMatchObject({ running: true, lastRoundAt: 50_000 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(monitor.lastRoundAt).toBe(60_000);
    monitor.stop();
    expect(monitor.running).toBe(false);
  });
});
