/**
 * The scheduler contract: run admission (priority queues with aging, concurrency caps per
 * council and global, a tenant quota hook) and the model-call limiter the gateway consults.
 */
import type { CallLimiter } from '../../gateway/limiter.ts';

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
  models: Record<string, unknown>;
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
