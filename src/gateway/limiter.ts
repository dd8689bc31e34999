/**
 * The gateway's hook for rate limiting: before each attempt on a concrete model the gateway
 * asks the limiter for a permit, and hands the outcome back when the attempt ends. The
 * scheduler (`src/runtime/scheduler/`) implements it with token buckets per provider and
 * model and adaptive concurrency; the gateway only knows this contract.
 */
import type { HarnessError } from '../errors.ts';
import type { ModelRateLimits } from '../models/types.ts';

/** What an attempt is about to use. */
export interface CallPermitRequest {
  /** Registry model id. */
  model: string;
  /** The AI SDK provider id of the model (e.g. `openai.responses`). */
  provider: string;
  /** Estimated prompt plus output tokens, for tokens-per-minute buckets. */
  estimatedTokens: number;
  /**
   * The registry type of the model (`openai`, `anthropic`, ...): the key of the per-provider
   * buckets. Omitted → the part of `provider` before the first dot.
   */
  providerType?: string;
  /** The model entry's `rateLimits`; the limiter keeps the latest it was given per model. */
  rateLimits?: ModelRateLimits;
  /** The model entry's `latencyThresholdMs`: a call slower than this backs concurrency off. */
  latencyThresholdMs?: number;
  /**
   * Longest wait, ms, for a model the provider blocked (a 429 or an exhausted window until its
   * reset). A block that lasts longer is not waited for: `acquire` rejects at once with a
   * retryable `provider_error` of kind `rate_limit` (`details.limiter: true`, `retryAfterMs`), so
   * the gateway falls back. Concurrency and bucket pacing are not bounded by it. Omit: no bound.
   */
  maxWaitMs?: number;
}

/** How an attempt ended, so buckets learn actual usage and provider limits. */
export interface CallOutcome {
  ok: boolean;
  inputTokens?: number;
  outputTokens?: number;
  latencyMs: number;
  /** The classified failure when `ok` is false. */
  failure?: HarnessError;
  /** Response headers when the provider sent them (rate-limit headers feed the buckets). */
  headers?: Record<string, string | undefined>;
  /**
   * The caller ended the call early (a stream cancelled by its consumer): says nothing about the
   * provider, so concurrency is left alone and the estimate stays charged.
   */
  cancelled?: boolean;
}

export interface CallPermit {
  /** Ends the attempt; call exactly once. */
  release(outcome: CallOutcome): void;
}

/**
 * Event-loop pacing: undefined when the caller may go on now, else a promise to await first (the
 * loop has been busy for its slice, or others wait ahead). `start`: a new run, which waits behind
 * every `continue` (work of a run already in flight).
 */
export type LoopPace = (kind?: 'continue' | 'start') => Promise<void> | undefined;

export interface CallLimiter {
  /**
   * Waits until the model may be called; rejects with a terminal `aborted` error on abort, or with a
   * `rate_limit` failure when the model is blocked for longer than `request.maxWaitMs`.
   */
  acquire(request: CallPermitRequest, signal?: AbortSignal): Promise<CallPermit>;
  /**
   * Optional hot path: a permit at once when nothing stands in the way (no waiters, buckets and
   * concurrency allow, no block), else undefined and the caller uses {@link acquire}. Saves the
   * promise and the await of the common case.
   */
  tryAcquire?(request: CallPermitRequest): CallPermit | undefined;
  /**
   * Optional event-loop pacing: the gateway asks before it hands a model's answer on (a
   * non-streaming answer, or a stream's first output part), so the processing of many answers
   * that arrive together is spread over turns of the loop instead of blocking it.
   */
  pace?: LoopPace;
}
