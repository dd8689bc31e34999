import { describe, expect, it } from 'vitest';
import { checkHedge, hedgeDelay, LatencyTracker, minLatencySamples } from './hedge.ts';

describe('LatencyTracker', () => {
  it('knows a p95 once enough calls were seen, per model and per kind of call', () => {
    const tracker = new LatencyTracker();
    for (let i = 1; i < minLatencySamples; i++) tracker.record('m', true, i * 10);
    expect(tracker.p95('m', true)).toBeUndefined();
    tracker.record('m', true, minLatencySamples * 10);
    // 20 samples 10..200: the 19th smallest is the p95.
    expect(tracker.p95('m', true)).toBe(190);
    expect(tracker.p95('m', false)).toBeUndefined();
    expect(tracker.p95('other', true)).toBeUndefined();
  });

  it('follows the recent calls: old samples leave the window', () => {
    const tracker = new LatencyTracker();
    for (let i = 0; i < 200; i++) tracker.record('m', false, 1000);
    for (let i = 0; i < 128; i++) tracker.record('m', false, 10);
    expect(tracker.p95('m', false)).toBe(10);
  });
});

describe('hedge options', () => {
  it('hedges after the p95 once known, after afterMs before that', () => {
    expect(hedgeDelay({ after: 'p95', afterMs: 500 }, undefined)).toBe(500);
    expect(hedgeDelay({ after: 'p95', afterMs: 500 }, 120)).toBe(120);
    expect(hedgeDelay({ after: 'p95' }, undefined)).toBeUndefined();
    expect(hedgeDelay({ afterMs: 300 }, 120)).toBe(300);
  });

  it('refuses options without a delay or with a bad max', () => {
    expect(() => checkHedge({}, 'ModelEntry["m"].hedge')).toThrow(/hedge\.afterMs must be set/);
    expect(() => checkHedge({ afterMs: 10, max: 0 }, 'ModelEntry["m"].hedge')).toThrow(
      /max must be an integer ≥ 1/,
    );
    expect(() => checkHedge({ after: 'p95' }, 'x')).not.toThrow();
  });
});
