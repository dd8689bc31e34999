import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HarnessError } from '../../errors.ts';
import type { CallPermit, CallPermitRequest } from '../../gateway/limiter.ts';
import { createCallLimiter } from './call-limiter.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-27T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

const request = (over: Partial<CallPermitRequest> = {}): CallPermitRequest => ({
  model: 'm',
  provider: 'openai.chat',
  estimatedTokens: 10,
  ...over,
});

/** A promise with a synchronous view of whether it has settled. */
function track<T>(promise: Promise<T>) {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error: unknown) => Object.assign(state, { error, settled: true }),
  );
  return state;
}

const ok = { ok: true, latencyMs: 5 } as const;
const rateLimited = (retryAfterMs?: number) =>
  new HarnessError('provider_error', 'model "m" failed with HTTP 429 (rate_limit)', {
    isRetryable: true,
    details: { kind: 'rate_limit', ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  });

describe('createCallLimiter', () => {
  it('holds calls over the concurrency limit until a release, first come first served', async () => {
    const limiter = createCallLimiter();
    const limits = { maxConcurrency: 2 };
    const a = await limiter.acquire(request({ rateLimits: limits }));
    await limiter.acquire(request({ rateLimits: limits }));
    const c = track(limiter.acquire(request({ rateLimits: limits })));
    const d = track(limiter.acquire(request({ rateLimits: limits })));
    await vi.advanceTimersByTimeAsync(10_000);
    expect([c.settled, d.settled]).toEqual([false, false]);
    a.release(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect([c.settled, d.settled]).toEqual([true, false]);
    expect(limiter.stats().models.m).toMatchObject({ inFlight: 2, waiting: 1, maxConcurrency: 2 });
  });

  it('spaces calls by the requests-per-minute bucket', async () => {
    const limiter = createCallLimiter();
    const limits = { rpm: 60 };
    for (let i = 0; i < 60; i++) (await limiter.acquire(request({ rateLimits: limits }))).release(ok);
    const next = track(limiter.acquire(request({ rateLimits: limits })));
    await vi.advanceTimersByTimeAsync(990);
    expect(next.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(next.settled).toBe(true);
    expect(limiter.stats().models.m?.requests).toMatchObject({ capacity: 60, source: 'configured' });
  });

  it('charges the token estimate and settles it with actual usage', async () => {
    const limiter = createCallLimiter();
    const limits = { tpm: 1000 };
    const first = await limiter.acquire(request({ rateLimits: limits, estimatedTokens: 900 }));
    const second = track(limiter.acquire(request({ rateLimits: limits, estimatedTokens: 500 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(second.settled).toBe(false);
    // The call used 100 tokens, not 900: 800 come back and the waiting call fits.
    first.release({ ok: true, latencyMs: 5, inputTokens: 60, outputTokens: 40 });
    await vi.advanceTimersByTimeAsync(0);
    expect(second.settled).toBe(true);
    expect(limiter.stats().models.m?.tokens?.available).toBe(400);
  });

  it('gives back the estimate of a failed call that reported no usage', async () => {
    const limiter = createCallLimiter();
    const limits = { tpm: 1000 };
    const permit = await limiter.acquire(request({ rateLimits: limits, estimatedTokens: 700 }));
    permit.release({
      ok: false,
      latencyMs: 5,
      failure: new HarnessError('provider_error', 'boom', { details: { kind: 'server' } }),
    });
    expect(limiter.stats().models.m?.tokens?.available).toBe(1000);
  });

  it('blocks every caller of a model after a 429 until the reset it asked for, other models not', async () => {
    const limiter = createCallLimiter();
    const first = await limiter.acquire(request());
    const waiting = track(limiter.acquire(request()));
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting.settled).toBe(true);
    first.release({ ok: false, latencyMs: 5, failure: rateLimited(2000) });
    const later = track(limiter.acquire(request()));
    const other = track(limiter.acquire(request({ model: 'other' })));
    await vi.advanceTimersByTimeAsync(1999);
    expect([later.settled, other.settled]).toEqual([false, true]);
    expect(limiter.stats().models.m).toMatchObject({ rateLimited: 1, blockedUntil: Date.now() + 1 });
    await vi.advanceTimersByTimeAsync(1);
    expect(later.settled).toBe(true);
    expect(limiter.stats().models.m?.blockedUntil).toBeUndefined();
  });

  it('never holds a caller longer than its maxWaitMs for a block: it is refused as rate limited', async () => {
    const limiter = createCallLimiter();
    const first = await limiter.acquire(request());
    const second = await limiter.acquire(request());
    first.release({ ok: false, latencyMs: 5, failure: rateLimited(1000) });
    // A 1 s block is within the bound: this caller waits for it...
    const queued = track(limiter.acquire(request({ maxWaitMs: 2000 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(queued.settled).toBe(false);
    // ...until the block grows to 60 s: then it is refused at once, as a rate limit.
    second.release({ ok: false, latencyMs: 5, failure: rateLimited(60_000) });
    await vi.advanceTimersByTimeAsync(0);
    expect(queued.error).toMatchObject({
      code: 'provider_error',
      isRetryable: true,
      details: { kind: 'rate_limit', limiter: true, retryAfterMs: 60_000 },
    });
    const refused = track(limiter.acquire(request({ maxWaitMs: 2000 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(refused.error).toMatchObject({ details: { kind: 'rate_limit', limiter: true } });
    // Another model of the same provider type is not blocked.
    const other = track(limiter.acquire(request({ model: 'other', maxWaitMs: 2000 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(other.value).toBeDefined();
    // Within the bound a caller waits for the reset.
    await vi.advanceTimersByTimeAsync(58_500);
    const within = track(limiter.acquire(request({ maxWaitMs: 2000 })));
    await vi.advanceTimersByTimeAsync(1499);
    expect(within.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(within.value).toBeDefined();
  });

  it('learns limits from response headers and blocks when a window is exhausted', async () => {
    const limiter = createCallLimiter();
    const permit = await limiter.acquire(request());
    permit.release({
      ...ok,
      headers: {
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '1.5s',
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '29000',
      },
    });
    expect(limiter.stats().models.m).toMatchObject({
      requests: { capacity: 500, available: 0, source: 'learned' },
      tokens: { capacity: 30_000, available: 29_000, source: 'learned' },
      blockedUntil: Date.now() + 1500,
    });
    const next = track(limiter.acquire(request()));
    await vi.advanceTimersByTimeAsync(1499);
    expect(next.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.settled).toBe(true);
  });

  it('shares provider-type buckets between models of that type', async () => {
    const limiter = createCallLimiter({ providers: { anthropic: { rpm: 2 } } });
    const a = (model: string) =>
      request({ model, provider: 'anthropic.messages', providerType: 'anthropic' });
    await limiter.acquire(a('x'));
    await limiter.acquire(a('y'));
    const third = track(limiter.acquire(a('z')));
    const openai = track(limiter.acquire(request({ model: 'o' })));
    await vi.advanceTimersByTimeAsync(0);
    expect([third.settled, openai.settled]).toEqual([false, true]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(third.settled).toBe(true);
    expect(limiter.stats().providers).toEqual({
      anthropic: { requests: { capacity: 2, available: 0, source: 'configured' } },
    });
  });

  it('backs concurrency off on 429s and slow calls, and recovers one per success', async () => {
    const limiter = createCallLimiter({ defaultMaxConcurrency: 8 });
    const r = request({ latencyThresholdMs: 1000 });
    const burst: CallPermit[] = [];
    for (let i = 0; i < 4; i++) burst.push(await limiter.acquire(r));
    // Four 429s for calls sent together: one back-off.
    for (const permit of burst) permit.release({ ok: false, latencyMs: 5, failure: rateLimited() });
    expect(limiter.stats().models.m?.concurrencyLimit).toBe(4);
    (await limiter.acquire(r)).release({ ok: true, latencyMs: 1500 });
    expect(limiter.stats().models.m?.concurrencyLimit).toBe(2);
    for (let i = 0; i < 10; i++) (await limiter.acquire(r)).release(ok);
    expect(limiter.stats().models.m?.concurrencyLimit).toBe(8);
    // A cancelled or aborted call says nothing about the provider.
    (await limiter.acquire(r)).release({ ok: true, latencyMs: 5000, cancelled: true });
    expect(limiter.stats().models.m?.concurrencyLimit).toBe(8);
  });

  it('rejects a waiting call on abort with a terminal aborted error, and the queue moves on', async () => {
    const limiter = createCallLimiter();
    const limits = { maxConcurrency: 1 };
    const held = await limiter.acquire(request({ rateLimits: limits }));
    const controller = new AbortController();
    const aborted = track(limiter.acquire(request({ rateLimits: limits }), controller.signal));
    const after = track(limiter.acquire(request({ rateLimits: limits })));
    controller.abort(new Error('stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect(aborted.error).toMatchObject({ code: 'aborted' });
    held.release(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect(after.settled).toBe(true);
    await expect(limiter.acquire(request(), controller.signal)).rejects.toMatchObject({ code: 'aborted' });
    expect(limiter.stats().models.m).toMatchObject({ inFlight: 1, waiting: 0 });
  });

  it('follows changed entry limits and drops a bucket the entry no longer sets', async () => {
    const limiter = createCallLimiter();
    (await limiter.acquire(request({ rateLimits: { rpm: 10 } }))).release(ok);
    expect(limiter.stats().models.m?.requests?.capacity).toBe(10);
    (await limiter.acquire(request({ rateLimits: { rpm: 100, maxConcurrency: 3 } }))).release(ok);
    expect(limiter.stats().models.m).toMatchObject({ requests: { capacity: 100 }, maxConcurrency: 3 });
    (await limiter.acquire(request())).release(ok);
    expect(limiter.stats().models.m?.requests).toBeUndefined();
    expect(limiter.stats().models.m?.maxConcurrency).toBe(64);
  });

  it('grants synchronously with tryAcquire only when nothing is in the way', async () => {
    const limiter = createCallLimiter();
    const limits = { maxConcurrency: 1 };
    const first = limiter.tryAcquire(request({ rateLimits: limits }));
    expect(first).toBeDefined();
    expect(limiter.tryAcquire(request({ rateLimits: limits }))).toBeUndefined();
    const waiting = track(limiter.acquire(request({ rateLimits: limits })));
    first?.release(ok);
    // A waiter is served before a newcomer: tryAcquire does not jump the queue.
    expect(limiter.tryAcquire(request({ rateLimits: limits }))).toBeUndefined();
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting.settled).toBe(true);
    (waiting.value as CallPermit).release({ ok: false, latencyMs: 1, failure: rateLimited(500) });
    expect(limiter.tryAcquire(request({ rateLimits: limits }))).toBeUndefined();
    await vi.advanceTimersByTimeAsync(500);
    expect(limiter.tryAcquire(request({ rateLimits: limits }))).toBeDefined();
  });

  it('releases a permit once, however often release is called', async () => {
    const limiter = createCallLimiter();
    const permit = await limiter.acquire(request());
    await limiter.acquire(request());
    permit.release(ok);
    permit.release(ok);
    expect(limiter.stats().models.m).toMatchObject({ inFlight: 1, granted: 2 });
  });
});
