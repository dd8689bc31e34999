import { afterEach, describe, expect, it } from 'vitest';
import { createProcessProbe, type ProcessProbe } from './process-probe.ts';

const never = new AbortController().signal;
const probes: ProcessProbe[] = [];
afterEach(() => {
  for (const p of probes.splice(0)) p.close();
});
const make = (...args: Parameters<typeof createProcessProbe>) => {
  const probe = createProcessProbe(...args);
  probes.push(probe);
  return probe;
};

/** Blocks the event loop `times` times for `ms` each, yielding to timers in between. */
async function stall(times: number, ms: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // busy: the lag timer cannot fire
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const gib = 2 ** 30;

describe('createProcessProbe', () => {
  it('grades heap use against the limit with its thresholds', async () => {
    let used = 0.5 * gib;
    const probe = make({ heap: () => ({ used, limit: gib }), lagDegradedMs: 10_000, lagDownMs: 20_000 });
    expect(probe).toMatchObject({ name: 'process', kind: 'process', critical: false });
    const ok = await probe.check(never);
    expect(ok.status).toBe('up');
    expect(ok.detail).toContain('heap 512 of 1024 MiB (50%)');
    used = 0.9 * gib;
    expect((await probe.check(never)).status).toBe('degraded');
    used = 0.96 * gib;
    expect((await probe.check(never)).status).toBe('down');
    const strict = make({ heap: () => ({ used: 0.6 * gib, limit: gib }), heapDegradedRatio: 0.5 });
    expect((await strict.check(never)).status).toBe('degraded');
  });

  it('measures event-loop lag for real, grades it, and starts a new window at each check', async () => {
    const probe = make({
      resolutionMs: 10,
      lagDegradedMs: 80,
      lagDownMs: 10_000,
      heap: () => ({ used: 1, limit: 100 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // enough samples for a window
    const calm = await probe.check(never);
    expect(calm.status).toBe('up');
    await stall(12, 150);
    const during = probe.sample();
    expect(during.samples).toBeGreaterThanOrEqual(10);
    expect(during.eventLoopLagMs.p99).toBeGreaterThanOrEqual(100);
    const stalled = await probe.check(never);
    expect(stalled.status).toBe('degraded');
    expect(stalled.data).toMatchObject({ eventLoopLagMs: { p99: expect.any(Number) } });
    // The next window starts empty: until it has samples, the lag shown is the last window's.
    expect(probe.sample().eventLoopLagMs).toEqual(during.eventLoopLagMs);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(probe.sample().eventLoopLagMs.p99).toBeLessThan(80);
    expect((await probe.check(never)).status).toBe('up');
  });

  it('the real heap numbers come from V8', async () => {
    const stats = make().sample();
    expect(stats.heapLimitBytes).toBeGreaterThan(stats.heapUsedBytes);
    expect(stats.heapUsedBytes).toBeGreaterThan(0);
    expect(stats.rssBytes).toBeGreaterThan(0);
  });
});
