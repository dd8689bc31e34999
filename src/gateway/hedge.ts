/**
 * Hedged requests: when the model called first has not produced its first token after a delay
 * (a fixed `afterMs`, or that model's p95 time to first token), the gateway sends the same call to
 * the next model of the chain as well; whichever produces output first wins and the other attempt
 * is aborted. Both attempts are events and ledger rows. This file holds the options and the
 * latency statistics the p95 comes from; the race itself is in the gateway model.
 */
import { HarnessError } from '../errors.ts';

/** YAML: `hedge: { after_ms: 800 }` or `hedge: { after: p95, max: 1 }` on a model entry (or `gateway:`). */
export interface HedgeOptions {
  /** Hedge after this many ms without a first token. With `after: 'p95'`: the delay until the p95 is known. */
  afterMs?: number;
  /**
   * `p95`: hedge after the model's 95th percentile time to first token (streams) or latency
   * (non-streaming calls) over its recent calls; until {@link minLatencySamples} calls are known
   * it uses `afterMs`, and without `afterMs` it does not hedge yet.
   */
  after?: 'p95';
  /** Hedged attempts one call may add, each after another delay (default 1). */
  max?: number;
}

/** Calls a model needs before its p95 is used. */
export const minLatencySamples = 20;

/** The delay before the next hedge, ms, or undefined when this call should not hedge (yet). */
export function hedgeDelay(hedge: HedgeOptions, p95: number | undefined): number | undefined {
  if (hedge.after === 'p95' && p95 !== undefined) return p95;
  return hedge.afterMs;
}

/** The same rules as the YAML schema, for options given in TS. */
export function checkHedge(hedge: HedgeOptions, at: string): void {
  const bad = (field: string, rule: string, value: unknown) =>
    new HarnessError('config_invalid', `${at}.${field} must be ${rule} (got ${String(value)})`, {
      location: { path: `${at}.${field}` },
      hint: "hedge: { afterMs: 800 } or { after: 'p95', max: 1 }",
    });
  if (hedge.afterMs !== undefined && !(Number.isFinite(hedge.afterMs) && hedge.afterMs >= 0))
    throw bad('afterMs', 'a number of ms ≥ 0', hedge.afterMs);
  if (hedge.after !== undefined && hedge.after !== 'p95') throw bad('after', "'p95'", hedge.after);
  if (hedge.max !== undefined && !(Number.isInteger(hedge.max) && hedge.max >= 1))
    throw bad('max', 'an integer ≥ 1', hedge.max);
  if (hedge.afterMs === undefined && hedge.after === undefined)
    throw bad('afterMs', "set (or after: 'p95')", undefined);
}

const window = 128;

/** Recent latencies of one model and kind of call. */
class Samples {
  readonly values = new Float64Array(window);
  count = 0;
  next = 0;
  /** p95 as last computed, and at which count. */
  p95: number | undefined;
  computedAt = -1;
}

/**
 * Recent latencies per model, ms: time to first token of streams and latency of non-streaming
 * calls, kept apart. Recording is O(1); the p95 is recomputed at most every 8 new samples.
 */
export class LatencyTracker {
  readonly #samples = new Map<string, Samples>();

  #of(model: string, stream: boolean): Samples {
    const key = stream ? `${model}\u0000s` : model;
    let samples = this.#samples.get(key);
    if (!samples) {
      samples = new Samples();
      this.#samples.set(key, samples);
    }
    return samples;
  }

  /** One successful call's time to first output (streams) or latency (generate), ms. */
  record(model: string, stream: boolean, ms: number): void {
    const samples = this.#of(model, stream);
    samples.values[samples.next] = ms;
    samples.next = (samples.next + 1) % window;
    samples.count += 1;
  }

  /** The 95th percentile of the model's recent calls, or undefined below {@link minLatencySamples}. */
  p95(model: string, stream: boolean): number | undefined {
    const samples = this.#of(model, stream);
    if (samples.count < minLatencySamples) return undefined;
    if (samples.p95 === undefined || samples.count - samples.computedAt >= 8) {
      const n = Math.min(samples.count, window);
      const sorted = samples.values.slice(0, n).sort();
      samples.p95 = sorted[Math.min(n - 1, Math.ceil(n * 0.95) - 1)] as number;
      samples.computedAt = samples.count;
    }
    return samples.p95;
  }
}
