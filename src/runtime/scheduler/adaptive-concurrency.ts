/**
 * Adaptive concurrency for one model (AIMD): the limit starts at `max`, halves when the provider
 * pushes back (429, overloaded, a call slower than the model's latency threshold) and grows by one
 * per success, within 1 ≤ limit ≤ max.
 *
 * Every back-off opens a new epoch, and only calls started in the current epoch move the limit: a
 * burst of 429s answering calls that were all sent before the first one came back halves the limit
 * once, not once per call, and successes of calls sent before the back-off do not undo it.
 */
export type ConcurrencySignal = 'success' | 'slow' | 'pushback' | 'neutral';

export class AdaptiveConcurrency {
  #max: number;
  #limit: number;
  #epoch = 0;

  /** @param max the ceiling and starting limit (≥ 1). */
  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
    this.#limit = this.#max;
  }

  get limit(): number {
    return this.#limit;
  }

  get max(): number {
    return this.#max;
  }

  /** Stamp a call with this when it starts, and hand it back to {@link record}. */
  get epoch(): number {
    return this.#epoch;
  }

  /** A new ceiling (the entry changed); the limit is capped by it and grows towards it. */
  setMax(max: number): void {
    this.#max = Math.max(1, Math.floor(max));
    this.#limit = Math.min(this.#limit, this.#max);
  }

  /** How a call started in `epoch` ended. */
  record(epoch: number, signal: ConcurrencySignal): void {
    if (epoch !== this.#epoch || signal === 'neutral') return;
    if (signal === 'success') {
      this.#limit = Math.min(this.#max, this.#limit + 1);
      return;
    }
    this.#limit = Math.max(1, Math.floor(this.#limit / 2));
    this.#epoch += 1;
  }
}
