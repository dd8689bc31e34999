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
  readonly #started: number;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort: (() => void) | undefined;
  #phase: 'connect' | 'first_token' | 'between_tokens' | 'done';
  /** Epoch ms the current phase began (between tokens: the last part). */
  #phaseStart: number;
  #timer: NodeJS.Timeout | undefined;
  #reject: ((error: HarnessError) => void) | undefined;
  readonly #onExpire: Array<() => void> = [];

  constructor(timeouts: ModelTimeouts, model: string, caller: AbortSignal | undefined, started = Date.now()) {
    this.#timeouts = timeouts;
    this.#model = model;
    this.#started = started;
    this.#phaseStart = started;
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
    this.#arm(started);
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
    if (this.error) fn();
    else this.#onExpire.push(fn);
  }

  /** The response headers arrived: the first-token phase begins (its time counts from the attempt start). */
  connected(): void {
    if (this.#phase !== 'connect') return;
    this.#phase = 'first_token';
    this.#arm(Date.now());
  }

  /** The first output part arrived: from now on every part must follow the last within `betweenTokensMs`. */
  firstOutput(): void {
    if (this.#phase === 'between_tokens' || this.#phase === 'done') return;
    this.#phase = 'between_tokens';
    const now = Date.now();
    this.#phaseStart = now;
    this.#arm(now);
  }

  /** A part arrived (cheap: the timer checks the time of the last part when it fires). */
  activity(): void {
    if (this.#phase === 'between_tokens' && this.#timeouts.betweenTokensMs !== undefined) {
      this.#phaseStart = Date.now();
    }
  }

  /** The attempt ended: no timeout fires any more, and the caller's signal is let go. */
  stop(): void {
    this.#phase = 'done';
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onCallerAbort) this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }

  /** The earliest deadline of the current phase and the total, with the phase it belongs to. */
  #deadline(): { at: number; phase: TimeoutPhase; ms: number } | undefined {
    const t = this.#timeouts;
    let best: { at: number; phase: TimeoutPhase; ms: number } | undefined;
    const consider = (phase: TimeoutPhase, ms: number | undefined, from: number) => {
      if (ms === undefined) return;
      const at = from + ms;
      if (!best || at < best.at) best = { at, phase, ms };
    };
    consider('total', t.totalMs, this.#started);
    if (this.#phase === 'connect') {
      consider('connect', t.connectMs, this.#started);
      consider('first_token', t.firstTokenMs, this.#started);
    } else if (this.#phase === 'first_token') consider('first_token', t.firstTokenMs, this.#started);
    else if (this.#phase === 'between_tokens')
      consider('between_tokens', t.betweenTokensMs, this.#phaseStart);
    return best;
  }

  #arm(now: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#phase === 'done' || this.error) return;
    const deadline = this.#deadline();
    if (!deadline) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, deadline.at - now));
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#phase === 'done') return;
    const deadline = this.#deadline();
    if (!deadline) return;
    const now = Date.now();
    // A part arrived since the timer was set (between tokens): the deadline moved on.
    if (deadline.at > now) {
      this.#timer = setTimeout(() => this.#fire(), deadline.at - now);
      return;
    }
    const error = timeoutError(this.#model, deadline.phase, deadline.ms);
    this.error = error;
    this.#phase = 'done';
    if (this.#onCallerAbort) this.#caller?.removeEventListener('abort', this.#onCallerAbort);
    this.#controller.abort(error);
    this.#reject?.(error);
    for (const fn of this.#onExpire.splice(0)) {
      try {
        fn();
      } catch {
        // Best effort: the abort above already ends the call.
      }
    }
  }
}
