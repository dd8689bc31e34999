/**
 * Circuit breakers of the gateway: one per provider (registry type + endpoint), per model and per
 * API key. A breaker opens on consecutive breaker-worthy failures or on an error rate over a
 * sampling window (cockatiel's `ConsecutiveBreaker` and `SamplingBreaker` decide), stays open for
 * a cooldown while the gateway skips its model at once, then lets one call through as a half-open
 * probe: a success closes it, a failure opens it again.
 *
 * Why not cockatiel's `CircuitBreakerPolicy.execute(fn)`: the gateway must know *before* a call
 * whether the breaker lets it through (to skip a sick model without trying it), a stream's outcome
 * is known only when the stream ends (after `execute`'s promise would have settled), a cancelled
 * probe must neither close nor open the breaker, and calls arriving while a probe is in flight must
 * fall back instead of queueing behind it. `execute` also costs ≈ 1 µs and four promises per
 * breaker per call (measured: 3.5 µs for three breakers), a third of the gateway's whole budget
 * (ARCHITECTURE §6). So the state machine here is a few fields and a state read per call, and the
 * opening decision is cockatiel's breakers, fed synchronously.
 */
import { CircuitState, ConsecutiveBreaker, SamplingBreaker } from 'cockatiel';
import { HarnessError } from '../errors.ts';

/** What a breaker guards: a provider endpoint, one model, or one API key of a key pool. */
export type BreakerScope = 'provider' | 'model' | 'key';

/** A breaker's state as reported in events and `/health`. */
export type BreakerStateName = 'closed' | 'open' | 'half-open';

/** When a breaker opens and how long it stays open. YAML: a model entry's `breaker:` (snake_case). */
export interface BreakerOptions {
  /** `false` turns this breaker off: it never opens (default true). */
  enabled: boolean;
  /** Breaker-worthy failures in a row that open it (default 5; 0 turns this rule off). */
  consecutiveFailures: number;
  /**
   * Share of failed calls within `sampleMs` that opens it, in (0, 1) (default 0.5); 0 turns the
   * error-rate rule off.
   */
  errorRate: number;
  /** Calls within `sampleMs` before the error rate counts (default 20), so a quiet model does not trip on one failure. */
  minCalls: number;
  /** Length of the error-rate window, ms (default 10 000). */
  sampleMs: number;
  /** How long an open breaker stays open before one probe call may go, ms (default 5 000). */
  halfOpenAfterMs: number;
}

/** Model and key breakers unless configured otherwise. */
export const defaultBreakerOptions: BreakerOptions = {
  enabled: true,
  consecutiveFailures: 5,
  errorRate: 0.5,
  minCalls: 20,
  sampleMs: 10_000,
  halfOpenAfterMs: 5_000,
};

/**
 * A provider breaker's options from a model's: the same cooldown and window, twice the
 * consecutive failures and calls, because it sees the failures of every model of one endpoint and
 * one sick model must not take its healthy siblings down.
 */
export function providerBreakerOptions(model: BreakerOptions): BreakerOptions {
  return { ...model, consecutiveFailures: model.consecutiveFailures * 2, minCalls: model.minCalls * 2 };
}

/** Provider breakers unless configured otherwise: {@link providerBreakerOptions} of the defaults (10 in a row, 40 calls). */
export const defaultProviderBreakerOptions: BreakerOptions = providerBreakerOptions(defaultBreakerOptions);

/** A state change, as the gateway reports it in `breaker-*` events. */
export interface BreakerChange {
  scope: BreakerScope;
  /** Provider key (`type endpoint`), model id or key reference (never a key value). */
  key: string;
  state: BreakerStateName;
  /** Why: the failure that opened it, `probe succeeded`, `cooldown over`. */
  reason: string;
  /** Epoch ms. */
  at: number;
}

/** One breaker as `/health` shows it. */
export interface BreakerStatus {
  scope: BreakerScope;
  key: string;
  state: BreakerStateName;
  /** When it entered this state (ISO 8601). */
  since: string;
  /** The failure that opened it (open and half-open only). */
  reason?: string;
  /** Open only: ms until the next call may go as the half-open probe (0: the next call probes). */
  probeInMs?: number;
  /** Breaker-worthy failures in a row so far. */
  consecutiveFailures: number;
}

/** A breaker's serialisable state (`toJSON`), restored with {@link BreakerBoardOptions.initialState}. */
export interface CircuitJSON {
  /** A breaker that was half-open is saved open with `openedAt` 0: after a restart a probe may go at once. */
  state: 'closed' | 'open';
  openedAt: number;
  reason: string;
  since: number;
  consecutive: unknown;
  sampling: unknown;
}

/** Whether a call may go: `pass` (closed), `probe` (it is the half-open probe), `skip` (open). */
export type Admission = 'pass' | 'probe' | 'skip';

/** Receives state changes (the gateway turns them into run events). */
export type BreakerListener = (change: BreakerChange) => void;

/** One circuit breaker. Not for direct use: the gateway drives it; read it through {@link BreakerBoard}. */
export class Circuit {
  readonly scope: BreakerScope;
  readonly key: string;
  #options: BreakerOptions;
  #state: CircuitState = CircuitState.Closed;
  #openedAt = 0;
  #since = Date.now();
  /** A probe is in flight (half-open only): other calls skip until it settles. */
  #probing = false;
  #reason = '';
  #consecutive: ConsecutiveBreaker | undefined;
  #sampling: SamplingBreaker | undefined;
  readonly #notify: BreakerListener;

  constructor(
    scope: BreakerScope,
    key: string,
    options: BreakerOptions,
    notify: BreakerListener,
    initial?: CircuitJSON,
  ) {
    this.scope = scope;
    this.key = key;
    this.#options = options;
    this.#notify = notify;
    this.#build(options);
    if (initial) {
      if (this.#consecutive && typeof initial.consecutive === 'number')
        this.#consecutive.state = initial.consecutive;
      if (this.#sampling && initial.sampling !== undefined) this.#sampling.state = initial.sampling;
      if (initial.state === 'open' && options.enabled) {
        this.#state = CircuitState.Open;
        this.#openedAt = initial.openedAt;
        this.#reason = initial.reason;
      }
      this.#since = initial.since;
    }
  }

  #build(options: BreakerOptions): void {
    this.#consecutive =
      options.enabled && options.consecutiveFailures > 0
        ? new ConsecutiveBreaker(options.consecutiveFailures)
        : undefined;
    this.#sampling =
      options.enabled && options.errorRate > 0
        ? new SamplingBreaker({
            threshold: options.errorRate,
            duration: options.sampleMs,
            minimumRps: (options.minCalls * 1000) / options.sampleMs,
          })
        : undefined;
  }

  /** New options (an entry changed); the state is kept, the counters start over. */
  configure(options: BreakerOptions): void {
    if (options === this.#options) return;
    checkBreakerOptions(options, `${this.scope} breaker ${this.key}`);
    this.#options = options;
    this.#build(options);
    if (!options.enabled && this.#state !== CircuitState.Closed) this.#close('breaker turned off');
  }

  get state(): BreakerStateName {
    return this.#state === CircuitState.Closed
      ? 'closed'
      : this.#state === CircuitState.HalfOpen
        ? 'half-open'
        : 'open';
  }

  /** ms until an open breaker lets a probe through (0 when it would now or is not open). */
  retryAfterMs(now = Date.now()): number {
    return this.#state === CircuitState.Open
      ? Math.max(0, this.#openedAt + this.#options.halfOpenAfterMs - now)
      : 0;
  }

  /** The per-call check: a state read (and a clock read while open). */
  admit(now: number): Admission {
    const state = this.#state;
    if (state === CircuitState.Closed) return 'pass';
    if (state === CircuitState.Open)
      return now - this.#openedAt >= this.#options.halfOpenAfterMs ? 'probe' : 'skip';
    return this.#probing ? 'skip' : 'probe';
  }

  /** The caller goes as the probe: an open breaker turns half-open (the change is returned). */
  beginProbe(now: number): BreakerChange | undefined {
    this.#probing = true;
    if (this.#state !== CircuitState.Open) return undefined;
    this.#state = CircuitState.HalfOpen;
    this.#since = now;
    return this.#changed('half-open', 'cooldown over: one probe call', now);
  }

  /** A call through this breaker succeeded; a probe's success closes it (the change is returned). */
  success(probe: boolean): BreakerChange | undefined {
    if (probe) {
      if (this.#state !== CircuitState.HalfOpen) return undefined;
      this.#consecutive?.success();
      this.#sampling?.success(CircuitState.HalfOpen);
      return this.#close('probe succeeded');
    }
    this.#consecutive?.success();
    this.#sampling?.success(CircuitState.Closed);
    return undefined;
  }

  /** A call through this breaker failed in a way that says the target is sick (`reason`: why). */
  failure(probe: boolean, reason: string, now: number): BreakerChange | undefined {
    if (probe) {
      if (this.#state !== CircuitState.HalfOpen) return undefined;
      this.#sampling?.failure(CircuitState.HalfOpen);
      return this.#open(`probe failed: ${reason}`, now);
    }
    if (this.#state !== CircuitState.Closed) return undefined;
    // Both rules see every failure, so each keeps its own count right.
    const consecutive = this.#consecutive?.failure() ?? false;
    const rate = this.#sampling?.failure(CircuitState.Closed) ?? false;
    if (!consecutive && !rate) return undefined;
    const why = consecutive
      ? `${this.#options.consecutiveFailures} failures in a row, last: ${reason}`
      : `error rate over ${Math.round(this.#options.errorRate * 100)}% in ${this.#options.sampleMs} ms, last: ${reason}`;
    return this.#open(why, now);
  }

  /** The call ended without saying anything about the target (cancelled, aborted): a probe may go again. */
  release(probe: boolean): void {
    if (probe) this.#probing = false;
  }

  #open(reason: string, now: number): BreakerChange {
    this.#state = CircuitState.Open;
    this.#openedAt = now;
    this.#since = now;
    this.#probing = false;
    this.#reason = reason;
    return this.#changed('open', reason, now);
  }

  #close(reason: string): BreakerChange {
    const now = Date.now();
    this.#state = CircuitState.Closed;
    this.#since = now;
    this.#probing = false;
    this.#reason = '';
    return this.#changed('closed', reason, now);
  }

  #changed(state: BreakerStateName, reason: string, at: number): BreakerChange {
    const change: BreakerChange = { scope: this.scope, key: this.key, state, reason, at };
    this.#notify(change);
    return change;
  }

  status(): BreakerStatus {
    const consecutive = this.#consecutive?.state;
    return {
      scope: this.scope,
      key: this.key,
      state: this.state,
      since: new Date(this.#since).toISOString(),
      ...(this.#state === CircuitState.Closed ? {} : { reason: this.#reason }),
      ...(this.#state === CircuitState.Open ? { probeInMs: this.retryAfterMs() } : {}),
      consecutiveFailures: typeof consecutive === 'number' ? consecutive : 0,
    };
  }

  toJSON(): CircuitJSON {
    const closed = this.#state === CircuitState.Closed;
    return {
      state: closed ? 'closed' : 'open',
      openedAt: this.#state === CircuitState.HalfOpen ? 0 : this.#openedAt,
      reason: this.#reason,
      since: this.#since,
      consecutive: this.#consecutive?.state ?? 0,
      sampling: this.#sampling?.state,
    };
  }
}

/** Every breaker's state, by scope and key: what `BreakerBoard.toJSON()` returns. */
export interface BreakerBoardState {
  v: 1;
  circuits: Record<BreakerScope, Record<string, CircuitJSON>>;
}

/** Options of {@link BreakerBoard}. */
export interface BreakerBoardOptions {
  /** Model and key breakers (a model entry's `breaker` overrides them per model). */
  defaults?: Partial<BreakerOptions>;
  /**
   * Provider breakers, the same for every provider. Default: each provider breaker takes the
   * options of the first model entry that uses it, through {@link providerBreakerOptions}.
   */
  provider?: Partial<BreakerOptions>;
  /** State saved with `toJSON()`, e.g. before a restart. */
  initialState?: BreakerBoardState;
}

/**
 * Every breaker of a registry, created on first use. `states()` is what `/health` shows;
 * `onChange` hears every transition, also those of calls without a run.
 */
export class BreakerBoard {
  readonly #circuits: Record<BreakerScope, Map<string, Circuit>> = {
    provider: new Map(),
    model: new Map(),
    key: new Map(),
  };
  readonly #listeners = new Set<BreakerListener>();
  readonly #defaults: BreakerOptions;
  /** Explicit provider options (every provider breaker), if given. */
  readonly #provider: BreakerOptions | undefined;
  readonly #initial: BreakerBoardState | undefined;
  /** Options objects already merged and checked, by the partial they came from. */
  readonly #merged = new WeakMap<Partial<BreakerOptions>, BreakerOptions>();

  constructor(options: BreakerBoardOptions = {}) {
    this.#defaults = { ...defaultBreakerOptions, ...options.defaults };
    checkBreakerOptions(this.#defaults, 'breaker defaults');
    if (options.provider) {
      this.#provider = { ...providerBreakerOptions(this.#defaults), ...options.provider };
      checkBreakerOptions(this.#provider, 'provider breaker options');
    }
    this.#initial = options.initialState;
  }

  /** The defaults of model and key breakers. */
  get defaults(): BreakerOptions {
    return this.#defaults;
  }

  /**
   * The breaker of `scope`/`key`, created on first use with `options` (a model entry's `breaker`)
   * over the defaults; later calls with other options reconfigure a model or key breaker. A
   * provider breaker keeps the options of the first model that asked for it (see
   * {@link providerBreakerOptions}).
   */
  get(scope: BreakerScope, key: string, options?: Partial<BreakerOptions>): Circuit {
    const map = this.#circuits[scope];
    const found = map.get(key);
    if (found && scope === 'provider') return found;
    const resolved = this.#resolve(scope, options, key);
    if (found) {
      found.configure(resolved);
      return found;
    }
    const circuit = new Circuit(
      scope,
      key,
      resolved,
      (change) => {
        for (const listener of this.#listeners) {
          try {
            listener(change);
          } catch {
            // A failing listener must not break the call that changed the state.
          }
        }
      },
      this.#initial?.circuits[scope]?.[key],
    );
    map.set(key, circuit);
    return circuit;
  }

  #resolve(scope: BreakerScope, options: Partial<BreakerOptions> | undefined, key: string): BreakerOptions {
    if (scope === 'provider' && this.#provider) return this.#provider;
    let merged = options === undefined ? this.#defaults : this.#merged.get(options);
    if (!merged) {
      merged = { ...this.#defaults, ...options };
      checkBreakerOptions(merged, `ModelEntry[${JSON.stringify(key)}].breaker`);
      this.#merged.set(options as Partial<BreakerOptions>, merged);
    }
    return scope === 'provider' ? providerBreakerOptions(merged) : merged;
  }

  /** Hears every state change; returns an unsubscribe function. */
  onChange(listener: BreakerListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every breaker created so far, provider ones first. */
  states(): BreakerStatus[] {
    const out: BreakerStatus[] = [];
    for (const scope of ['provider', 'model', 'key'] as const) {
      for (const circuit of this.#circuits[scope].values()) out.push(circuit.status());
    }
    return out;
  }

  toJSON(): BreakerBoardState {
    const circuits: BreakerBoardState['circuits'] = { provider: {}, model: {}, key: {} };
    for (const scope of ['provider', 'model', 'key'] as const) {
      for (const [key, circuit] of this.#circuits[scope]) circuits[scope][key] = circuit.toJSON();
    }
    return { v: 1, circuits };
  }
}

/** The same rules for TS options as the YAML schema has; `at` names the option in the error. */
export function checkBreakerOptions(options: BreakerOptions, at: string): void {
  const bad = (field: string, rule: string, value: unknown) =>
    new HarnessError('config_invalid', `${at}.${field} must be ${rule} (got ${String(value)})`, {
      location: { path: `${at}.${field}` },
      hint: 'see docs/models.md#resilience for the breaker options and their defaults',
    });
  const { consecutiveFailures, errorRate, minCalls, sampleMs, halfOpenAfterMs } = options;
  if (!Number.isInteger(consecutiveFailures) || consecutiveFailures < 0)
    throw bad('consecutiveFailures', 'an integer ≥ 0', consecutiveFailures);
  if (!(errorRate === 0 || (errorRate > 0 && errorRate < 1)))
    throw bad('errorRate', 'between 0 and 1 (0 = off)', errorRate);
  if (!Number.isInteger(minCalls) || minCalls < 1) throw bad('minCalls', 'an integer ≥ 1', minCalls);
  if (!Number.isFinite(sampleMs) || sampleMs < 100) throw bad('sampleMs', 'at least 100 ms', sampleMs);
  if (!Number.isFinite(halfOpenAfterMs) || halfOpenAfterMs < 0)
    throw bad('halfOpenAfterMs', 'a number of ms ≥ 0', halfOpenAfterMs);
}
