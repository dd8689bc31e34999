import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('starts full and refills at capacity per minute', () => {
    const b = new TokenBucket(60, 0);
    expect(b.waitMs(60, 0)).toBe(0);
    b.take(60, 0);
    expect(b.available(0)).toBe(0);
    // 60 per minute = one per second.
    expect(b.waitMs(1, 0)).toBe(1000);
    expect(b.available(500)).toBeCloseTo(0.5);
    expect(b.waitMs(1, 500)).toBe(500);
    expect(b.available(1000)).toBeCloseTo(1);
    expect(b.available(10 * 60_000)).toBe(60);
  });

  it('lets a call larger than the bucket go when full, leaving a debt', () => {
    const b = new TokenBucket(1000, 0);
    expect(b.waitMs(5000, 0)).toBe(0);
    b.take(5000, 0);
    expect(b.available(0)).toBe(-4000);
    // The debt plus one unit refill before the next small call.
    expect(b.waitMs(1, 0)).toBe(Math.ceil((4001 * 60_000) / 1000));
  });

  it('corrects an estimate with actual usage, never above capacity', () => {
    const b = new TokenBucket(1000, 0);
    b.take(600, 0);
    b.adjust(600 - 100, 0);
    expect(b.available(0)).toBe(900);
    b.adjust(5000, 0);
    expect(b.available(0)).toBe(1000);
    b.adjust(-1500, 0);
    expect(b.available(0)).toBe(-500);
  });

  it('trusts the provider only when it says less remains', () => {
    const b = new TokenBucket(100, 0);
    b.observe(30, 0);
    expect(b.available(0)).toBe(30);
    b.observe(90, 0);
    expect(b.available(0)).toBe(30);
  });

  it('resizes, keeping its fill up to the new size', () => {
    const b = new TokenBucket(100, 0, 'learned');
    b.take(20, 0);
    b.resize(50, 0);
    expect(b.stats(0)).toEqual({ capacity: 50, available: 50, source: 'learned' });
    b.resize(200, 0);
    expect(b.available(0)).toBe(50);
    expect(b.waitMs(100, 0)).toBe(Math.ceil((50 * 60_000) / 200));
  });
});
