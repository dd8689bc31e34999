import { afterEach, describe, expect, it, vi } from 'vitest';
import { HarnessError } from '../errors.ts';
import { MemoryPressure, overloadedError } from './memory-pressure.ts';

afterEach(() => vi.useRealTimers());

const mib = 2 ** 20;

/** A heap whose use the test sets, as a share of a 1000 MiB limit. */
function fakeHeap(ratio = 0.5) {
  const heap = { ratio, read: () => ({ used: heap.ratio * 1000 * mib, limit: 1000 * mib }) };
  return heap;
}

describe('overloadedError', () => {
  it('is a retryable overloaded HarnessError carrying the wait', () => {
    const error = overloadedError(2500);
    expect(HarnessError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'overloaded', isRetryable: true, details: { retryAfterMs: 2500 } });
    expect(error.hint).toContain('retry in 3 s');
    expect(overloadedError(10, 'draining', { node: 'a' }).details).toEqual({ node: 'a', retryAfterMs: 10 });
  });
});

describe('MemoryPressure', () => {
  it('sheds above the high watermark, evicts, and recovers only below the low one', () => {
    const heap = fakeHeap(0.5);
    const pressure = new MemoryPressure({ heap: heap.read, highWatermark: 0.85, lowWatermark: 0.75 });
    const evicted: string[] = [];
    pressure.onPressure(() => {
      evicted.push('skills');
    });
    const changes: boolean[] = [];
    pressure.onChange((state) => changes.push(state.shedding));

    expect(pressure.check()).toMatchObject({ shedding: false, ratio: 0.5 });
    expect(() => pressure.throwIfShedding()).not.toThrow();
    heap.ratio = 0.9;
    const shedding = pressure.check();
    expect(shedding).toMatchObject({ shedding: true, retryAfterMs: 5000, episodes: 1, evictions: 1 });
    expect(evicted).toEqual(['skills']);
    try {
      pressure.throwIfShedding();
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'overloaded', isRetryable: true, details: { retryAfterMs: 5000 } });
      expect((error as Error).message).toContain('90%');
    }
    // Still above: caches may have refilled, so evictors run again; shedding is not re-announced.
    pressure.check();
    expect(evicted).toHaveLength(2);
    // Between the watermarks: still shedding (no flapping at the line), no more evictions.
    heap.ratio = 0.8;
    expect(pressure.check().shedding).toBe(true);
    expect(evicted).toHaveLength(2);
    heap.ratio = 0.74;
    const recovered = pressure.check();
    expect(recovered).toMatchObject({ shedding: false, episodes: 1, evictions: 2 });
    expect(recovered.retryAfterMs).toBeUndefined();
    expect(changes).toEqual([true, false]);
  });

  it('runs every evictor even when one throws or rejects', () => {
    const heap = fakeHeap(0.99);
    const pressure = new MemoryPressure({ heap: heap.read });
    const ran: string[] = [];
    pressure.onPressure(() => {
      throw new Error('broken cache');
    });
    pressure.onPressure(async () => {
      ran.push('async');
      throw new Error('rejects');
    });
    const off = pressure.onPressure(() => {
      ran.push('sync');
    });
    expect(pressure.check().shedding).toBe(true);
    expect(ran).toEqual(['async', 'sync']);
    off();
    pressure.check();
    expect(ran).toEqual(['async', 'sync', 'async']);
  });

  it('looks on its timer once started, without keeping the process alive', async () => {
    vi.useFakeTimers();
    const heap = fakeHeap(0.5);
    const pressure = new MemoryPressure({ heap: heap.read, intervalMs: 1000 });
    pressure.start();
    expect(pressure.running).toBe(true);
    heap.ratio = 0.95;
    expect(pressure.shedding).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(pressure.shedding).toBe(true);
    heap.ratio = 0.1;
    await vi.advanceTimersByTimeAsync(1000);
    expect(pressure.shedding).toBe(false);
    pressure.stop();
    heap.ratio = 0.95;
    await vi.advanceTimersByTimeAsync(5000);
    expect(pressure.shedding).toBe(false);
  });

  it('is a critical probe that is down while shedding', async () => {
    const heap = fakeHeap(0.5);
    const pressure = new MemoryPressure({ heap: heap.read });
    const probe = pressure.probe();
    expect(probe).toMatchObject({ name: 'memory-pressure', kind: 'process', critical: true });
    const never = new AbortController().signal;
    expect(await probe.check(never)).toMatchObject({ status: 'up', detail: '50% of the heap limit' });
    heap.ratio = 0.9;
    expect(await probe.check(never)).toMatchObject({
      status: 'down',
      detail: 'shedding new work: 90% of the heap limit',
      data: { shedding: true, retryAfterMs: 5000 },
    });
  });

  it('refuses watermarks that cannot work, naming the option', () => {
    expect(() => new MemoryPressure({ highWatermark: 1.5 })).toThrow(/MemoryPressureOptions.highWatermark/);
    expect(() => new MemoryPressure({ highWatermark: 0.8, lowWatermark: 0.9 })).toThrow(
      /lowWatermark \(0.9\) must be below highWatermark/,
    );
    expect(() => new MemoryPressure({ intervalMs: 0 })).toThrow(/MemoryPressureOptions.intervalMs/);
    expect(new MemoryPressure({ highWatermark: 0.5 }).state()).toMatchObject({ lowWatermark: 0.4 });
    expect(new MemoryPressure().state()).toMatchObject({ highWatermark: 0.85, lowWatermark: 0.75 });
  });
});
