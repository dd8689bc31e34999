/**
 * The scale signal (seed §5.2, "latency spike": route to fallback and raise the scale signal): how
 * many workers this load asks for, and why. It reads the scheduler's queue depth, the admission
 * wait of recent runs (`run-queued.waitedMs`), and model latency (`model-call-finish.latencyMs`,
 * and `model-call-error.latencyMs`, against the model entry's `latencyThresholdMs`), and turns each
 * into a ratio of observed to target. The desired worker count follows the rule of the Kubernetes
 * HPA: `ceil(workers × highest ratio)`, unchanged within a tolerance, clamped to min..max.
 *
 * The signal says what it sees; it scales nothing itself. `/health` and the metrics show it, and
 * an autoscaler (KEDA, the HPA on a custom metric, a supervisor) acts on it. Falling back to
 * another model on a slow call is the gateway's part.
 */
import { HarnessError } from '../errors.ts';
import type { RunEvent } from '../runtime/events.ts';
import { checkOption } from '../runtime/scheduler/check-option.ts';
import type { SchedulerStats } from '../runtime/scheduler/types.ts';

/** Targets and bounds of a {@link ScaleSignal}; every field has a default. */
export interface ScaleSignalOptions {
  /** Workers running now: a number or a function read at each `read()` (default 1). */
  workers?: number | (() => number);
  /** Fewest workers it ever asks for (default 1). */
  minWorkers?: number;
  /** Most workers it ever asks for (default 32). */
  maxWorkers?: number;
  /** Runs waiting for admission in one worker that its capacity is sized for (default 8). */
  targetQueueDepth?: number;
  /** Admission wait p99 one worker should stay under, ms (default 1 000). */
  targetWaitP99Ms?: number;
  /**
   * Share of a model's calls slower than its `latencyThresholdMs` that is still normal, 0..1
   * (default 0.1). Models without a threshold are not judged.
   */
  targetSlowShare?: number;
  /** Calls of a model in the window before its slow share counts (default 5): one slow call is no spike. */
  minCalls?: number;
  /** How far back waits and model latencies are looked at, ms (default 60 000). */
  windowMs?: number;
  /** Ratios within 1 ± this change nothing (default 0.1): no flapping around the target. */
  tolerance?: number;
  /** Clock, epoch ms (default `Date.now`). */
  now?: () => number;
}

/** A signal over its target. */
export interface ScaleReason {
  signal: 'queue-depth' | 'wait-p99' | 'model-latency';
  /** What was observed: runs queued, ms, or a share 0..1. */
  value: number;
  target: number;
  /** `value / target`. */
  ratio: number;
  /** `model-latency` only: the model. */
  model?: string;
  /** One line for people, e.g. `gpt-4o: 4 of 10 calls (40%) over its 2000 ms threshold in the last 60 s (target 10%)`. */
  message: string;
}

/** Latency of one model in the window. */
export interface ModelLatency {
  model: string;
  /** Calls that ended in the window (finished or failed). */
  calls: number;
  /** Of those, calls slower than the threshold. */
  slowCalls: number;
  /** `slowCalls / calls` (0 without calls). */
  slowShare: number;
  /** Nearest-rank p99 of their latency, ms. */
  p99Ms: number;
  /** The model entry's `latencyThresholdMs`, or null when it has none. */
  thresholdMs: number | null;
}

/** One reading of the signal. */
export interface ScaleReading {
  /** Epoch ms. */
  at: number;
  currentWorkers: number;
  desiredWorkers: number;
  /** `desiredWorkers > currentWorkers`. */
  scaleUp: boolean;
  /** `desiredWorkers < currentWorkers`: the load fits in fewer. */
  scaleDown: boolean;
  /** The signals over target, highest ratio first; empty when none is. */
  reasons: ScaleReason[];
  /** The highest ratio of all signals (0 when idle); `desiredWorkers` follows from it. */
  ratio: number;
  /** Runs queued now (all priorities), runs running now, admission wait p99 (ms) and the worst slow share. */
  signals: { queueDepth: number; running: number; waitP99Ms: number; slowShare: number };
  /** Models with calls in the window. */
  models: ModelLatency[];
}

/** What {@link ScaleSignal.forHarness} needs of a harness (a `Harness` is one). */
export interface ScaleSignalSource {
  subscribe(listener: (event: RunEvent) => void, options?: { tokenDeltas?: boolean }): () => void;
  readonly scheduler: { stats(): SchedulerStats };
  readonly registry: {
    has(id: string): boolean;
    entry(id: string): { latencyThresholdMs?: number | undefined };
  };
}

/** Where the signal reads its inputs. */
export interface ScaleSignalInputs {
  /** The scheduler's stats now. */
  stats: () => SchedulerStats;
  /** A model's `latencyThresholdMs`, or undefined when it has none (its calls are not judged). */
  latencyThresholdMs: (model: string) => number | undefined;
}

/** Samples kept per model and of admission waits: bounds memory under a flood of calls. */
const maxSamples = 4096;

interface Sample {
  at: number;
  value: number;
}

/**
 * The scale signal: feed it events (`observe`, or `forHarness` subscribes), `read()` it when
 * `/health` or the metrics ask.
 */
export class ScaleSignal {
  readonly #inputs: ScaleSignalInputs;
  readonly #workers: () => number;
  readonly #min: number;
  readonly #max: number;
  readonly #targetQueue: number;
  readonly #targetWait: number;
  readonly #targetSlow: number;
  readonly #minCalls: number;
  readonly #windowMs: number;
  readonly #tolerance: number;
  readonly #now: () => number;
  readonly #latencies = new Map<string, Sample[]>();
  readonly #waits: Sample[] = [];
  #unsubscribe: (() => void) | undefined;

  constructor(inputs: ScaleSignalInputs, options: ScaleSignalOptions = {}) {
    const at = (key: string) => `ScaleSignalOptions.${key}`;
    if (typeof options.workers !== 'function') {
      checkOption(at('workers'), options.workers, { min: 0, integer: true });
    }
    checkOption(at('minWorkers'), options.minWorkers, { min: 0, integer: true });
    checkOption(at('maxWorkers'), options.maxWorkers, { min: 1, integer: true });
    checkOption(at('targetQueueDepth'), options.targetQueueDepth, { min: 0, exclusive: true });
    checkOption(at('targetWaitP99Ms'), options.targetWaitP99Ms, { min: 0, exclusive: true });
    checkOption(at('targetSlowShare'), options.targetSlowShare, { min: 0, exclusive: true });
    checkOption(at('minCalls'), options.minCalls, { min: 1, integer: true });
    checkOption(at('windowMs'), options.windowMs, { min: 0, exclusive: true });
    checkOption(at('tolerance'), options.tolerance, { min: 0 });
    if (options.targetSlowShare !== undefined && options.targetSlowShare > 1) {
      throw invalid(
        at('targetSlowShare'),
        `is a share of calls, 0..1, got ${options.targetSlowShare}`,
        'e.g. 0.1 for 10%',
      );
    }
    this.#inputs = inputs;
    const workers = options.workers ?? 1;
    this.#workers = typeof workers === 'function' ? workers : () => workers;
    this.#min = options.minWorkers ?? 1;
    this.#max = options.maxWorkers ?? 32;
    if (this.#min > this.#max) {
      throw invalid(
        at('maxWorkers'),
        `(${this.#max}) is below minWorkers (${this.#min})`,
        'raise maxWorkers or lower minWorkers',
      );
    }
    this.#targetQueue = options.targetQueueDepth ?? 8;
    this.#targetWait = options.targetWaitP99Ms ?? 1000;
    this.#targetSlow = options.targetSlowShare ?? 0.1;
    this.#minCalls = options.minCalls ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#tolerance = options.tolerance ?? 0.1;
    this.#now = options.now ?? Date.now;
  }

  /**
   * A signal fed by every run of `harness` (its scheduler's stats, its registry's latency
   * thresholds, looked up at each call so a reload counts); `close()` unsubscribes.
   */
  static forHarness(harness: ScaleSignalSource, options: ScaleSignalOptions = {}): ScaleSignal {
    const signal = new ScaleSignal(
      {
        stats: () => harness.scheduler.stats(),
        latencyThresholdMs: (model) =>
          harness.registry.has(model) ? harness.registry.entry(model).latencyThresholdMs : undefined,
      },
      options,
    );
    signal.#unsubscribe = harness.subscribe((event) => signal.observe(event), { tokenDeltas: false });
    return signal;
  }

  /** Takes what it needs from one run event (admission waits, model call latencies). */
  observe(event: RunEvent): void {
    if (event.type === 'run-queued') push(this.#waits, { at: this.#now(), value: event.waitedMs });
    else if (event.type === 'model-call-finish' || event.type === 'model-call-error') {
      let samples = this.#latencies.get(event.model);
      if (!samples) {
        samples = [];
        this.#latencies.set(event.model, samples);
      }
      push(samples, { at: this.#now(), value: event.latencyMs });
    }
  }

  /** The signal now. */
  read(): ScaleReading {
    const at = this.#now();
    const since = at - this.#windowMs;
    const windowS = Math.round(this.#windowMs / 1000);
    const stats = this.#inputs.stats();
    const queueDepth = stats.queued.high + stats.queued.normal + stats.queued.low;
    prune(this.#waits, since);
    // The scheduler's own p99 is over its last admissions however old: without admissions in the
    // window it only counts while runs are waiting now.
    const waitP99Ms =
      this.#waits.length > 0
        ? percentile(
            this.#waits.map((s) => s.value),
            0.99,
          )
        : queueDepth > 0
          ? stats.waitMs.p99
          : 0;
    const reasons: ScaleReason[] = [];
    const ratios: number[] = [];
    const consider = (reason: Omit<ScaleReason, 'ratio' | 'message'>, message: string) => {
      const ratio = reason.value / reason.target;
      ratios.push(ratio);
      if (ratio > 1 + this.#tolerance) reasons.push({ ...reason, ratio, message });
    };
    consider(
      { signal: 'queue-depth', value: queueDepth, target: this.#targetQueue },
      `${queueDepth} run${queueDepth === 1 ? '' : 's'} waiting for admission (target ${this.#targetQueue} per worker)`,
    );
    consider(
      { signal: 'wait-p99', value: waitP99Ms, target: this.#targetWait },
      `admission wait p99 ${Math.round(waitP99Ms)} ms in the last ${windowS} s (target ${this.#targetWait} ms)`,
    );
    const models: ModelLatency[] = [];
    let slowShare = 0;
    for (const [model, samples] of this.#latencies) {
      prune(samples, since);
      if (samples.length === 0) {
        this.#latencies.delete(model);
        continue;
      }
      const threshold = this.#inputs.latencyThresholdMs(model);
      const values = samples.map((s) => s.value);
      const slowCalls = threshold === undefined ? 0 : values.filter((v) => v > threshold).length;
      const share = slowCalls / values.length;
      models.push({
        model,
        calls: values.length,
        slowCalls,
        slowShare: share,
        p99Ms: percentile(values, 0.99),
        thresholdMs: threshold ?? null,
      });
      if (threshold === undefined || values.length < this.#minCalls) continue;
      slowShare = Math.max(slowShare, share);
      consider(
        { signal: 'model-latency', value: share, target: this.#targetSlow, model },
        `${model}: ${slowCalls} of ${values.length} calls (${Math.round(share * 100)}%) over its ${threshold} ms latency threshold in the last ${windowS} s (target ${Math.round(this.#targetSlow * 100)}%)`,
      );
    }
    models.sort((a, b) => a.model.localeCompare(b.model));
    reasons.sort((a, b) => b.ratio - a.ratio);
    const ratio = Math.max(0, ...ratios);
    const current = this.#workers();
    const wanted = Math.abs(ratio - 1) <= this.#tolerance ? current : Math.ceil(current * ratio);
    const desired = Math.min(this.#max, Math.max(this.#min, wanted));
    return {
      at,
      currentWorkers: current,
      desiredWorkers: desired,
      scaleUp: desired > current,
      scaleDown: desired < current,
      reasons,
      ratio,
      signals: { queueDepth, running: stats.running, waitP99Ms, slowShare },
      models,
    };
  }

  /** Stops listening to the harness (after {@link ScaleSignal.forHarness}). */
  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}

function invalid(path: string, what: string, hint: string): HarnessError {
  return new HarnessError('config_invalid', `${path} ${what}`, {
    location: { path },
    hint,
    details: { option: path },
  });
}

function push(samples: Sample[], sample: Sample): void {
  samples.push(sample);
  if (samples.length > maxSamples) samples.splice(0, samples.length - maxSamples);
}

/** Drops samples at or before `since` (they arrive in time order). */
function prune(samples: Sample[], since: number): void {
  let drop = 0;
  while (drop < samples.length && (samples[drop] as Sample).at <= since) drop++;
  if (drop > 0) samples.splice(0, drop);
}

/** Nearest-rank percentile, `q` in 0..1 (0 for no values). */
function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
