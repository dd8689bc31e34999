/**
 * The memory-pressure healer (seed §5.2, "memory exhaustion"): watches the V8 heap against its
 * limit on a timer. Above the high watermark it evicts what can be rebuilt (skill caches and
 * other registered evictors) and sheds new work: `shedding` is on and new runs are refused with
 * an `overloaded` error that carries a retry-after. It recovers once the heap is below the low
 * watermark, so a heap hovering at the line does not flap in and out of shedding.
 */
import { HarnessError } from '../errors.ts';
import type { Probe } from './probe.ts';
import { type HeapUsage, heapUsage } from './process-probe.ts';

/**
 * The error new work gets while the harness sheds load: code `overloaded`, retryable, with
 * `details.retryAfterMs` (plus any `details` given).
 */
export function overloadedError(
  retryAfterMs: number,
  reason = 'the process is under memory pressure',
  details: Record<string, unknown> = {},
): HarnessError {
  return new HarnessError('overloaded', `new work refused for now: ${reason}`, {
    isRetryable: true,
    hint: `retry in ${Math.ceil(retryAfterMs / 1000)} s (details.retryAfterMs); if it lasts, give the process more memory (--max-old-space-size, the container limit) or run fewer councils per process`,
    details: { ...details, retryAfterMs },
  });
}

export interface MemoryPressureOptions {
  /** Heap used / heap limit at or above which shedding starts (default 0.85). */
  highWatermark?: number;
  /** Heap used / heap limit below which shedding ends (default `highWatermark - 0.1`, so 0.75; at least half of it). */
  lowWatermark?: number;
  /** Between two looks at the heap once started, ms (default 1 000). */
  intervalMs?: number;
  /** The wait refused callers are told to take, ms (default 5 000). */
  retryAfterMs?: number;
  /** Where heap use comes from (default {@link heapUsage}: the old generation against `--max-old-space-size`). */
  heap?: () => HeapUsage;
  now?: () => number;
}

/** What the healer sees and does. */
export interface MemoryPressureState {
  /** True while new work is refused. */
  shedding: boolean;
  /** While shedding: what refused callers are told to wait, ms. */
  retryAfterMs?: number;
  /** While shedding: epoch ms when it started. */
  since?: number;
  heapUsedBytes: number;
  heapLimitBytes: number;
  /** `heapUsedBytes / heapLimitBytes` at the last look. */
  ratio: number;
  highWatermark: number;
  lowWatermark: number;
  /** Times shedding started, since the healer was built. */
  episodes: number;
  /** Evictor calls made, since the healer was built. */
  evictions: number;
  /** Epoch ms of the last look (0 before the first). */
  checkedAt: number;
}

/** Drops something that can be rebuilt (a cache's `clear`); may be async. */
export type Evictor = () => void | Promise<void>;

export class MemoryPressure {
  readonly #high: number;
  readonly #low: number;
  readonly #intervalMs: number;
  readonly #retryAfterMs: number;
  readonly #heap: () => HeapUsage;
  readonly #now: () => number;
  readonly #evictors = new Set<Evictor>();
  readonly #listeners = new Set<(state: MemoryPressureState) => void>();
  #timer: NodeJS.Timeout | undefined;
  #shedding = false;
  #since = 0;
  #episodes = 0;
  #evictions = 0;
  #last: HeapUsage = { used: 0, limit: 0 };
  #checkedAt = 0;

  constructor(options: MemoryPressureOptions = {}) {
    this.#high = ratioOption(options.highWatermark, 0.85, 'highWatermark');
    this.#low = ratioOption(options.lowWatermark, Math.max(this.#high / 2, this.#high - 0.1), 'lowWatermark');
    if (this.#low >= this.#high) {
      throw new HarnessError(
        'config_invalid',
        `MemoryPressureOptions.lowWatermark (${this.#low}) must be below highWatermark (${this.#high})`,
        {
          hint: 'leave a gap (e.g. 0.75 and 0.85) so shedding does not flap at the line',
          details: { option: 'MemoryPressureOptions.lowWatermark' },
        },
      );
    }
    this.#intervalMs = positive(options.intervalMs, 1_000, 'intervalMs');
    this.#retryAfterMs = positive(options.retryAfterMs, 5_000, 'retryAfterMs');
    this.#heap = options.heap ?? heapUsage;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Registers something to drop under pressure (e.g. a skill cache's `clear`). Evictors run when
   * shedding starts and again at every look while the heap stays above the high watermark. A
   * throwing (or rejecting) evictor does not stop the others. Returns an unregister function.
   */
  onPressure(evict: Evictor): () => void {
    this.#evictors.add(evict);
    return () => this.#evictors.delete(evict);
  }

  /** Calls `listener` when shedding starts or ends, with the state then. */
  onChange(listener: (state: MemoryPressureState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Looks now and every `intervalMs` until `stop()`; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    this.check();
    this.#timer = setInterval(() => this.check(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** True while new work is refused (as of the last look). */
  get shedding(): boolean {
    return this.#shedding;
  }

  /** Looks at the heap now, evicts and starts or ends shedding as needed, and returns the state. */
  check(): MemoryPressureState {
    const heap = this.#heap();
    this.#last = heap;
    this.#checkedAt = this.#now();
    const ratio = heap.limit > 0 ? heap.used / heap.limit : 0;
    let changed = false;
    if (ratio >= this.#high) {
      if (!this.#shedding) {
        this.#shedding = true;
        this.#since = this.#checkedAt;
        this.#episodes++;
        changed = true;
      }
      this.#evict();
    } else if (this.#shedding && ratio < this.#low) {
      this.#shedding = false;
      changed = true;
    }
    const state = this.state();
    if (changed) {
      for (const listener of this.#listeners) {
        try {
          listener(state);
        } catch {
          // A failing listener must not stop the healer or the other listeners.
        }
      }
    }
    return state;
  }

  /** The state as of the last look, without looking again. */
  state(): MemoryPressureState {
    const { used, limit } = this.#last;
    return {
      shedding: this.#shedding,
      ...(this.#shedding ? { retryAfterMs: this.#retryAfterMs, since: this.#since } : {}),
      heapUsedBytes: used,
      heapLimitBytes: limit,
      ratio: limit > 0 ? used / limit : 0,
      highWatermark: this.#high,
      lowWatermark: this.#low,
      episodes: this.#episodes,
      evictions: this.#evictions,
      checkedAt: this.#checkedAt,
    };
  }

  /** Throws {@link overloadedError} while shedding; what `Harness.run` calls before taking new work. */
  throwIfShedding(): void {
    if (!this.#shedding) return;
    const state = this.state();
    throw overloadedError(
      this.#retryAfterMs,
      `the heap is at ${Math.round(state.ratio * 100)}% of its limit (sheds above ${Math.round(this.#high * 100)}%, until below ${Math.round(this.#low * 100)}%)`,
      { heapUsedBytes: state.heapUsedBytes, heapLimitBytes: state.heapLimitBytes },
    );
  }

  /**
   * A probe (`memory-pressure`, kind `process`) that is `down` while shedding, so `/readyz` takes
   * the process out of a load balancer until it recovers (critical by default).
   */
  probe(options: { name?: string; critical?: boolean } = {}): Probe {
    return {
      name: options.name ?? 'memory-pressure',
      kind: 'process',
      critical: options.critical ?? true,
      check: async () => {
        const state = this.running ? this.state() : this.check();
        const percent = `${Math.round(state.ratio * 100)}% of the heap limit`;
        return state.shedding
          ? { status: 'down', detail: `shedding new work: ${percent}`, data: { ...state } }
          : { status: 'up', detail: percent, data: { ...state } };
      },
    };
  }

  #evict(): void {
    for (const evict of this.#evictors) {
      this.#evictions++;
      try {
        const done = evict();
        if (done instanceof Promise) done.catch(() => {});
      } catch {
        // One evictor failing must not keep the others from freeing memory.
      }
    }
  }
}

function ratioOption(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(value > 0 && value <= 1)) {
    throw new HarnessError(
      'config_invalid',
      `MemoryPressureOptions.${name} must be a ratio in (0, 1], got ${value}`,
      {
        hint: 'a share of the heap limit, e.g. 0.85 for 85%',
        details: { option: `MemoryPressureOptions.${name}` },
      },
    );
  }
  return value;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new HarnessError(
      'config_invalid',
      `MemoryPressureOptions.${name} must be a positive number of ms, got ${value}`,
      {
        hint: `leave it out for the default (${fallback} ms)`,
        details: { option: `MemoryPressureOptions.${name}` },
      },
    );
  }
  return value;
}
