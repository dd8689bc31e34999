/**
 * `installTelemetry(harness)`: one subscription to every run's events that feeds the spans, the
 * Prometheus metrics and the cost ledger, with the metrics' scrape-time gauges reading the
 * harness's scheduler, skill caches and model registry.
 */
import type { Tracer } from '@opentelemetry/api';
import type { RunEvent } from '../runtime/events.ts';
import type { SchedulerStats } from '../runtime/scheduler/types.ts';
import type { AnySkill } from '../runtime/skill.ts';
import { cacheStats } from '../skills/cache.ts';
import { CostLedger, type CostLedgerOptions } from './ledger.ts';
import { createMetrics, type ForgeMetrics, type MetricsOptions } from './metrics.ts';
import { createSpanRecorder, type SpanRecorder } from './spans.ts';

/** What telemetry reads from a harness; `Harness` has all of it. */
export interface TelemetrySource {
  /** Every event of every run (`Harness.subscribe`). */
  subscribe(listener: (event: RunEvent) => void, options?: { tokenDeltas?: boolean }): () => void;
  /** Queue depth and waits, read at each scrape. */
  readonly scheduler?: { stats(): Pick<SchedulerStats, 'queued' | 'running' | 'waitMs'> };
  /** Model ids (breaker gauges) and provider model names (span attributes), read when used. */
  readonly registry?: { ids(): string[]; has(id: string): boolean; entry(id: string): { model?: string } };
  /** Skills whose result caches feed the cache hit/miss counters, read at each scrape. */
  readonly skills?: { names(): string[]; get(name: string): AnySkill | undefined };
  /** The run journal, read only for ledgers of runs no longer in memory. */
  readonly journal?: { events(runId: string): Iterable<RunEvent> } | undefined;
}

/** Options of {@link installTelemetry}; all optional. */
export interface TelemetryOptions {
  /** `false` records no spans (default: spans through `@opentelemetry/api`'s global tracer provider). */
  spans?: boolean;
  /** The tracer spans go to instead of the global provider's. */
  tracer?: Tracer;
  /** Metric settings (registry, error-rate window, latency buckets); the sources come from the harness. */
  metrics?: Omit<MetricsOptions, 'scheduler' | 'skillCaches' | 'models'>;
  /** Ledger settings (finished runs kept in memory); older runs come from the harness's journal. */
  ledger?: Omit<CostLedgerOptions, 'journal'>;
}

/** What {@link installTelemetry} set up. */
export interface Telemetry {
  /** Prometheus metrics: serve `metrics.metrics()` at `/metrics` (see `metricsResponse`). */
  readonly metrics: ForgeMetrics;
  /** Cost ledger: `ledger.ledgerOf(runId)`. */
  readonly ledger: CostLedger;
  /** The span recorder; undefined with `spans: false`. */
  readonly spans: SpanRecorder | undefined;
  /** Unsubscribes and ends spans still open; metrics and ledgers stay readable. Idempotent. */
  close(): void;
}

/**
 * Subscribes spans, metrics and the cost ledger to every run of `harness`:
 *
 * ```ts
 * const telemetry = installTelemetry(harness);
 * app.get('/metrics', () => metricsResponse(telemetry.metrics));
 * telemetry.ledger.ledgerOf(run.runId)?.totals.costUsd;
 * ```
 *
 * The listener does O(1) work per event and ignores `token-delta`.
 *
 * @throws HarnessError `config_invalid` for bad metric or ledger options (see `createMetrics`, `CostLedger`).
 */
export function installTelemetry(harness: TelemetrySource, options: TelemetryOptions = {}): Telemetry {
  const metrics = createMetrics({
    ...options.metrics,
    ...(harness.scheduler === undefined ? {} : { scheduler: harness.scheduler }),
    ...(harness.skills === undefined ? {} : { skillCaches: () => cachedSkills(harness) }),
    ...(harness.registry === undefined ? {} : { models: () => harness.registry?.ids() ?? [] }),
  });
  const ledger = new CostLedger({ ...options.ledger, journal: () => harness.journal });
  const spans =
    options.spans === false
      ? undefined
      : createSpanRecorder({
          ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
          modelName: (id) => {
            const registry = harness.registry;
            return registry?.has(id) ? registry.entry(id).model : undefined;
          },
        });
  const unsubscribe = harness.subscribe(
    (event) => {
      if (event.type === 'token-delta') return;
      spans?.observe(event);
      metrics.observe(event);
      ledger.observe(event);
    },
    { tokenDeltas: false },
  );
  let closed = false;
  return {
    metrics,
    ledger,
    spans,
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      spans?.close();
    },
  };
}

function* cachedSkills(
  harness: TelemetrySource,
): Iterable<readonly [string, { hits: number; misses: number }]> {
  const skills = harness.skills;
  if (!skills) return;
  for (const name of skills.names()) {
    const skill = skills.get(name);
    const stats = skill && cacheStats(skill);
    if (stats) yield [name, stats];
  }
}
