import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AttemptClock, checkTimeouts, hasTimeouts } from './timeouts.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-27T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('AttemptClock', () => {
  it('fires the connect timeout before the response headers, as a retryable timeout failure', () => {
    const clock = new AttemptClock({ connectMs: 100, totalMs: 1000 }, 'm', undefined);
    vi.advanceTimersByTime(99);
    expect(clock.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(clock.signal.aborted).toBe(true);
    expect(clock.error).toMatchObject({
      code: 'provider_error',
      isRetryable: true,
      details: { model: 'm', kind: 'timeout', timeout: 'connect', timeoutMs: 100 },
    });
    expect(clock.signal.reason).toBe(clock.error);
  });

  it('counts the first-token timeout from the start of the attempt, then watches the gaps between parts', () => {
    const clock = new AttemptClock(
      { connectMs: 50, firstTokenMs: 200, betweenTokensMs: 100 },
      'm',
      undefined,
    );
    vi.advanceTimersByTime(40);
    clock.connected();
    vi.advanceTimersByTime(150);
    clock.firstOutput();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(90);
      clock.activity();
    }
    expect(clock.error).toBeUndefined();
    vi.advanceTimersByTime(100);
    expect(clock.error?.details).toMatchObject({ timeout: 'between_tokens', timeoutMs: 100 });
  });

  it('fires the first-token timeout when headers came but no output, also for a call that ignores its signal', async () => {
    const clock = new AttemptClock({ firstTokenMs: 300 }, 'm', undefined);
    const deaf = clock.race(new Promise<never>(() => {}));
    vi.advanceTimersByTime(10);
    clock.connected();
    vi.advanceTimersByTime(290);
    await expect(deaf).rejects.toMatchObject({ details: { timeout: 'first_token' } });
    // A call that answers in time resolves as it is.
    const quick = new AttemptClock({ totalMs: 300 }, 'm', undefined);
    await expect(quick.race(Promise.resolve('ok'))).resolves.toBe('ok');
  });

  it('fires the total timeout whatever the phase', () => {
    const clock = new AttemptClock({ totalMs: 500, betweenTokensMs: 400 }, 'm', undefined);
    clock.connected();
    clock.firstOutput();
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(120);
      clock.activity();
    }
    vi.advanceTimersByTime(20);
    expect(clock.error?.details).toMatchObject({ timeout: 'total' });
  });

  it('passes the caller abort through without calling it a timeout, and stops cleanly', () => {
    const caller = new AbortController();
    const clock = new AttemptClock({ totalMs: 100 }, 'm', caller.signal);
    caller.abort(new Error('stop'));
    expect(clock.signal.aborted).toBe(true);
    expect(clock.error).toBeUndefined();

    const other = new AttemptClock({ totalMs: 100 }, 'm', undefined);
    let expired = 0;
    other.onExpire(() => expired++);
    other.stop();
    vi.advanceTimersByTime(1000);
    expect([other.error, expired, vi.getTimerCount()]).toEqual([undefined, 0, 0]);
  });

  it('runs every clock on one shared timer: each fires at its own deadline, a stopped one never', () => {
    const late = new AttemptClock({ totalMs: 300 }, 'late', undefined);
    const early = new AttemptClock({ totalMs: 100 }, 'early', undefined);
    const stopped = new AttemptClock({ totalMs: 150 }, 'stopped', undefined);
    const middle = new AttemptClock({ connectMs: 200 }, 'middle', undefined);
    stopped.stop();
    const fired = () =>
      [late, early, stopped, middle].filter((c) => c.error).map((c) => c.error?.details.model);
    vi.advanceTimersByTime(100);
    expect(fired()).toEqual(['early']);
    vi.advanceTimersByTime(100);
    expect(fired()).toEqual(['early', 'middle']);
    vi.advanceTimersByTime(99);
    expect(fired()).toEqual(['early', 'middle']);
    vi.advanceTimersByTime(1);
    expect(fired()).toEqual(['late', 'early', 'middle']);
    // Nothing left to watch: no timer stays behind.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('knows when timeouts are set, and refuses bad ones with the option named', () => {
    expect(hasTimeouts(undefined)).toBe(false);
    expect(hasTimeouts({})).toBe(false);
    expect(hasTimeouts({ totalMs: 1 })).toBe(true);
    expect(() => checkTimeouts({ connectMs: 0 }, 'ModelEntry["m"].timeouts')).toThrow(
      /ModelEntry\["m"\]\.timeouts\.connectMs must be a positive number of ms/,
    );
  });
});

describe('AttemptClock.hold', () => {
  it('keeps the stall timer waiting while the harness holds the stream, then counts it afresh', () => {
    const clock = new AttemptClock({ betweenTokensMs: 100, totalMs: 10_000 }, 'm', undefined);
    clock.connected();
    clock.firstOutput();
    clock.hold();
    vi.advanceTimersByTime(5000);
    expect(clock.error).toBeUndefined();
    clock.resume();
    vi.advanceTimersByTime(99);
    expect(clock.error).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(clock.error?.details).toMatchObject({ timeout: 'between_tokens', timeoutMs: 100 });
  });

  it('does not count the time held toward the total either: its deadline moves by it', () => {
    const clock = new AttemptClock({ totalMs: 1000 }, 'm', undefined);
    vi.advanceTimersByTime(400);
    clock.firstOutput();
    clock.hold();
    vi.advanceTimersByTime(5000);
    expect(clock.error).toBeUndefined();
    clock.resume();
    vi.advanceTimersByTime(599);
    expect(clock.error).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(clock.error?.details).toMatchObject({ timeout: 'total', timeoutMs: 1000 });
    expect(clock.signal.aborted).toBe(true);
  });
});
