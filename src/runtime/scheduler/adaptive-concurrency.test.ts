import { describe, expect, it } from 'vitest';
import { AdaptiveConcurrency } from './adaptive-concurrency.ts';

describe('AdaptiveConcurrency', () => {
  it('starts at max, halves on pushback, grows by one per success up to max', () => {
    const c = new AdaptiveConcurrency(8);
    expect(c.limit).toBe(8);
    c.record(c.epoch, 'success');
    expect(c.limit).toBe(8);
    c.record(c.epoch, 'pushback');
    expect(c.limit).toBe(4);
    c.record(c.epoch, 'slow');
    expect(c.limit).toBe(2);
    for (let i = 0; i < 3; i++) c.record(c.epoch, 'success');
    expect(c.limit).toBe(5);
    for (let i = 0; i < 10; i++) c.record(c.epoch, 'success');
    expect(c.limit).toBe(8);
  });

  it('never goes below 1', () => {
    const c = new AdaptiveConcurrency(3);
    for (let i = 0; i < 5; i++) c.record(c.epoch, 'pushback');
    expect(c.limit).toBe(1);
  });

  it('backs off once for a burst of calls sent before the first pushback', () => {
    const c = new AdaptiveConcurrency(64);
    const sent = c.epoch;
    for (let i = 0; i < 20; i++) c.record(sent, 'pushback');
    expect(c.limit).toBe(32);
    // Successes of calls sent before the back-off do not undo it either.
    c.record(sent, 'success');
    expect(c.limit).toBe(32);
    c.record(c.epoch, 'success');
    expect(c.limit).toBe(33);
  });

  it('ignores neutral outcomes and follows a lowered ceiling', () => {
    const c = new AdaptiveConcurrency(10);
    c.record(c.epoch, 'neutral');
    expect(c.limit).toBe(10);
    c.setMax(4);
    expect(c.limit).toBe(4);
    c.setMax(6);
    c.record(c.epoch, 'success');
    expect([c.limit, c.max]).toEqual([5, 6]);
  });
});
