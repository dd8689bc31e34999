/**
 * `createScheduler`: run admission and the model-call limiter in one object.
 *
 * Admission: a run first passes the quota hook, then starts at once when the global and its
 * council's caps allow and nobody eligible is waiting, else waits in the {@link AgingQueue}
 * (priority with aging, FIFO within a level). A release starts the next eligible runs. Nothing
 * polls: the queue only moves on admit, release and abort.
 */
import { HarnessError } from '../../errors.ts';
import { AgingQueue, type QueueEntry } from './aging-queue.ts';
import { createCallLimiter, type SchedulerCallLimiter } from './call-limiter.ts';
import { checkOption } from './check-option.ts';
import { defaultLoopSliceMs, LoopGate, sharedLoopGate } from './loop-gate.ts';
import type { Priority, RunTicket, Scheduler, SchedulerOptions, SchedulerStats } from './types.ts';

/** Defaults of {@link SchedulerOptions}. */
export const schedulerDefaults = {
  maxConcurrentRuns: 256,
  maxQueuedRuns: 10_000,
  agingMs: 5000,
} as const;

/** Admissions whose wait feeds the percentiles, and runs whose duration feeds `retryAfterMs`. */
const window = 1024;

interface Waiter {
  ticket: RunTicket;
  enqueuedAt: number;
  resolve: (release: () => void) => void;
  signal: AbortSignal;
  onAbort: (() => void) | undefined;
}

/** The scheduler with its concrete limiter (which reports per-model state). */
export interface HarnessScheduler extends Scheduler {
  readonly limiter: SchedulerCallLimiter;
}

/**
 * Builds a scheduler. Options are checked here: a bad value is a `config_invalid` HarnessError
 * naming the option (e.g. `SchedulerOptions.councils.Support.maxConcurrentRuns`).
 */
export function createScheduler(options: SchedulerOptions = {}): HarnessScheduler {
  validate(options);
  const maxRuns = options.maxConcurrentRuns ?? schedulerDefaults.maxConcurrentRuns;
  const maxQueued = options.maxQueuedRuns ?? schedulerDefaults.maxQueuedRuns;
  const queue = new AgingQueue<Waiter>(options.agingMs ?? schedulerDefaults.agingMs);
  const gate =
    options.loopSliceMs === undefined || options.loopSliceMs === defaultLoopSliceMs
      ? sharedLoopGate()
      : new LoopGate(options.loopSliceMs);
  const limiter = createCallLimiter({
    pace: gate.pass,
    ...(options.providers === undefined ? {} : { providers: options.providers }),
    ...(options.defaultMaxConcurrency === undefined
      ? {}
      : { defaultMaxConcurrency: options.defaultMaxConcurrency }),
  });
  const byCouncil = new Map<string, number>();
  const waits = new Ring(window);
  const durations = new Ring(window);
  let running = 0;

  const capOf = (council: string) =>
    Object.hasOwn(options.councils ?? {}, council)
      ? (options.councils?.[council]?.maxConcurrentRuns ?? Number.POSITIVE_INFINITY)
      : Number.POSITIVE_INFINITY;
  const hasRoom = (waiter: Waiter) =>
    (byCouncil.get(waiter.ticket.council) ?? 0) < capOf(waiter.ticket.council);

  function start(ticket: RunTicket, waitedMs: number): () => void {
    running += 1;
    byCouncil.set(ticket.council, (byCouncil.get(ticket.council) ?? 0) + 1);
    waits.push(waitedMs);
    const started = Date.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      running -= 1;
      const left = (byCouncil.get(ticket.council) ?? 1) - 1;
      if (left > 0) byCouncil.set(ticket.council, left);
      else byCouncil.delete(ticket.council);
      durations.push(Date.now() - started);
      pump();
    };
  }

  function pump(): void {
    const now = Date.now();
    while (running < maxRuns) {
      const entry = queue.take(now, hasRoom);
      if (!entry) return;
      const waiter = entry.item;
      if (waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(start(waiter.ticket, now - waiter.enqueuedAt));
    }
  }

  /** How long a refused caller should wait: the queue ahead drained at the median run time. */
  function retryAfterMs(): number {
    const median = durations.percentile(0.5) ?? 1000;
    return Math.max(1000, Math.round(median * Math.ceil((queue.size + 1) / maxRuns)));
  }

  return {
    limiter,
    async admit(ticket: RunTicket, signal: AbortSignal): Promise<() => void> {
      if (!Object.hasOwn(levels, ticket.priority)) {
        throw new HarnessError('config_invalid', `unknown run priority "${String(ticket.priority)}"`, {
          location: { path: 'RunOptions.priority' },
          hint: 'use high, normal or low',
          details: { priority: ticket.priority },
        });
      }
      if (signal.aborted) throw abortedWhileQueued(ticket, signal);
      await options.quota?.(ticket);
      if (signal.aborted) throw abortedWhileQueued(ticket, signal);
      return new Promise<() => void>((resolve, reject) => {
        const now = Date.now();
        const waiter: Waiter = { ticket, enqueuedAt: now, resolve, signal, onAbort: undefined };
        const entry: QueueEntry<Waiter> = queue.push(waiter, ticket.priority, now);
        pump();
        if (!entry.queued) return;
        if (queue.size > maxQueued) {
          queue.remove(entry);
          reject(
            new HarnessError(
              'overloaded',
              `run ${ticket.runId} refused: ${maxQueued} runs are already waiting`,
              {
                isRetryable: true,
                hint: 'retry after details.retryAfterMs, or raise scheduler.max_queued_runs / max_concurrent_runs',
                details: { retryAfterMs: retryAfterMs(), queued: queue.size, maxQueuedRuns: maxQueued },
              },
            ),
          );
          return;
        }
        waiter.onAbort = () => {
          if (queue.remove(entry)) reject(abortedWhileQueued(ticket, signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      });
    },
    stats(): SchedulerStats {
      const limits = limiter.stats();
      return {
        queued: queue.sizes(),
        running,
        runningByCouncil: Object.fromEntries(byCouncil),
        waitMs: { p50: waits.percentile(0.5) ?? 0, p99: waits.percentile(0.99) ?? 0, max: waits.max() },
        models: limits.models,
        providers: limits.providers,
        loop: gate.stats(),
      };
    },
  };
}

const levels: Record<Priority, true> = { high: true, normal: true, low: true };

function abortedWhileQueued(ticket: RunTicket, signal: AbortSignal): HarnessError {
  return new HarnessError('aborted', `run ${ticket.runId} was aborted while waiting to start`, {
    cause: signal.reason,
  });
}

/** The last `size` values, for percentiles without unbounded memory. */
class Ring {
  readonly #values: number[] = [];
  readonly #size: number;
  #next = 0;

  constructor(size: number) {
    this.#size = size;
  }

  push(value: number): void {
    if (this.#values.length < this.#size) this.#values.push(value);
    else this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#size;
  }

  /** Nearest-rank percentile (`q` in 0..1), or undefined when empty. */
  percentile(q: number): number | undefined {
    if (this.#values.length === 0) return undefined;
    const sorted = [...this.#values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  }

  max(): number {
    return this.#values.reduce((a, b) => Math.max(a, b), 0);
  }
}

function validate(options: SchedulerOptions): void {
  const count = { min: 1, integer: true };
  checkOption('SchedulerOptions.maxConcurrentRuns', options.maxConcurrentRuns, count);
  checkOption('SchedulerOptions.maxQueuedRuns', options.maxQueuedRuns, { min: 0, integer: true });
  checkOption('SchedulerOptions.agingMs', options.agingMs, { min: 0, exclusive: true });
  checkOption('SchedulerOptions.defaultMaxConcurrency', options.defaultMaxConcurrency, count);
  checkOption('SchedulerOptions.loopSliceMs', options.loopSliceMs, { min: 0 });
  for (const [name, council] of Object.entries(options.councils ?? {})) {
    checkOption(`SchedulerOptions.councils.${name}.maxConcurrentRuns`, council.maxConcurrentRuns, count);
  }
  for (const [type, limits] of Object.entries(options.providers ?? {})) {
    checkOption(`SchedulerOptions.providers.${type}.rpm`, limits.rpm, { min: 0, exclusive: true });
    checkOption(`SchedulerOptions.providers.${type}.tpm`, limits.tpm, { min: 0, exclusive: true });
  }
  if (options.quota !== undefined && typeof options.quota !== 'function') {
    throw new HarnessError('config_invalid', 'SchedulerOptions.quota must be a function', {
      location: { path: 'SchedulerOptions.quota' },
      hint: 'pass (ticket) => void that throws a quota_exceeded HarnessError to refuse a run',
    });
  }
}
