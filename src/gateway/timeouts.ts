/**
 * The four timeouts of a model call: connect (until the response headers), first token (until
 * the first output part of a stream), between tokens (a stalled stream) and total. A timeout ends
 * the attempt with a retryable `provider_error` of kind `timeout`, which retries and falls back
 * like any transient failure — never an `aborted` error, which only the caller's signal causes.
 *
 * Nothing here runs unless a model has a timeout set: then an attempt gets one AbortController
 * and one timer, re-armed as the call moves from phase to phase (ARCHITECTURE §6).
 */
import { HarnessError } from '../errors.ts';

/**
 * Timeouts of one model, ms; unset ones do not apply. YAML: a model entry's (or `gateway:`'s)
 * `timeouts: { connect_ms, first_token_ms, between_tokens_ms, total_ms }`.
 *
 * A non-streaming call's response comes with its headers and its whole answer at once, so for
 * `generateText` `connectMs` and `firstTokenMs` both bound the time until the answer and
 * `betweenTokensMs` does not apply.
 */
export interface ModelTimeouts {
  /** Until the provider's response headers arrive. */
  connectMs?: number;
  /** Until the first output part (text, reasoning, tool call) of a stream; counted from the start of the attempt. */
  firstTokenMs?: number;
  /** Longest gap between two parts of a stream once output has begun (stall detection). */
  betweenTokensMs?: number;
  /** The whole attempt, from its start to the end of the answer. */
  totalMs?: number;
}

/** Which of the timeouts fired; `details.timeout` of the error. */
export type TimeoutPhase = 'connect' | 'first_token' | 'between_tokens' | 'total';

const phaseText: Record<TimeoutPhase, string> = {
  connect: 'no response',
  first_token: 'no first token',
  between_tokens: 'no new token',
  total: 'not finished',
};

/** Whether `timeouts` sets any timeout (an empty object sets none). */
export function hasTimeouts(timeouts: ModelTimeouts | undefined): timeouts is ModelTimeouts {
  return (
    timeouts !== undefined &&
    (timeouts.connectMs !== undefined ||
      timeouts.firstTokenMs !== undefined ||
      timeouts.betweenTokensMs !== undefined ||
      timeouts.totalMs !== undefined)
  );
}

/** The same rules for TS options as the YAML schema: positive ms. `at` names the option. */
export function checkTimeouts(timeouts: ModelTimeouts, at: string): void {
  for (const field of ['connectMs', 'firstTokenMs', 'betweenTokensMs', 'totalMs'] as const) {
    const value = timeouts[field];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new HarnessError(
        'config_invalid',
        `${at}.${field} must be a positive number of ms (got ${value})`,
        {
          location: { path: `${at}.${field}` },
          hint: 'leave a timeout out to not apply it',
        },
      );
    }
  }
}

/** The timeout failure of one attempt. */
export function timeoutError(model: string, phase: TimeoutPhase, ms: number): HarnessError {
  return new HarnessError(
    'provider_error',
    `model "${model}" timed out: ${phaseText[phase]} within ${ms} ms`,
    {
      isRetryable: true,
      hint: `the provider did not answer in time (${phase.replace('_', ' ')} timeout): raise timeouts.${phase}_ms or add a fallback model`,
      details: { model, kind: 'timeout', timeout: phase, timeoutMs: ms },
    },
  );
}

/**
 * Every running clock, watched by one timer set to the earliest deadline among them. A call that
 * ends long before its deadline (the usual case) costs a set insert and delete, not a timer; the
 * shared timer fires about once per shortest timeout, checks the clocks and sets itself again.
 */
const active = new Set<AttemptClock>();
let sharedTimer: NodeJS.Timeout | undefined;
/** When the shared timer fires, epoch ms (Infinity: not set). */
let sharedAt = Number.POSITIVE_INFINITY;

/** Makes the shared timer fire by `at`. A timer due in the past that has not fired is stale (fake timers in tests): replace it. */
function wake(at: number, now: number): void {
  if (at >= sharedAt && sharedAt >= now) return;
  if (sharedTimer !== undefined) clearTimeout(sharedTimer);
  sharedAt = at;
  sharedTimer = setTimeout(tick, Math.max(0, at - now));
  // The calls being timed keep the process alive by themselves; an idle timer must not.
  sharedTimer.unref?.();
}

function tick(): void {
  sharedTimer = undefined;
  sharedAt = Number.POSITIVE_INFINITY;
  const now = Date.now();
  let next = Number.POSITIVE_INFINITY;
  for (const clock of active) {
    const at = clock.check(now);
    if (at < next) next = at;
  }
  if (next !== Number.POSITIVE_INFINITY) wake(next, now);
}

/**
 * The clock of one attempt: its `signal` aborts the provider call when a timeout fires (or when
 * the caller's signal aborts), and `error` then holds the timeout failure. The attempt reports
 * its progress: {@link AttemptClock.connected}, {@link AttemptClock.firstOutput},
 * {@link AttemptClock.activity}; {@link AttemptClock.stop} when it ends.
 */
export class AttemptClock {
  readonly signal: AbortSignal;
  /** Set when a timeout fired. */
  error: HarnessError | undefined;
  readonly #controller = new AbortController();
  readonly #timeouts: ModelTimeouts;
  readonly #model: string;
  /** The attempt's start, moved later by the time the harness held it (see `hold`). */
  #started: number;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort: (() => void) | undefined;
  #phase: 'connect' | 'first_token' | 'between_tokens' | 'done';
  /** Epoch ms of the last part (between tokens). */
  #lastPart: number;
  /** The current deadline: when, which timeout, its length. */
  #at = Number.POSITIVE_INFINITY;
  #due: TimeoutPhase = 'total';
  #dueMs = 0;
  #reject: ((error: HarnessError) => void) | undefined;
  #onExpire: Array<() => void> | undefined;
  /** When the harness started holding the stream (see {@link AttemptClock.hold}); -1 when not held. */
  #heldAt = -1;

  constructor(timeouts: ModelTimeouts, model: string, caller: AbortSignal | undefined, started = Date.now()) {
    this.#timeouts = timeouts;
    this.#model = model;
    this.#started = started;
    this.#lastPart = started;
    this.#phase = 'connect';
    this.signal = this.#controller.signal;
    this.#caller = caller;
    if (caller) {
      if (caller.aborted) this.#controller.abort(caller.reason);
      else {
        this.#onCallerAbort = () => this.#controller.abort(caller.reason);
        caller.addEventListener('abort', this.#onCallerAbort, { once: true });
      }
    }
    active.add(this);
    this.#schedule(started);
  }

  /**
   * `pending`, or the timeout error if one fires first: a provider call that ignores its abort
   * signal still ends on time. One promise per call (cheaper than `Promise.race`).
   */
  race<T>(pending: PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.error) {
        reject(this.error);
        return;
      }
      this.#reject = reject;
      pending.then(resolve, reject);
    });
  }

  /** Runs `fn` when a timeout fires (e.g. cancel a stream reader whose source ignores the signal). */
  onExpire(fn: () => void): void {
    if (this.error) {
      fn();
      return;
    }
    this.#onExpire ??= [];
    this.#onExpire.push(fn);
  }

  /** The response headers arrived: the first-token phase begins (its time counts from the attempt start). */
  connected(): void {
    if (this.#phase !== 'connect') return;
    this.#phase = 'first_token';
    this.#schedule(Date.now());
  }

  /** The first output part arrived: from now on every part must follow the last within `betweenTokensMs`. */
  firstOutput(): void {
    if (this.#phase === 'between_tokens' || this.#phase === 'done') return;
    this.#phase = 'between_tokens';
    const now = Date.now();
    this.#lastPart = now;
    this.#schedule(now);
  }

  /** A part arrived (cheap: the deadline is moved when the timer looks at this clock). */
  activity(): void {
    if (this.#phase === 'between_tokens' && this.#timeouts.betweenTokensMs !== undefined) {
      this.#lastPart = Date.now();
    }
  }

  /**
   * The harness, not the provider, keeps the stream waiting (its turn on the event loop): no
   * timeout fires until {@link AttemptClock.resume}, and the time held counts toward none of them.
   */
  hold(): void {
    if (this.#phase !== 'done' && this.#heldAt < 0) this.#heldAt = Date.now();
  }

  /** Reading goes on after {@link AttemptClock.hold}: deadlines move on by the time held. */
  resume(): void {
    if (this.#heldAt < 0) return;
    const now = Date.now();
    this.#started += now - this.#heldAt;
    this.#heldAt = -1;
    if (this.#phase === 'done') return;
    this.#lastPart = now;
    this.#schedule(now);
  }

  /** The attempt ended: no timeout fires any more, and the caller's signal is let go. */
  stop(): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
    active.delete(this);
    if (this.#onCallerAbort) this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }

  /** Works out the current phase's deadline (the earliest of it and the total) and wakes the timer for it. */
  #schedule(now: number): void {
    const t = this.#timeouts;
    let at = Number.POSITIVE_INFINITY;
    let due: TimeoutPhase = 'total';
    let ms = 0;
    if (t.totalMs !== undefined) {
      at = this.#started + t.totalMs;
      ms = t.totalMs;
    }
    const phase = this.#phase;
    if (phase === 'connect' && t.connectMs !== undefined && this.#started + t.connectMs < at) {
      at = this.#started + t.connectMs;
      due = 'connect';
      ms = t.connectMs;
    }
    if ((phase === 'connect' || phase === 'first_token') && t.firstTokenMs !== undefined) {
      if (this.#started + t.firstTokenMs < at) {
        at = this.#started + t.firstTokenMs;
        due = 'first_token';
        ms = t.firstTokenMs;
      }
    }
    if (
      phase === 'between_tokens' &&
      t.betweenTokensMs !== undefined &&
      this.#lastPart + t.betweenTokensMs < at
    ) {
      at = this.#lastPart + t.betweenTokensMs;
      due = 'between_tokens';
      ms = t.betweenTokensMs;
    }
    this.#at = at;
    this.#due = due;
    this.#dueMs = ms;
    if (at !== Number.POSITIVE_INFINITY) wake(at, now);
  }

  /** The shared timer looks at this clock: expires it if its deadline passed; else its next deadline (Infinity: none). */
  check(now: number): number {
    if (this.#phase === 'done') return Number.POSITIVE_INFINITY;
    // Held: `resume` wakes the timer again for the moved deadlines.
    if (this.#heldAt >= 0) return Number.POSITIVE_INFINITY;
    // Parts arrived since (between tokens): the deadline has moved on.
    if (this.#phase === 'between_tokens') this.#scheduleQuiet();
    if (this.#at > now) return this.#at;
    this.#expire();
    return Number.POSITIVE_INFINITY;
  }

  /** The deadline as `#schedule` works it out, without waking the timer (the timer is the caller). */
  #scheduleQuiet(): void {
    const t = this.#timeouts;
    let at = t.totalMs === undefined ? Number.POSITIVE_INFINITY : this.#started + t.totalMs;
    let due: TimeoutPhase = 'total';
    let ms = t.totalMs ?? 0;
    if (t.betweenTokensMs !== undefined && this.#lastPart + t.betweenTokensMs < at) {
      at = this.#lastPart + t.betweenTokensMs;
      due = 'between_tokens';
      ms = t.betweenTokensMs;
    }
    this.#at = at;
    this.#due = due;
    this.#dueMs = ms;
  }

  #expire(): void {
    const error = timeoutError(this.#model, this.#due, this.#dueMs);
    this.error = error;
    this.stop();
    this.#controller.abort(error);
    this.#reject?.(error);
    for (const fn of this.#onExpire?.splice(0) ?? []) {
      try {
        fn();
      } catch {
        // Best effort: the abort above already ends the call.
      }
    }
  }
}
