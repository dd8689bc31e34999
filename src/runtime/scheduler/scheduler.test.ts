import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HarnessError } from '../../errors.ts';
import { createScheduler } from './scheduler.ts';
import type { Priority, RunTicket } from './types.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

let n = 0;
const ticket = (over: Partial<RunTicket> = {}): RunTicket => ({
  runId: `run_${++n}`,
  council: 'C',
  tenant: 't',
  priority: 'normal',
  ...over,
});
const live = () => new AbortController().signal;

/** Admits `t` and records, in `started`, its run id once it is admitted. */
function admitInto(
  scheduler: ReturnType<typeof createScheduler>,
  started: string[],
  t: RunTicket,
  signal = live(),
) {
  const release = scheduler.admit(t, signal).then((r) => {
    started.push(t.runId);
    return r;
  });
  release.catch(() => {});
  return release;
}

describe('createScheduler: admission', () => {
  it('starts runs up to maxConcurrentRuns and the next on release', async () => {
    const s = createScheduler({ maxConcurrentRuns: 2 });
    const started: string[] = [];
    const [a] = [ticket({ runId: 'a' }), ticket({ runId: 'b' }), ticket({ runId: 'c' })].map((t) =>
      admitInto(s, started, t),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['a', 'b']);
    expect(s.stats()).toMatchObject({ running: 2, queued: { normal: 1 }, runningByCouncil: { C: 2 } });
    const release = await (a as Promise<() => void>);
    release();
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['a', 'b', 'c']);
    expect(s.stats().running).toBe(2);
  });

  it('starts a queued high run before earlier normal ones, FIFO within a level', async () => {
    const s = createScheduler({ maxConcurrentRuns: 1 });
    const started: string[] = [];
    const releases = new Map<string, Promise<() => void>>();
    for (const [id, priority] of [
      ['first', 'normal'],
      ['n1', 'normal'],
      ['n2', 'normal'],
      ['h1', 'high'],
      ['l1', 'low'],
      ['h2', 'high'],
    ] as Array<[string, Priority]>) {
      releases.set(id, admitInto(s, started, ticket({ runId: id, priority })));
    }
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(0);
      (await (releases.get(started.at(-1) ?? '') as Promise<() => void>))();
    }
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['first', 'h1', 'h2', 'n1', 'n2', 'l1']);
  });

  it('lets low start under a constant stream of high (aging)', async () => {
    const s = createScheduler({ maxConcurrentRuns: 1, agingMs: 100 });
    const started: string[] = [];
    const releases: Array<() => void> = [];
    const track = (t: RunTicket) =>
      admitInto(s, started, t).then((r) => {
        releases.push(r);
        return r;
      });
    void track(ticket({ runId: 'h0', priority: 'high' }));
    void track(ticket({ runId: 'low', priority: 'low' }));
    // Each 20 ms two highs arrive and one run ends: highs alone would keep the slot forever.
    for (let tick = 1; tick <= 30 && !started.includes('low'); tick++) {
      void track(ticket({ runId: `h${tick}a`, priority: 'high' }));
      void track(ticket({ runId: `h${tick}b`, priority: 'high' }));
      await vi.advanceTimersByTimeAsync(20);
      releases.shift()?.();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(started).toContain('low');
    // Promoted to high after 2 × agingMs, then ahead of every high that came after it.
    expect(started.indexOf('low')).toBeLessThanOrEqual(11);
  });

  it('honours a per-council cap while other councils run', async () => {
    const s = createScheduler({ maxConcurrentRuns: 10, councils: { Slow: { maxConcurrentRuns: 1 } } });
    const started: string[] = [];
    const slow1 = admitInto(s, started, ticket({ runId: 's1', council: 'Slow' }));
    admitInto(s, started, ticket({ runId: 's2', council: 'Slow' }));
    admitInto(s, started, ticket({ runId: 'f1', council: 'Fast' }));
    admitInto(s, started, ticket({ runId: 'f2', council: 'Fast' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['s1', 'f1', 'f2']);
    expect(s.stats().runningByCouncil).toEqual({ Slow: 1, Fast: 2 });
    (await slow1)();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['s1', 'f1', 'f2', 's2']);
  });

  it('refuses a run beyond maxQueuedRuns with overloaded and a retryAfterMs', async () => {
    const s = createScheduler({ maxConcurrentRuns: 1, maxQueuedRuns: 2 });
    const started: string[] = [];
    const first = admitInto(s, started, ticket());
    admitInto(s, started, ticket());
    admitInto(s, started, ticket());
    const error = await s.admit(ticket(), live()).catch((e: unknown) => e);
    expect(HarnessError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'overloaded',
      isRetryable: true,
      details: { queued: 2, maxQueuedRuns: 2 },
    });
    expect((error as HarnessError).details.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(s.stats().queued.normal).toBe(2);
    // A free slot admits even with a zero-length queue.
    (await first)();
    const zero = createScheduler({ maxQueuedRuns: 0 });
    await expect(zero.admit(ticket(), live())).resolves.toBeTypeOf('function');
  });

  it('removes a run aborted while queued, with a terminal aborted error', async () => {
    const s = createScheduler({ maxConcurrentRuns: 1 });
    const started: string[] = [];
    const first = admitInto(s, started, ticket({ runId: 'a' }));
    const controller = new AbortController();
    const aborted = s.admit(ticket({ runId: 'b' }), controller.signal).catch((e: unknown) => e);
    admitInto(s, started, ticket({ runId: 'c' }));
    await vi.advanceTimersByTimeAsync(0);
    controller.abort(new Error('user'));
    expect(await aborted).toMatchObject({ code: 'aborted' });
    expect(s.stats().queued.normal).toBe(1);
    (await first)();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['a', 'c']);
    await expect(s.admit(ticket(), controller.signal)).rejects.toMatchObject({ code: 'aborted' });
  });

  it('asks the quota hook first; its quota_exceeded refuses the run', async () => {
    const seen: string[] = [];
    const s = createScheduler({
      quota: async (t) => {
        seen.push(t.tenant);
        if (t.tenant === 'greedy') {
          throw new HarnessError('quota_exceeded', 'tenant greedy is over its quota', {
            details: { tenant: t.tenant },
          });
        }
      },
    });
    await expect(s.admit(ticket({ tenant: 'greedy' }), live())).rejects.toMatchObject({
      code: 'quota_exceeded',
      details: { tenant: 'greedy' },
    });
    await expect(s.admit(ticket({ tenant: 'fine' }), live())).resolves.toBeTypeOf('function');
    expect(seen).toEqual(['greedy', 'fine']);
    expect(s.stats().running).toBe(1);
  });

  it('reports wait percentiles of admissions', async () => {
    const s = createScheduler({ maxConcurrentRuns: 1 });
    const started: string[] = [];
    let release = await admitInto(s, started, ticket());
    const later = [admitInto(s, started, ticket()), admitInto(s, started, ticket())];
    await vi.advanceTimersByTimeAsync(100);
    release();
    release = await (later[0] as Promise<() => void>);
    await vi.advanceTimersByTimeAsync(300);
    release();
    await later[1];
    expect(s.stats().waitMs).toEqual({ p50: 100, p99: 400, max: 400 });
  });

  it('names a bad option and a bad priority exactly', async () => {
    const bad = (options: Parameters<typeof createScheduler>[0]) => {
      try {
        createScheduler(options);
      } catch (error) {
        return error as HarnessError;
      }
      throw new Error('expected a HarnessError');
    };
    expect(bad({ maxConcurrentRuns: 0 })).toMatchObject({
      code: 'config_invalid',
      location: { path: 'SchedulerOptions.maxConcurrentRuns' },
    });
    expect(bad({ councils: { Support: { maxConcurrentRuns: 1.5 } } }).location?.path).toBe(
      'SchedulerOptions.councils.Support.maxConcurrentRuns',
    );
    expect(bad({ providers: { openai: { rpm: -1 } } }).location?.path).toBe(
      'SchedulerOptions.providers.openai.rpm',
    );
    await expect(
      createScheduler().admit(ticket({ priority: 'urgent' as Priority }), live()),
    ).rejects.toMatchObject({ code: 'config_invalid', location: { path: 'RunOptions.priority' } });
  });
});
