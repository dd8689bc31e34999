/**
 * A per-minute token bucket: `capacity` units (requests or tokens per minute), refilled
 * continuously at `capacity / 60 000` per ms. Times are ms on the caller's clock, passed in, so
 * the bucket holds no timer and is trivially testable.
 *
 * A call larger than the whole bucket would never fit; it may go once the bucket is full and
 * leaves it in debt (a negative level), so the next callers wait for the excess to refill.
 */
import type { BucketStats } from './types.ts';

const minuteMs = 60_000;

export class TokenBucket {
  #capacity: number;
  #level: number;
  #updatedAt: number;
  /** `configured` from options or a model entry, `learned` from a provider's rate-limit headers. */
  source: BucketStats['source'];

  /** A full bucket of `perMinute` units at `now`. */
  constructor(perMinute: number, now: number, source: BucketStats['source'] = 'configured') {
    this.#capacity = perMinute;
    this.#level = perMinute;
    this.#updatedAt = now;
    this.source = source;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Units that may be taken at `now`. */
  available(now: number): number {
    this.#refill(now);
    return this.#level;
  }

  /** ms until `amount` may be taken (0: now). */
  waitMs(amount: number, now: number): number {
    this.#refill(now);
    const need = Math.min(amount, this.#capacity);
    if (this.#level >= need) return 0;
    return Math.ceil(((need - this.#level) * minuteMs) / this.#capacity);
  }

  /** Charges `amount` (call after {@link waitMs} said 0). */
  take(amount: number, now: number): void {
    this.#refill(now);
    this.#level -= amount;
  }

  /** Gives back (`delta > 0`) or charges more (`delta < 0`), e.g. estimate minus actual usage. */
  adjust(delta: number, now: number): void {
    this.#refill(now);
    this.#level = Math.min(this.#capacity, this.#level + delta);
  }

  /**
   * What the provider says remains in its window. Only ever lowers our level: the provider may not
   * yet count calls we have in flight, so a higher figure is not trusted.
   */
  observe(remaining: number, now: number): void {
    this.#refill(now);
    this.#level = Math.min(this.#level, remaining);
  }

  /** A new size (the entry or the provider's limit changed); the level keeps its fill, capped. */
  resize(perMinute: number, now: number): void {
    this.#refill(now);
    this.#capacity = perMinute;
    this.#level = Math.min(this.#level, perMinute);
  }

  stats(now: number): BucketStats {
    return { capacity: this.#capacity, available: Math.floor(this.available(now)), source: this.source };
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    if (elapsed > 0) {
      this.#level = Math.min(this.#capacity, this.#level + (elapsed * this.#capacity) / minuteMs);
      this.#updatedAt = now;
    }
  }
}
