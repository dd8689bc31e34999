import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HarnessError } from '../errors.ts';
import { EventLog, emptyUsage, type RunEvent } from '../runtime/events.ts';
import { createMetrics, type ForgeMetrics, metricNames } from './metrics.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** Value of one sample in the text exposition, or undefined when there is none. */
async function sample(metrics: ForgeMetrics, name: string, labels: Record<string, string> = {}) {
  const text = await metrics.metrics();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (
      Object.entries(labels).every(([k, v]) => got[k] === v) &&
      Object.keys(got).length === Object.keys(labels).length
    ) {
      return Number(match[3]);
    }
  }
  return undefined;
}

function feed(metrics: ForgeMetrics, runId = 'run_1') {
  const log = new EventLog(runId);
  log.subscribe((event: RunEvent) => metrics.observe(event));
  return log;
}

describe('metrics', () => {
  it('agent_error_rate is errors / turns over a sliding window; aborted turns do not count', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const metrics = createMetrics({ errorRateWindowMs: 60_000 });
    const log = feed(metrics);
    log.emit(['C'], { type: 'run-start', council: 'C', input: 'x' });
    const turn = (failed: boolean | 'aborted') => {
      log.emit(['C', 'A'], { type: 'agent-start', agent: 'A', model: 'm', input: 'x' });
      if (failed === false) {
        log.emit(['C', 'A'], {
          type: 'agent-finish',
          agent: 'A',
          output: '',
          usage: emptyUsage(),
          durationMs: 1500,
        });
      } else {
        const code = failed === 'aborted' ? 'aborted' : 'provider_error';
        log.emit(['C', 'A'], {
          type: 'agent-error',
          agent: 'A',
          error: { code, message: code, isRetryable: false },
        });
      }
    };
    turn(false);
    turn(true);
    turn(false);
    turn(true);
    turn('aborted');
    expect(await sample(metrics, 'agent_error_rate', { council: 'C', agent: 'A' })).toBe(0.5);
    expect(await sample(metrics, 'agent_latency_seconds_count', { council: 'C', agent: 'A' })).toBe(4);
    expect(
      await sample(metrics, 'agent_latency_seconds_bucket', { council: 'C', agent: 'A', le: '2.5' }),
    ).toBe(4);
    // Half a window later three good turns: 2 errors / 7 turns.
    vi.advanceTimersByTime(30_000);
    turn(false);
    turn(false);
    turn(false);
    expect(await sample(metrics, 'agent_error_rate', { council: 'C', agent: 'A' })).toBeCloseTo(2 / 7);
    // A window after the failures only the last three turns remain: no errors.
    vi.advanceTimersByTime(36_000);
    expect(await sample(metrics, 'agent_error_rate', { council: 'C', agent: 'A' })).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(await sample(metrics, 'agent_error_rate', { council: 'C', agent: 'A' })).toBe(0);
  });

  it('counts tokens, cost, attempts by outcome, fallbacks, retries and runs by status', async () => {
    const metrics = createMetrics();
    const log = feed(metrics);
    log.emit(['C'], { type: 'run-start', council: 'C', input: 'x' });
    const failure = { code: 'rate_limited', message: '429', isRetryable: true };
    log.emit(['C', 'A'], {
      type: 'model-call-error',
      model: 'm',
      provider: 'openai.chat',
      error: failure,
      latencyMs: 20,
    });
    log.emit(['C', 'A'], { type: 'model-retry', model: 'm', attempt: 2, delayMs: 10, reason: '429' });
    log.emit(['C', 'A'], {
      type: 'model-call-error',
      model: 'm',
      provider: 'openai.chat',
      error: failure,
      latencyMs: 20,
    });
    log.emit(['C', 'A'], { type: 'model-fallback', from: 'm', to: 'b', reason: '429' });
    log.emit(['C', 'A'], {
      type: 'model-call-finish',
      model: 'b',
      provider: 'anthropic.messages',
      inputTokens: 100,
      outputTokens: 20,
      costUsd: 0.25,
      latencyMs: 700,
    });
    log.emit(['C'], { type: 'run-finish', output: '', usage: emptyUsage(), durationMs: 1 });
    const aborted = feed(metrics, 'run_2');
    aborted.emit(['C'], { type: 'run-start', council: 'C', input: 'x' });
    const abort = { code: 'aborted', message: 'stop', isRetryable: false };
    aborted.emit(['C'], { type: 'run-error', error: abort, usage: emptyUsage(), durationMs: 1 });
    // A request for a council that does not exist never names a label.
    const refused = feed(metrics, 'run_3');
    const unknown = { code: 'unknown_council', message: 'no', isRetryable: false };
    refused.emit(['<script>'], { type: 'run-error', error: unknown, usage: emptyUsage(), durationMs: 0 });

    expect(await sample(metrics, 'forge_tokens_total', { model: 'b', direction: 'input' })).toBe(100);
    expect(await sample(metrics, 'forge_tokens_total', { model: 'b', direction: 'output' })).toBe(20);
    expect(await sample(metrics, 'forge_cost_usd_total', { model: 'b' })).toBe(0.25);
    expect(await sample(metrics, 'forge_model_calls_total', { model: 'm', outcome: 'rate_limited' })).toBe(2);
    expect(await sample(metrics, 'forge_model_calls_total', { model: 'b', outcome: 'ok' })).toBe(1);
    expect(await sample(metrics, 'forge_model_call_duration_seconds_count', { model: 'm' })).toBe(2);
    expect(await sample(metrics, 'forge_model_fallbacks_total', { from: 'm', to: 'b' })).toBe(1);
    expect(await sample(metrics, 'forge_model_retries_total', { model: 'm' })).toBe(1);
    expect(await sample(metrics, 'forge_runs_total', { council: 'C', status: 'succeeded' })).toBe(1);
    expect(await sample(metrics, 'forge_runs_total', { council: 'C', status: 'aborted' })).toBe(1);
    expect(await sample(metrics, 'forge_runs_total', { council: '', status: 'failed' })).toBe(1);
    expect(await metrics.metrics()).not.toContain('<script>');
  });

  it('reads queue, cache and breaker gauges at scrape time; cache counters never go down', async () => {
    const stats = {
      queued: { high: 1, normal: 4, low: 0 },
      running: 3,
      waitMs: { p50: 20, p99: 900, max: 1500 },
    };
    let cache = { hits: 5, misses: 2 };
    const metrics = createMetrics({
      scheduler: { stats: () => stats },
      skillCaches: () => [['Lookup', cache] as const],
      models: () => ['m', 'b'],
    });
    expect(await sample(metrics, 'forge_queue_depth', { priority: 'normal' })).toBe(4);
    expect(await sample(metrics, 'forge_runs_in_flight')).toBe(3);
    expect(await sample(metrics, 'forge_queue_wait_seconds', { quantile: '0.99' })).toBe(0.9);
    expect(await sample(metrics, 'forge_queue_wait_seconds', { quantile: '1' })).toBe(1.5);
    expect(await sample(metrics, 'forge_skill_cache_hits_total', { skill: 'Lookup' })).toBe(5);
    expect(await sample(metrics, 'forge_skill_cache_misses_total', { skill: 'Lookup' })).toBe(2);
    cache = { hits: 9, misses: 2 };
    expect(await sample(metrics, 'forge_skill_cache_hits_total', { skill: 'Lookup' })).toBe(9);
    // The cache was cleared (memory pressure) and has served 1 hit since: the counter goes on from 9.
    cache = { hits: 1, misses: 1 };
    expect(await sample(metrics, 'forge_skill_cache_hits_total', { skill: 'Lookup' })).toBe(10);
    expect(await sample(metrics, 'forge_skill_cache_misses_total', { skill: 'Lookup' })).toBe(3);
    stats.queued.normal = 0;
    expect(await sample(metrics, 'forge_queue_depth', { priority: 'normal' })).toBe(0);

    expect(await sample(metrics, 'forge_breaker_state', { model: 'm' })).toBe(0);
    const log = feed(metrics);
    const breaker = (type: string) => log.emit(['C', 'A'], { type, model: 'm' } as never);
    breaker('breaker-open');
    expect(await sample(metrics, 'forge_breaker_state', { model: 'm' })).toBe(2);
    breaker('breaker-half-open');
    expect(await sample(metrics, 'forge_breaker_state', { model: 'm' })).toBe(1);
    breaker('breaker-close');
    expect(await sample(metrics, 'forge_breaker_state', { model: 'm' })).toBe(0);
    expect(await sample(metrics, 'forge_breaker_state', { model: 'b' })).toBe(0);
  });

  it('registers every documented name, in its own registry, and refuses a registry that has them', async () => {
    const metrics = createMetrics();
    const text = await metrics.metrics();
    for (const name of metricNames) expect(text, name).toContain(`# TYPE ${name} `);
    expect(metrics.contentType).toContain('text/plain');
    const shared = new Registry();
    createMetrics({ registry: shared });
    const error = (() => {
      try {
        createMetrics({ registry: shared });
      } catch (e) {
        return e;
      }
    })();
    expect(HarnessError.isInstance(error) && error.code).toBe('config_invalid');
    expect((error as HarnessError).message).toContain('agent_latency_seconds');
    expect(() => createMetrics({ errorRateWindowMs: 0 })).toThrow(/errorRateWindowMs/);
    expect(() => createMetrics({ latencyBuckets: [1, -2] })).toThrow(/latencyBuckets\[1\]/);
  });
});
