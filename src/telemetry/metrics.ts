/**
 * Prometheus metrics (prom-client) fed by run events, plus gauges read from the scheduler, the
 * skill caches and the process when Prometheus scrapes. Every metric lives in the registry of
 * one {@link ForgeMetrics}, not in prom-client's global one, so two harnesses in a process do not
 * collide (merge registries with `Registry.merge` to serve both).
 *
 * Label values come from configuration (council, agent and model ids, skill names) or from closed
 * sets (status, error code, direction, priority): user input never becomes a label, so the
 * number of series stays bounded.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HarnessError } from '../errors.ts';
import type { RunEvent } from '../runtime/events.ts';
import type { SchedulerStats } from '../runtime/scheduler/types.ts';
import { endedStatus } from './run-status.ts';

/** Every metric name {@link createMetrics} registers (histograms add `_bucket`, `_sum`, `_count`). */
export const metricNames = [
  'agent_latency_seconds',
  'agent_error_rate',
  'memory_usage_bytes',
  'forge_tokens_total',
  'forge_cost_usd_total',
  'forge_model_calls_total',
  'forge_model_call_duration_seconds',
  'forge_model_fallbacks_total',
  'forge_model_retries_total',
  'forge_runs_total',
  'forge_runs_in_flight',
  'forge_queue_depth',
  'forge_queue_wait_seconds',
  'forge_skill_cache_hits_total',
  'forge_skill_cache_misses_total',
  'forge_breaker_state',
] as const;

/** Latency buckets of `agent_latency_seconds` and `forge_model_call_duration_seconds`, seconds. */
export const defaultLatencyBuckets: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The window of `agent_error_rate`, ms: 5 minutes. */
export const defaultErrorRateWindowMs = 300_000;

/** `forge_breaker_state` values. */
export const breakerStates = { closed: 0, halfOpen: 1, open: 2 } as const;

/** Where the scrape-time gauges read from; each is optional (absent: the gauge has no series). */
export interface MetricsSources {
  /** Queue depth, waits and runs in flight (`Harness.scheduler`). */
  scheduler?: { stats(): Pick<SchedulerStats, 'queued' | 'running' | 'waitMs'> };
  /**
   * Hit and miss counters of every cached skill, by skill name. Counters that went down (a cache
   * cleared under memory pressure) count as restarted, so the Prometheus counters never decrease.
   */
  skillCaches?: () => Iterable<readonly [name: string, stats: { hits: number; misses: number }]>;
  /** The model ids in use: each has a `forge_breaker_state` series (0, closed) before any breaker event. */
  models?: () => Iterable<string>;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions extends MetricsSources {
  /** Register into this registry instead of a new one (it must not hold these metric names yet). */
  registry?: Registry;
  /** Window of `agent_error_rate` in ms (default 300 000: five minutes). */
  errorRateWindowMs?: number;
  /** Buckets of the latency histograms, seconds (default {@link defaultLatencyBuckets}). */
  latencyBuckets?: readonly number[];
}

/** The metrics of one harness. */
export interface ForgeMetrics {
  /** The prom-client registry holding every metric; `registry.metrics()` is the `/metrics` body. */
  readonly registry: Registry;
  /** The event listener: O(1) work per event; `token-delta` is ignored. */
  observe(event: RunEvent): void;
  /** The Prometheus text exposition of every metric (what `/metrics` serves). */
  metrics(): Promise<string>;
  /** The content type of {@link ForgeMetrics.metrics}'s text. */
  readonly contentType: string;
}

/** Agent turns and failed ones in a sliding window: ten slots, so a read is at most a slot stale. */
class ErrorWindow {
  static readonly slots = 10;
  readonly #slotMs: number;
  readonly #epoch = new Array<number>(ErrorWindow.slots).fill(-1);
  readonly #turns = new Array<number>(ErrorWindow.slots).fill(0);
  readonly #errors = new Array<number>(ErrorWindow.slots).fill(0);

  constructor(windowMs: number) {
    this.#slotMs = windowMs / ErrorWindow.slots;
  }

  add(ts: number, failed: boolean): void {
    const epoch = Math.floor(ts / this.#slotMs);
    const i = epoch % ErrorWindow.slots;
    if (this.#epoch[i] !== epoch) {
      this.#epoch[i] = epoch;
      this.#turns[i] = 0;
      this.#errors[i] = 0;
    }
    this.#turns[i] = (this.#turns[i] ?? 0) + 1;
    if (failed) this.#errors[i] = (this.#errors[i] ?? 0) + 1;
  }

  /** Errors / turns over the window ending at `now`; 0 without turns. */
  rate(now: number): number {
    const current = Math.floor(now / this.#slotMs);
    let turns = 0;
    let errors = 0;
    for (let i = 0; i < ErrorWindow.slots; i++) {
      const epoch = this.#epoch[i] ?? -1;
      if (epoch > current - ErrorWindow.slots && epoch <= current) {
        turns += this.#turns[i] ?? 0;
        errors += this.#errors[i] ?? 0;
      }
    }
    return turns === 0 ? 0 : errors / turns;
  }
}

interface RunState {
  council: string;
  /** Agent turns open, by path: start time (ms). */
  agents: Map<string, number>;
}

/**
 * Builds the metrics of one harness and registers them in a new prom-client registry (or
 * `options.registry`). Feed it with `harness.subscribe(metrics.observe, { tokenDeltas: false })`, or let
 * `installTelemetry` do it.
 *
 * @throws HarnessError `config_invalid` when `options.registry` already holds one of these metrics,
 *   or when `errorRateWindowMs` or a bucket is not a positive number.
 */
export function createMetrics(options: MetricsOptions = {}): ForgeMetrics {
  const registry = options.registry ?? new Registry();
  const windowMs = options.errorRateWindowMs ?? defaultErrorRateWindowMs;
  if (!(Number.isFinite(windowMs) && windowMs > 0)) {
    throw new HarnessError(
      'config_invalid',
      `createMetrics.errorRateWindowMs: ${windowMs} is not a positive number`,
      {
        location: { path: 'createMetrics.errorRateWindowMs' },
        hint: 'give the window in milliseconds, e.g. 300000 for five minutes',
      },
    );
  }
  const buckets = [...(options.latencyBuckets ?? defaultLatencyBuckets)];
  const badBucket = buckets.findIndex((b) => !(Number.isFinite(b) && b > 0));
  if (badBucket !== -1) {
    throw new HarnessError(
      'config_invalid',
      `createMetrics.latencyBuckets[${badBucket}]: ${buckets[badBucket]} is not a positive number of seconds`,
      {
        location: { path: `createMetrics.latencyBuckets[${badBucket}]` },
        hint: 'buckets are upper bounds in seconds, e.g. [0.1, 0.5, 1, 5, 30]',
      },
    );
  }
  const taken = metricNames.find((name) => registry.getSingleMetric(name) !== undefined);
  if (taken !== undefined) {
    throw new HarnessError('config_invalid', `createMetrics.registry already has a metric named ${taken}`, {
      location: { path: 'createMetrics.registry' },
      hint: 'give each harness its own registry (the default) and merge them with Registry.merge to serve one /metrics',
    });
  }
  const registers = [registry];

  const agentLatency = new Histogram({
    name: 'agent_latency_seconds',
    help: 'Duration of an agent turn (memory, model calls and tools), seconds; failed turns included, aborted ones not.',
    labelNames: ['council', 'agent'] as const,
    buckets,
    registers,
  });
  const windows = new Map<string, { council: string; agent: string; window: ErrorWindow }>();
  new Gauge({
    name: 'agent_error_rate',
    help: `Failed agent turns / agent turns over the last ${windowMs / 1000} s (aborted turns not counted); 0 without turns.`,
    labelNames: ['council', 'agent'] as const,
    registers,
    collect() {
      const now = Date.now();
      for (const { council, agent, window } of windows.values())
        this.set({ council, agent }, window.rate(now));
    },
  });
  new Gauge({
    name: 'memory_usage_bytes',
    help: 'Memory of this process, bytes, by type (rss, heap_used, heap_total, external, array_buffers).',
    labelNames: ['type'] as const,
    registers,
    collect() {
      const m = process.memoryUsage();
      this.set({ type: 'rss' }, m.rss);
      this.set({ type: 'heap_used' }, m.heapUsed);
      this.set({ type: 'heap_total' }, m.heapTotal);
      this.set({ type: 'external' }, m.external);
      this.set({ type: 'array_buffers' }, m.arrayBuffers);
    },
  });
  const tokens = new Counter({
    name: 'forge_tokens_total',
    help: 'Tokens of model calls as the provider reported them, by model and direction (input, output).',
    labelNames: ['model', 'direction'] as const,
    registers,
  });
  const cost = new Counter({
    name: 'forge_cost_usd_total',
    help: "Cost of model calls in USD, from the registry's prices (0 for models without prices).",
    labelNames: ['model'] as const,
    registers,
  });
  const calls = new Counter({
    name: 'forge_model_calls_total',
    help: 'Model call attempts by model and outcome: ok, or the error code of a failed attempt (rate_limited, timeout, ...).',
    labelNames: ['model', 'outcome'] as const,
    registers,
  });
  const callDuration = new Histogram({
    name: 'forge_model_call_duration_seconds',
    help: 'Provider latency of a model call attempt, seconds (failed attempts included, aborted ones not).',
    labelNames: ['model'] as const,
    buckets,
    registers,
  });
  const fallbacks = new Counter({
    name: 'forge_model_fallbacks_total',
    help: 'The gateway moved from one model of a fallback chain to the next.',
    labelNames: ['from', 'to'] as const,
    registers,
  });
  const retries = new Counter({
    name: 'forge_model_retries_total',
    help: 'The same model was tried again after a failure (Retry-After or backoff).',
    labelNames: ['model'] as const,
    registers,
  });
  const runsTotal = new Counter({
    name: 'forge_runs_total',
    help: 'Runs ended, by council and status (succeeded, failed, aborted, limit_exceeded); council is empty for runs refused before they started.',
    labelNames: ['council', 'status'] as const,
    registers,
  });
  const { scheduler, skillCaches, models } = options;
  new Gauge({
    name: 'forge_runs_in_flight',
    help: 'Runs admitted by the scheduler and not yet finished.',
    registers,
    collect() {
      if (scheduler) this.set(scheduler.stats().running);
    },
  });
  new Gauge({
    name: 'forge_queue_depth',
    help: 'Runs waiting for admission, by priority (high, normal, low).',
    labelNames: ['priority'] as const,
    registers,
    collect() {
      if (!scheduler) return;
      const { queued } = scheduler.stats();
      for (const priority of ['high', 'normal', 'low'] as const) this.set({ priority }, queued[priority]);
    },
  });
  new Gauge({
    name: 'forge_queue_wait_seconds',
    help: 'Wait before admission over recent admissions, seconds: quantile 0.5, 0.99 and 1 (the longest).',
    labelNames: ['quantile'] as const,
    registers,
    collect() {
      if (!scheduler) return;
      const { waitMs } = scheduler.stats();
      this.set({ quantile: '0.5' }, waitMs.p50 / 1000);
      this.set({ quantile: '0.99' }, waitMs.p99 / 1000);
      this.set({ quantile: '1' }, waitMs.max / 1000);
    },
  });
  const seen = new Map<string, { hits: number; misses: number }>();
  const cacheDelta = (last: number, now: number) => (now >= last ? now - last : now);
  // Both counters' collects bring both up to date: the second finds nothing new, so a scrape of
  // either one alone (or both, in any order) is right.
  const syncCaches = () => {
    if (!skillCaches) return;
    for (const [skill, stats] of skillCaches()) {
      const last = seen.get(skill) ?? { hits: 0, misses: 0 };
      hits.inc({ skill }, cacheDelta(last.hits, stats.hits));
      misses.inc({ skill }, cacheDelta(last.misses, stats.misses));
      seen.set(skill, { hits: stats.hits, misses: stats.misses });
    }
  };
  const hits: Counter<'skill'> = new Counter({
    name: 'forge_skill_cache_hits_total',
    help: 'Skill calls answered by the skill result cache (or by joining an identical call in flight), by skill.',
    labelNames: ['skill'] as const,
    registers,
    collect: syncCaches,
  });
  const misses: Counter<'skill'> = new Counter({
    name: 'forge_skill_cache_misses_total',
    help: 'Skill calls the skill result cache could not answer (the skill ran), by skill.',
    labelNames: ['skill'] as const,
    registers,
    collect: syncCaches,
  });
  const breakerSet = new Set<string>();
  const breaker = new Gauge({
    name: 'forge_breaker_state',
    help: 'Circuit breaker of a model: 0 closed, 1 half-open, 2 open.',
    labelNames: ['model'] as const,
    registers,
    collect() {
      if (!models) return;
      for (const model of models()) {
        if (!breakerSet.has(model)) {
          breakerSet.add(model);
          this.set({ model }, breakerStates.closed);
        }
      }
    },
  });

  const runs = new Map<string, RunState>();

  function agentEnded(
    event: RunEvent & { agent: string },
    failed: boolean,
    durationMs: number | undefined,
  ): void {
    const run = runs.get(event.runId);
    const key = event.path.join('\u001f');
    const started = run?.agents.get(key);
    run?.agents.delete(key);
    const council = event.path[0] ?? '';
    const ms = durationMs ?? (started === undefined ? undefined : event.ts - started);
    if (ms !== undefined) agentLatency.observe({ council, agent: event.agent }, ms / 1000);
    const windowKey = `${council}\u001f${event.agent}`;
    let entry = windows.get(windowKey);
    if (!entry) {
      entry = { council, agent: event.agent, window: new ErrorWindow(windowMs) };
      windows.set(windowKey, entry);
    }
    entry.window.add(event.ts, failed);
  }

  function observe(event: RunEvent): void {
    switch (event.type) {
      case 'token-delta':
        return;
      case 'run-start':
        runs.set(event.runId, { council: event.council, agents: new Map() });
        return;
      case 'run-finish':
      case 'run-error': {
        // Only a run that started names its council: a refused request's name may be anything.
        const council = runs.get(event.runId)?.council ?? '';
        runs.delete(event.runId);
        runsTotal.inc({ council, status: endedStatus(event) ?? 'failed' });
        return;
      }
      case 'agent-start':
        runs.get(event.runId)?.agents.set(event.path.join('\u001f'), event.ts);
        return;
      case 'agent-finish':
        agentEnded(event, false, event.durationMs);
        return;
      case 'agent-error':
        if (event.error.code === 'aborted') {
          runs.get(event.runId)?.agents.delete(event.path.join('\u001f'));
          return;
        }
        agentEnded(event, true, undefined);
        return;
      case 'model-call-finish':
        tokens.inc({ model: event.model, direction: 'input' }, event.inputTokens);
        tokens.inc({ model: event.model, direction: 'output' }, event.outputTokens);
        cost.inc({ model: event.model }, event.costUsd);
        calls.inc({ model: event.model, outcome: 'ok' });
        callDuration.observe({ model: event.model }, event.latencyMs / 1000);
        return;
      case 'model-call-error':
        calls.inc({ model: event.model, outcome: event.error.code });
        if (event.error.code !== 'aborted')
          callDuration.observe({ model: event.model }, event.latencyMs / 1000);
        return;
      case 'model-fallback':
        fallbacks.inc({ from: event.from, to: event.to });
        return;
      case 'model-retry':
        retries.inc({ model: event.model });
        return;
      default:
        breakerEvent(event);
    }
  }

  /** `breaker-open` / `breaker-half-open` / `breaker-close` with a `model` field (gateway events). */
  function breakerEvent(event: RunEvent): void {
    const type = event.type as string;
    const state =
      type === 'breaker-open'
        ? breakerStates.open
        : type === 'breaker-half-open'
          ? breakerStates.halfOpen
          : type === 'breaker-close'
            ? breakerStates.closed
            : undefined;
    const model = (event as { model?: unknown }).model;
    if (state === undefined || typeof model !== 'string') return;
    breakerSet.add(model);
    breaker.set({ model }, state);
  }

  return {
    registry,
    observe,
    metrics: () => registry.metrics(),
    get contentType() {
      return registry.contentType;
    },
  };
}

/**
 * The `/metrics` answer as a web `Response` (text exposition and its content type), for any
 * framework that serves those: `app.get('/metrics', () => metricsResponse(telemetry.metrics))`.
 */
export async function metricsResponse(
  metrics: Pick<ForgeMetrics, 'metrics' | 'contentType'>,
): Promise<Response> {
  const body = await metrics.metrics();
  return new Response(body, { status: 200, headers: { 'content-type': metrics.contentType } });
}
