/**
 * The scheduler's model-call limiter (the gateway's {@link CallLimiter}): per model id a
 * requests-per-minute and a tokens-per-minute bucket (from the entry's `rateLimits`, else learned
 * from the provider's rate-limit headers), per provider type the buckets of the scheduler options,
 * adaptive concurrency per model, and a block until the provider's reset after a 429 or an
 * exhausted window, so every caller of that model waits instead of hammering it.
 *
 * Callers of one model are served first come, first served. Nothing here polls: a waiter is woken
 * by a release (concurrency) or by one timer per model set to the moment the earliest bucket or
 * block allows the next call.
 */
import { HarnessError } from '../../errors.ts';
import type {
  CallLimiter,
  CallOutcome,
  CallPermit,
  CallPermitRequest,
  LoopPace,
} from '../../gateway/limiter.ts';
import type { ModelRateLimits } from '../../models/types.ts';
import { AdaptiveConcurrency, type ConcurrencySignal } from './adaptive-concurrency.ts';
import { checkOption } from './check-option.ts';
import { type RateLimitWindow, readRateLimitHeaders } from './rate-limit-headers.ts';
import { TokenBucket } from './token-bucket.ts';
import type { ModelLimiterStats, ProviderLimiterStats, ProviderRateLimits } from './types.ts';

/** Options of {@link createCallLimiter}. */
export interface CallLimiterOptions {
  /** Buckets per provider type, shared by its models. */
  providers?: Record<string, ProviderRateLimits>;
  /** Concurrency of a model whose entry sets no `rateLimits.maxConcurrency` (default 64). */
  defaultMaxConcurrency?: number;
  /** Event-loop pacing handed to the gateway as {@link CallLimiter.pace}. */
  pace?: LoopPace;
}

/** A {@link CallLimiter} that reports its state. */
export interface SchedulerCallLimiter extends CallLimiter {
  tryAcquire(request: CallPermitRequest): CallPermit | undefined;
  stats(): { models: Record<string, ModelLimiterStats>; providers: Record<string, ProviderLimiterStats> };
}

/** Default adaptive-concurrency ceiling per model. */
export const defaultMaxConcurrency = 64;

interface Buckets {
  requests?: TokenBucket;
  tokens?: TokenBucket;
}

interface Waiter {
  tokens: number;
  /** Epoch ms past which this caller will not wait for a block (from `maxWaitMs`); undefined = no bound. */
  deadline: number | undefined;
  resolve: (permit: CallPermit) => void;
  reject: (error: HarnessError) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  granted: boolean;
}

interface ModelState extends Buckets {
  id: string;
  provider: Buckets;
  /** The `rateLimits` object last applied (compared by reference: entries rarely change). */
  limits: ModelRateLimits | undefined;
  limitsApplied: boolean;
  concurrency: AdaptiveConcurrency;
  latencyThresholdMs: number | undefined;
  inFlight: number;
  /** Epoch ms; 0 = not blocked. */
  blockedUntil: number;
  waiters: Waiter[];
  timer: NodeJS.Timeout | undefined;
  granted: number;
  rateLimited: number;
}

/** Builds the limiter; see the module comment. */
export function createCallLimiter(options: CallLimiterOptions = {}): SchedulerCallLimiter {
  const fallbackMax = options.defaultMaxConcurrency ?? defaultMaxConcurrency;
  const models = new Map<string, ModelState>();
  const providers = new Map<string, Buckets>();

  function providerBuckets(key: string): Buckets {
    let buckets = providers.get(key);
    if (!buckets) {
      const limits = options.providers?.[key];
      const now = Date.now();
      buckets = {
        ...(limits?.rpm === undefined ? {} : { requests: new TokenBucket(limits.rpm, now) }),
        ...(limits?.tpm === undefined ? {} : { tokens: new TokenBucket(limits.tpm, now) }),
      };
      providers.set(key, buckets);
    }
    return buckets;
  }

  function stateOf(request: CallPermitRequest): ModelState {
    let state = models.get(request.model);
    if (!state) {
      checkLimits(request.model, request.rateLimits);
      const key = request.providerType ?? request.provider.split('.')[0] ?? request.provider;
      state = {
        id: request.model,
        provider: providerBuckets(key),
        limits: undefined,
        limitsApplied: false,
        concurrency: new AdaptiveConcurrency(request.rateLimits?.maxConcurrency ?? fallbackMax),
        latencyThresholdMs: undefined,
        inFlight: 0,
        blockedUntil: 0,
        waiters: [],
        timer: undefined,
        granted: 0,
        rateLimited: 0,
      };
      models.set(request.model, state);
    }
    if (!state.limitsApplied || state.limits !== request.rateLimits) configure(state, request.rateLimits);
    state.latencyThresholdMs = request.latencyThresholdMs;
    return state;
  }

  /** Applies an entry's limits; a bucket the entry no longer configures is dropped (unless learned). */
  function configure(state: ModelState, limits: ModelRateLimits | undefined): void {
    checkLimits(state.id, limits);
    const now = Date.now();
    for (const [dimension, perMinute] of [
      ['requests', limits?.rpm],
      ['tokens', limits?.tpm],
    ] as const) {
      const bucket = state[dimension];
      if (perMinute !== undefined) {
        if (bucket) {
          bucket.resize(perMinute, now);
          bucket.source = 'configured';
        } else state[dimension] = new TokenBucket(perMinute, now);
      } else if (bucket?.source === 'configured') delete state[dimension];
    }
    state.concurrency.setMax(limits?.maxConcurrency ?? fallbackMax);
    state.limits = limits;
    state.limitsApplied = true;
  }

  /** ms until the head waiter (wanting `tokens`) may go; 0 = now. */
  function waitFor(state: ModelState, tokens: number, now: number): number {
    return Math.max(
      state.blockedUntil - now,
      state.requests?.waitMs(1, now) ?? 0,
      state.tokens?.waitMs(tokens, now) ?? 0,
      state.provider.requests?.waitMs(1, now) ?? 0,
      state.provider.tokens?.waitMs(tokens, now) ?? 0,
    );
  }

  function pump(state: ModelState): void {
    if (state.timer !== undefined) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    const now = Date.now();
    // A block longer than a waiter will wait for: it falls back now instead of waiting it out.
    if (state.blockedUntil > now) refuseBlocked(state, now);
    for (;;) {
      const waiter = state.waiters[0];
      if (waiter === undefined || state.inFlight >= state.concurrency.limit) return;
      const wait = waitFor(state, waiter.tokens, now);
      if (wait > 0) {
        state.timer = setTimeout(() => {
          state.timer = undefined;
          pump(state);
        }, wait);
        return;
      }
      state.waiters.shift();
      waiter.granted = true;
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(grant(state, waiter.tokens, now));
    }
  }

  function grant(state: ModelState, tokens: number, now: number): CallPermit {
    for (const buckets of [state, state.provider]) {
      buckets.requests?.take(1, now);
      buckets.tokens?.take(tokens, now);
    }
    state.inFlight += 1;
    state.granted += 1;
    const epoch = state.concurrency.epoch;
    let released = false;
    return {
      release(outcome: CallOutcome): void {
        if (released) return;
        released = true;
        state.inFlight -= 1;
        learn(state, tokens, epoch, outcome);
        pump(state);
      },
    };
  }

  function learn(state: ModelState, estimate: number, epoch: number, outcome: CallOutcome): void {
    const now = Date.now();
    const kind = outcome.failure?.details.kind;
    const aborted = outcome.cancelled === true || outcome.failure?.code === 'aborted';

    // Tokens: the estimate was charged; settle it against what the provider reported.
    if (outcome.inputTokens !== undefined || outcome.outputTokens !== undefined) {
      const delta = estimate - (outcome.inputTokens ?? 0) - (outcome.outputTokens ?? 0);
      if (delta !== 0) for (const b of [state.tokens, state.provider.tokens]) b?.adjust(delta, now);
    } else if (!outcome.ok && !aborted) {
      // A refused or failed call reported no usage: its tokens were not spent.
      for (const b of [state.tokens, state.provider.tokens]) b?.adjust(estimate, now);
    }

    const headers = readRateLimitHeaders(outcome.headers, now);
    if (headers) {
      observe(state, 'requests', headers.requests, now);
      observe(state, 'tokens', headers.tokens, now);
    }
    if (kind === 'rate_limit') {
      state.rateLimited += 1;
      const asked = outcome.failure?.details.retryAfterMs;
      const resetMs =
        typeof asked === 'number'
          ? asked
          : (headers?.retryAfterMs ??
            Math.max(headers?.requests?.resetMs ?? 0, headers?.tokens?.resetMs ?? 0));
      if (resetMs > 0) block(state, now + resetMs);
    }

    let signal: ConcurrencySignal = 'neutral';
    if (aborted) signal = 'neutral';
    else if (kind === 'rate_limit' || kind === 'overloaded') signal = 'pushback';
    else if (outcome.ok) {
      const slow = state.latencyThresholdMs !== undefined && outcome.latencyMs > state.latencyThresholdMs;
      signal = slow ? 'slow' : 'success';
    }
    state.concurrency.record(epoch, signal);
  }

  /** What the provider reports for one dimension: learn its limit, lower our level, block at 0. */
  function observe(
    state: ModelState,
    dimension: 'requests' | 'tokens',
    window: RateLimitWindow | undefined,
    now: number,
  ): void {
    if (!window) return;
    let bucket = state[dimension];
    if (window.limit !== undefined && window.limit > 0) {
      if (!bucket) {
        bucket = new TokenBucket(window.limit, now, 'learned');
        state[dimension] = bucket;
      } else if (bucket.source === 'learned' && bucket.capacity !== window.limit) {
        bucket.resize(window.limit, now);
      }
    }
    if (window.remaining !== undefined) {
      bucket?.observe(window.remaining, now);
      if (window.remaining === 0 && window.resetMs !== undefined && window.resetMs > 0) {
        block(state, now + window.resetMs);
      }
    }
  }

  /** A permit now when nobody waits and nothing is in the way (the common case), else undefined. */
  function tryGrant(state: ModelState, tokens: number): CallPermit | undefined {
    if (state.waiters.length > 0 || state.inFlight >= state.concurrency.limit) return undefined;
    const now = Date.now();
    return waitFor(state, tokens, now) <= 0 ? grant(state, tokens, now) : undefined;
  }

  /** Rejects every waiter whose `maxWaitMs` ends before the model's block does. */
  function refuseBlocked(state: ModelState, now: number): void {
    const kept: Waiter[] = [];
    for (const waiter of state.waiters) {
      if (waiter.deadline !== undefined && state.blockedUntil > waiter.deadline) {
        if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
        waiter.reject(blockedTooLong(state.id, state.blockedUntil - now, waiter.deadline - now));
      } else kept.push(waiter);
    }
    state.waiters = kept;
  }

  function block(state: ModelState, until: number): void {
    state.blockedUntil = Math.max(state.blockedUntil, until);
  }

  return {
    ...(options.pace === undefined ? {} : { pace: options.pace }),
    acquire(request: CallPermitRequest, signal?: AbortSignal): Promise<CallPermit> {
      if (signal?.aborted) return Promise.reject(abortedWhileWaiting(request.model, signal));
      const state = stateOf(request);
      const tokens = Math.max(0, request.estimatedTokens);
      const granted = tryGrant(state, tokens);
      if (granted !== undefined) return Promise.resolve(granted);
      const now = Date.now();
      const maxWaitMs = request.maxWaitMs;
      if (maxWaitMs !== undefined && state.blockedUntil - now > maxWaitMs) {
        return Promise.reject(blockedTooLong(request.model, state.blockedUntil - now, maxWaitMs));
      }
      return new Promise<CallPermit>((resolve, reject) => {
        const waiter: Waiter = {
          tokens,
          deadline: maxWaitMs === undefined ? undefined : now + maxWaitMs,
          resolve,
          reject,
          signal,
          onAbort: undefined,
          granted: false,
        };
        state.waiters.push(waiter);
        pump(state);
        if (!waiter.granted && signal) {
          waiter.onAbort = () => {
            const index = state.waiters.indexOf(waiter);
            if (index < 0) return;
            state.waiters.splice(index, 1);
            reject(abortedWhileWaiting(request.model, signal));
            // The head may have changed to a call the buckets allow now.
            pump(state);
          };
          signal.addEventListener('abort', waiter.onAbort, { once: true });
        }
      });
    },
    tryAcquire(request: CallPermitRequest): CallPermit | undefined {
      return tryGrant(stateOf(request), Math.max(0, request.estimatedTokens));
    },
    stats() {
      const now = Date.now();
      const out: Record<string, ModelLimiterStats> = {};
      for (const state of models.values()) {
        out[state.id] = {
          inFlight: state.inFlight,
          waiting: state.waiters.length,
          concurrencyLimit: state.concurrency.limit,
          maxConcurrency: state.concurrency.max,
          ...(state.blockedUntil > now ? { blockedUntil: state.blockedUntil } : {}),
          ...(state.requests ? { requests: state.requests.stats(now) } : {}),
          ...(state.tokens ? { tokens: state.tokens.stats(now) } : {}),
          granted: state.granted,
          rateLimited: state.rateLimited,
        };
      }
      const byProvider: Record<string, ProviderLimiterStats> = {};
      for (const [key, buckets] of providers) {
        if (!buckets.requests && !buckets.tokens) continue;
        byProvider[key] = {
          ...(buckets.requests ? { requests: buckets.requests.stats(now) } : {}),
          ...(buckets.tokens ? { tokens: buckets.tokens.stats(now) } : {}),
        };
      }
      return { models: out, providers: byProvider };
    },
  };
}

/** A model entry's limits come from TS as well as YAML: the same rules as the schema. */
function checkLimits(model: string, limits: ModelRateLimits | undefined): void {
  if (limits === undefined) return;
  const at = `ModelEntry[${JSON.stringify(model)}].rateLimits`;
  checkOption(`${at}.rpm`, limits.rpm, { min: 0, exclusive: true });
  checkOption(`${at}.tpm`, limits.tpm, { min: 0, exclusive: true });
  checkOption(`${at}.maxConcurrency`, limits.maxConcurrency, { min: 1, integer: true });
}

/**
 * The model is blocked (a 429 or an exhausted provider window) for longer than the caller will
 * wait: a retryable rate-limit failure, as the provider would answer, so the gateway falls back.
 */
function blockedTooLong(model: string, blockedMs: number, maxWaitMs: number): HarnessError {
  const seconds = (blockedMs / 1000).toFixed(1);
  return new HarnessError(
    'provider_error',
    `model "${model}" is rate limited for another ${seconds} s, longer than this call waits (${Math.max(0, Math.round(maxWaitMs))} ms)`,
    {
      isRetryable: true,
      hint: 'the provider asked to wait: add a fallback model, or raise retry.maxDelayMs',
      details: { model, kind: 'rate_limit', retryAfterMs: Math.ceil(blockedMs), limiter: true },
    },
  );
}

function abortedWhileWaiting(model: string, signal: AbortSignal): HarnessError {
  return new HarnessError(
    'aborted',
    `the call to model "${model}" was aborted while waiting for a rate limit`,
    {
      cause: signal.reason,
    },
  );
}
