import { describe, expect, it } from 'vitest';
import type { RunEvent, RunEventBody } from '../runtime/events.ts';
import { Harness } from '../runtime/harness.ts';
import type { SchedulerStats } from '../runtime/scheduler/types.ts';
import { ScaleSignal, type ScaleSignalOptions } from './scale-signal.ts';

function stats(over: { queued?: number; running?: number; waitP99?: number } = {}): SchedulerStats {
  return {
    queued: { high: 0, normal: over.queued ?? 0, low: 0 },
    running: over.running ?? 0,
    runningByCouncil: {},
    waitMs: { p50: 0, p99: over.waitP99 ?? 0, max: over.waitP99 ?? 0 },
    models: {},
    providers: {},
    loop: { waiting: { continue: 0, start: 0 }, parked: 0, batch: 16, sliceMs: 10 },
  };
}

let seq = 0;
function event(body: RunEventBody): RunEvent {
  return { v: 1, runId: 'run_1', seq: seq++, ts: 0, path: ['C'], ...body } as RunEvent;
}
const call = (model: string, latencyMs: number) =>
  event({
    type: 'model-call-finish',
    model,
    provider: 'simulated',
    inputTokens: 1,
    outputTokens: 1,
    costUsd: 0,
    latencyMs,
  });

/** A signal over fixed stats and thresholds, with a clock the test moves. */
function setup(now: { t: number }, current: SchedulerStats, options: ScaleSignalOptions = {}) {
  const box = { stats: current };
  const signal = new ScaleSignal(
    {
      stats: () => box.stats,
      latencyThresholdMs: (model) => (model === 'fast' ? 1000 : model === 'slow' ? 2000 : undefined),
    },
    { now: () => now.t, ...options },
  );
  return { signal, box };
}

describe('ScaleSignal', () => {
  it('asks for nothing when idle, and never for fewer than minWorkers', () => {
    const now = { t: 1_000_000 };
    const { signal } = setup(now, stats(), { workers: 3, minWorkers: 2 });
    const r = signal.read();
    expect(r).toMatchObject({
      currentWorkers: 3,
      desiredWorkers: 2,
      scaleUp: false,
      scaleDown: true,
      ratio: 0,
    });
    expect(r.reasons).toEqual([]);
  });

  it('scales with queue depth: ceil(workers × queued / target), clamped to maxWorkers', () => {
    const now = { t: 1_000_000 };
    const { signal, box } = setup(now, stats({ queued: 20 }), {
      workers: 2,
      targetQueueDepth: 8,
      maxWorkers: 6,
    });
    let r = signal.read();
    expect(r.desiredWorkers).toBe(5); // ceil(2 × 20 / 8)
    expect(r.scaleUp).toBe(true);
    expect(r.reasons).toEqual([
      expect.objectContaining({ signal: 'queue-depth', value: 20, target: 8, ratio: 2.5 }),
    ]);
    expect(r.reasons[0]?.message).toBe('20 runs waiting for admission (target 8 per worker)');
    box.stats = stats({ queued: 200 });
    r = signal.read();
    expect(r.desiredWorkers).toBe(6);
    // Within the tolerance around the target nothing changes (no flapping).
    box.stats = stats({ queued: 8 });
    expect(signal.read()).toMatchObject({ desiredWorkers: 2, scaleUp: false, scaleDown: false, reasons: [] });
  });

  it('uses the admission waits of the window, and the scheduler p99 only while runs wait', () => {
    const now = { t: 1_000_000 };
    const { signal, box } = setup(now, stats({ waitP99: 5000 }), { workers: 1, targetWaitP99Ms: 1000 });
    // An old p99 with nothing waiting and no admission in the window is no reason.
    expect(signal.read()).toMatchObject({ desiredWorkers: 1, signals: { waitP99Ms: 0 } });
    box.stats = stats({ queued: 1, waitP99: 5000 });
    expect(signal.read()).toMatchObject({ desiredWorkers: 5, signals: { waitP99Ms: 5000 } });
    box.stats = stats();
    for (const waitedMs of [100, 200, 3000])
      signal.observe(event({ type: 'run-queued', priority: 'normal', waitedMs }));
    let r = signal.read();
    expect(r.signals.waitP99Ms).toBe(3000);
    expect(r.desiredWorkers).toBe(3);
    expect(r.reasons[0]).toMatchObject({ signal: 'wait-p99', value: 3000, target: 1000 });
    expect(r.reasons[0]?.message).toBe('admission wait p99 3000 ms in the last 60 s (target 1000 ms)');
    // Out of the window they no longer count.
    now.t += 60_001;
    r = signal.read();
    expect(r.signals.waitP99Ms).toBe(0);
    expect(r.scaleUp).toBe(false);
  });

  it('raises the signal on a latency spike: slow share over target, per model, with its threshold', () => {
    const now = { t: 1_000_000 };
    const { signal } = setup(now, stats(), { workers: 2, targetSlowShare: 0.1, minCalls: 5 });
    // Four calls, all slow: fewer than minCalls, no reason yet.
    for (let i = 0; i < 4; i++) signal.observe(call('fast', 1500));
    expect(signal.read().reasons).toEqual([]);
    for (let i = 0; i < 6; i++) signal.observe(call('fast', 100));
    signal.observe(call('slow', 2500));
    signal.observe(call('unjudged', 99_000));
    const r = signal.read();
    expect(r.models).toEqual([
      { model: 'fast', calls: 10, slowCalls: 4, slowShare: 0.4, p99Ms: 1500, thresholdMs: 1000 },
      { model: 'slow', calls: 1, slowCalls: 1, slowShare: 1, p99Ms: 2500, thresholdMs: 2000 },
      { model: 'unjudged', calls: 1, slowCalls: 0, slowShare: 0, p99Ms: 99_000, thresholdMs: null },
    ]);
    expect(r.signals.slowShare).toBe(0.4);
    expect(r.desiredWorkers).toBe(8); // ceil(2 × 0.4 / 0.1)
    expect(r.scaleUp).toBe(true);
    expect(r.reasons).toEqual([
      expect.objectContaining({ signal: 'model-latency', model: 'fast', value: 0.4, target: 0.1 }),
    ]);
    expect(r.reasons[0]?.message).toBe(
      'fast: 4 of 10 calls (40%) over its 1000 ms latency threshold in the last 60 s (target 10%)',
    );
    // A failed call that took too long (a timeout) is a slow call too.
    signal.observe(
      event({
        type: 'model-call-error',
        model: 'fast',
        provider: 'simulated',
        latencyMs: 30_000,
        error: { code: 'provider_error', message: 'timed out', isRetryable: true },
      }),
    );
    expect(signal.read().models[0]).toMatchObject({ calls: 11, slowCalls: 5 });
    now.t += 60_001;
    expect(signal.read()).toMatchObject({ models: [], reasons: [] });
  });

  it('orders reasons by ratio and follows a live worker count', () => {
    const now = { t: 1_000_000 };
    let workers = 1;
    const { signal } = setup(now, stats({ queued: 16 }), { workers: () => workers, targetQueueDepth: 8 });
    for (let i = 0; i < 10; i++) signal.observe(call('fast', 5000));
    let r = signal.read();
    expect(r.reasons.map((x) => x.signal)).toEqual(['model-latency', 'queue-depth']);
    expect(r.desiredWorkers).toBe(10);
    workers = 3;
    r = signal.read();
    expect(r.currentWorkers).toBe(3);
    expect(r.desiredWorkers).toBe(30);
  });

  it('names a bad option exactly', () => {
    const inputs = { stats: () => stats(), latencyThresholdMs: () => undefined };
    expect(() => new ScaleSignal(inputs, { targetQueueDepth: 0 })).toThrow(
      expect.objectContaining({
        code: 'config_invalid',
        location: { path: 'ScaleSignalOptions.targetQueueDepth' },
      }),
    );
    expect(() => new ScaleSignal(inputs, { targetSlowShare: 5 })).toThrow(
      expect.objectContaining({ location: { path: 'ScaleSignalOptions.targetSlowShare' } }),
    );
    expect(() => new ScaleSignal(inputs, { minWorkers: 4, maxWorkers: 2 })).toThrow(
      expect.objectContaining({ location: { path: 'ScaleSignalOptions.maxWorkers' } }),
    );
  });

  it('forHarness: real runs of a harness feed it, with the thresholds of the registry', async () => {
    const harness = new Harness({
      models: [{ id: 'sim', type: 'simulated', latencyMs: 30, latencyThresholdMs: 10 }],
      councils: [{ name: 'C', memory: 'memory://', agents: [{ name: 'A', model: 'sim' }] }],
      journal: false,
    });
    const signal = ScaleSignal.forHarness(harness, { minCalls: 1, workers: 1 });
    try {
      const result = await harness.run('C', 'hello there');
      expect(result.status).toBe('succeeded');
      const r = signal.read();
      expect(r.models).toEqual([
        expect.objectContaining({ model: 'sim', calls: 1, slowCalls: 1, thresholdMs: 10 }),
      ]);
      expect(r.scaleUp).toBe(true);
      expect(r.reasons[0]?.model).toBe('sim');
      signal.close();
      await harness.run('C', 'again');
      expect(signal.read().models[0]?.calls).toBe(1);
    } finally {
      signal.close();
      await harness.stop();
    }
  });
});
