/**
 * Event-loop pacing: under load, the work of runs is cut into turns of the event loop that each
 * last about `sliceMs`, so timers, health probes, `/metrics` and new requests are served within
 * tens of milliseconds however many runs are in flight (ADR 0008).
 *
 * A run's work comes in segments: from its start to its first model call, then from each model
 * answer to the next call. Nothing bounds a segment's length but the code in it (AI SDK post-
 * processing, journal writes, events), so the gate sits where segments begin: a run's start and a
 * model's answer (the gateway asks through {@link CallLimiter.pace}). While the loop's current turn
 * has run for less than `sliceMs` and nobody waits, an answer passes at once (no promise, one clock
 * read); otherwise it waits in a FIFO queue. A new run always waits for a later turn: its work runs
 * after the code that started it (a loop submitting a thousand runs), where no clock read at the
 * gate could see it, so new runs only ever start in released batches. Each turn releases a batch
 * of waiters, the batch steered so that a turn lasts about `sliceMs`: it halves after a turn that
 * ran long and grows after a short one. Continuations of running runs go before new runs, so work
 * already started finishes first and a burst of new runs cannot crowd out the answers of those in
 * flight.
 *
 * One gate per process is the useful unit (all harnesses of a process share its loop), hence
 * {@link sharedLoopGate}; the scheduler uses it unless its options say otherwise.
 */
import type { LoopPace } from '../../gateway/limiter.ts';

/** The longest a turn of the loop should run while work waits, ms (the default). */
export const defaultLoopSliceMs = 5;

/** Counters of a gate, for `/health` and the scheduler's stats. */
export interface LoopGateStats {
  /** Segments waiting now: continuations of running runs and runs about to start. */
  waiting: { continue: number; start: number };
  /** Segments that had to wait, since the gate was made. */
  parked: number;
  /** Waiters the next turn releases (steered toward turns of `sliceMs`). */
  batch: number;
  sliceMs: number;
}

/** A FIFO of resolvers without `Array.shift` costs (a head index, compacted when half empty). */
class Waiters {
  #items: Array<() => void> = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(resolve: () => void): void {
    this.#items.push(resolve);
  }

  shift(): (() => void) | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const resolve = this.#items[this.#head] as () => void;
    this.#items[this.#head] = noop;
    this.#head += 1;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return resolve;
  }
}

const noop = () => {};
const minBatch = 1;
const maxBatch = 4096;

export class LoopGate {
  readonly sliceMs: number;
  /** `performance.now()` at the first pass of the current turn; -1 between turns. */
  #sliceStart = -1;
  readonly #continues = new Waiters();
  readonly #starts = new Waiters();
  #batch = 16;
  #pumping = false;
  /** When the previous release ran (-1: none since the queue was last empty). */
  #lastPump = -1;
  #parked = 0;

  /** `sliceMs` 0 turns pacing off: every segment passes at once. */
  constructor(sliceMs: number = defaultLoopSliceMs) {
    if (!(Number.isFinite(sliceMs) && sliceMs >= 0)) {
      throw new RangeError(`LoopGate sliceMs must be a number ≥ 0 (got ${sliceMs})`);
    }
    this.sliceMs = sliceMs;
  }

  /**
   * Undefined when the segment may run now; else a promise that resolves in a later turn. `start`:
   * a new run (always a promise: it waits for a later turn, behind every continuation);
   * `continue`: work of a run in flight.
   */
  readonly pass: LoopPace = (kind = 'continue') => {
    if (this.sliceMs === 0) return undefined;
    const now = performance.now();
    if (this.#sliceStart < 0) {
      this.#sliceStart = now;
      setImmediate(this.#endTurn);
    }
    const ahead = kind === 'continue' ? this.#continues.size : this.#continues.size + this.#starts.size;
    if (kind === 'continue' && ahead === 0 && now - this.#sliceStart < this.sliceMs) return undefined;
    this.#parked += 1;
    return new Promise<void>((resolve) => {
      (kind === 'continue' ? this.#continues : this.#starts).push(resolve);
      if (!this.#pumping) {
        this.#pumping = true;
        setImmediate(this.#pump);
      }
    });
  };

  stats(): LoopGateStats {
    return {
      waiting: { continue: this.#continues.size, start: this.#starts.size },
      parked: this.#parked,
      batch: this.#batch,
      sliceMs: this.sliceMs,
    };
  }

  readonly #endTurn = (): void => {
    this.#sliceStart = -1;
  };

  /** Once per turn while anything waits: releases a batch sized from the last turn's length. */
  readonly #pump = (): void => {
    const now = performance.now();
    if (this.#lastPump >= 0) {
      // The time since the last release is one turn: what it released plus everything else the
      // loop ran. Steer the batch toward a turn of sliceMs, at most doubling or halving at once.
      const turn = Math.max(now - this.#lastPump, 0.01);
      const factor = Math.min(2, Math.max(0.5, this.sliceMs / turn));
      this.#batch = Math.min(maxBatch, Math.max(minBatch, Math.round(this.#batch * factor)));
    }
    for (let n = this.#batch; n > 0; n--) {
      const resolve = this.#continues.shift() ?? this.#starts.shift();
      if (resolve === undefined) break;
      resolve();
    }
    if (this.#continues.size + this.#starts.size > 0) {
      this.#lastPump = now;
      setImmediate(this.#pump);
    } else {
      this.#pumping = false;
      this.#lastPump = -1;
    }
  };
}

let shared: LoopGate | undefined;

/** The process's gate at the default slice (made on first use). */
export function sharedLoopGate(): LoopGate {
  shared ??= new LoopGate();
  return shared;
}
