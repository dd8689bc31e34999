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
});
