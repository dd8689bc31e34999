/**
 * The scheduler contract: run admission (priority queues with aging, concurrency caps per
 * council and global, a tenant quota hook) and the model-call limiter the gateway consults.
 */
import type { CallLimiter } from '../../gateway/limiter.ts';
import type { LoopGateStats } from './loop-gate.ts';

export type Priority = 'high' | 'normal' | 'low';

/** A run asking to start. */
export interface RunTicket {
  runId: string;
  council: string;
  tenant: string;
  priority: Priority;
}

/** Queue depth and wait times, for metrics and `/health`. */
export interface SchedulerStats {
  /** Runs waiting, per priority. */
  queued: Record<Priority, number>;
  /** Runs admitted and not yet released. */
  running: number;
  /** Running per council. */
  runningByCouncil: Record<string, number>;
  /** Wait before admission, milliseconds: the 50th and 99th percentile of recent admissions. */
  waitMs: { p50: number; p99: number; max: number };
  /** Model-call limiter state per model id (buckets, concurrency limit, blocked-until). */
  models: Record<string, ModelLimiterStats>;
  /** Per provider type buckets (only those configured under `providers`). */
  providers: Record<string, ProviderLimiterStats>;
  /** Event-loop pacing: segments of work waiting for a turn of the loop. */
  loop: LoopGateStats;
}

/** A token bucket as observed now. */
export interface BucketStats {
  /** Size of the bucket: requests or tokens per minute. */
  capacity: number;
  /** What may be taken now (negative while a call larger than the bucket is being paid off). */
  available: number;
  /** `configured` from the model entry or scheduler options, `learned` from rate-limit headers. */
  source: 'configured' | 'learned';
}

/** The call limiter's view of one model. */
export interface ModelLimiterStats {
  /** Calls holding a permit. */
  inFlight: number;
  /** Calls waiting for a permit. */
  waiting: number;
  /** Adaptive concurrency limit now (1 ≤ limit ≤ maxConcurrency). */
  concurrencyLimit: number;
  maxConcurrency: number;
  /** Epoch ms until which the model is blocked by a 429 or an exhausted provider window; absent when not blocked. */
  blockedUntil?: number;
  /** Requests-per-minute bucket, when configured or learned. */
  requests?: BucketStats;
  /** Tokens-per-minute bucket, when configured or learned. */
  tokens?: BucketStats;
  /** Calls granted, and 429s seen, since the scheduler was created. */
  granted: number;
  rateLimited: number;
}

/** The call limiter's view of one provider type. */
export interface ProviderLimiterStats {
  requests?: BucketStats;
  tokens?: BucketStats;
}

/** Requests and tokens per minute shared by every model of one provider type. */
export interface ProviderRateLimits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens per minute (estimated at acquire, corrected with actual usage). */
  tpm?: number;
}

/** Options of `createScheduler`; every field is optional. YAML: the top-level `scheduler:` map. */
export interface SchedulerOptions {
  /** Runs executing at once across the harness (default 256). */
  maxConcurrentRuns?: number;
  /** Runs waiting for a slot; one more is refused with `overloaded` (default 10 000). */
  maxQueuedRuns?: number;
  /** A waiting run's priority rises one level every this many ms, so low never starves (default 5 000). */
  agingMs?: number;
  /** Per council name: its own cap on concurrent runs (within the global one). */
  councils?: Record<string, { maxConcurrentRuns?: number }>;
  /** Per provider type (`openai`, `anthropic`, ...): buckets shared by all its models. */
  providers?: Record<string, ProviderRateLimits>;
  /**
   * Called for every run before it is queued; throw a `quota_exceeded` HarnessError to refuse it
   * (the server uses it per tenant). Other errors refuse the run as they are.
   */
  quota?: (ticket: RunTicket) => void | Promise<void>;
  /** Concurrency of a model whose entry sets no `rateLimits.maxConcurrency` (default 64). */
  defaultMaxConcurrency?: number;
  /**
   * Event-loop pacing, ms: while work waits, the loop's turns are kept to about this long, so
   * timers, probes and new requests are served within tens of ms under any load (default 5; 0
   * turns pacing off). YAML `scheduler.loop_slice_ms`. See ADR 0008.
   */
  loopSliceMs?: number;
}

export interface Scheduler {
  /** The limiter every gateway call of the harness goes through. */
  readonly limiter: CallLimiter;
  /**
   * Resolves when the run may start, with a function that releases its slot (call once when the
   * run ends). Rejects with `quota_exceeded` from the tenant quota hook, `overloaded` when the
   * queue is full, or `aborted`.
   */
  admit(ticket: RunTicket, signal: AbortSignal): Promise<() => void>;
  stats(): SchedulerStats;
}
