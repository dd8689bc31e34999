/**
 * The gateway model: an AI SDK `LanguageModelV4` that stands for a chain of registry models
 * (primary, then fallbacks). Both `generateText` and `streamText` go through it, so prompt
 * checks, breakers, timeouts, retries, fallback, hedging, key rotation, events, usage and cost are
 * one code path for streaming and non-streaming.
 *
 * Per attempt on a model: its circuit breakers (provider, model, key) are read — an open one skips
 * the model at once (`model-fallback`, reason `breaker open`); a key is taken from its pool; the
 * rate limiter grants a permit; the provider is called under the model's timeouts; the outcome
 * settles the permit, the breakers and the latency statistics exactly once. A 401/403 re-reads the
 * key (single-flight) and retries once with a fresh value, else the next key of the pool.
 *
 * Hot path (ARCHITECTURE §6): without timeouts, hedging or a limiter the per-call work is a few map
 * reads, a breaker state read per breaker, the context-window bound check and usage bookkeeping.
 * No timer and no AbortController unless a timeout or a hedge is configured.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  APICallError,
  type LanguageModelV4,
  type LanguageModelV4CallOptions,
  type LanguageModelV4GenerateResult,
  type LanguageModelV4Prompt,
  type LanguageModelV4StreamPart,
  type LanguageModelV4StreamResult,
  type LanguageModelV4Usage,
  type SharedV4ProviderMetadata,
  type SharedV4Warning,
} from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';
import type { Redactor } from '../models/credentials.ts';
import { costUsd, type ModelPlan, type ModelRegistry, type ResolvedModel } from '../models/registry.ts';
import { assertFitsContext } from '../prompt/tokens.ts';
import type { EventLog, RunEventBody, Usage } from '../runtime/events.ts';
import type { BreakerChange, Circuit } from './breaker.ts';
import { isBreakerFailure } from './classify.ts';
import { type HedgeOptions, hedgeDelay } from './hedge.ts';
import type { CallLimiter, CallOutcome, CallPermit, CallPermitRequest } from './limiter.ts';
import { toProviderError } from './provider-error.ts';
import { describeRef, type KeyPool, type KeySlot } from './secrets.ts';
import { AttemptClock } from './timeouts.ts';

export interface GatewayModelOptions {
  registry: ModelRegistry;
  /** Model ids: the primary first, then fallbacks in order. */
  chain: readonly string[];
  /** Where to emit model-call events; omit for a silent call. */
  log?: EventLog;
  path?: readonly string[];
  /** Accumulators charged with the usage of every call (a failed attempt costs nothing we can see). */
  charge?: readonly Usage[];
  redactor?: Redactor;
  /**
   * Queue events until {@link GatewayModel.flush}. The AI SDK reads a stream ahead of its
   * consumer; a consumer that interleaves its own events (step, token) flushes as it goes, so
   * the log stays in the order things happened to it.
   */
  deferEvents?: boolean;
  /** Retries of one model before falling back (default {@link defaultRetryPolicy}). */
  retry?: Partial<RetryPolicy>;
  /**
   * Rate limits (the scheduler's `limiter`): every attempt on a concrete model waits for a permit
   * and reports how it ended; rate-limit failures then wait for the provider's reset and retry the
   * same model, bounded by {@link RetryPolicy.maxRateLimitWaitMs}. Omit: no limits, no cost.
   */
  limiter?: CallLimiter;
  /**
   * Hedged requests for this chain (e.g. an agent's `hedge`); default: the primary model's entry
   * `hedge` (or the registry's default). Needs a second model in the chain.
   */
  hedge?: HedgeOptions;
}

/**
 * How a model is retried before the chain falls back: only failures whose kind can heal
 * (rate limit, overload, 5xx, timeout, network — never 400/401/403/404/422, never after a
 * stream's first output, never on abort), waiting what the provider asked for (Retry-After and
 * rate-limit reset headers) or else an exponential backoff with full jitter.
 */
export interface RetryPolicy {
  /** Retries per model after its first attempt (default 2; 0 turns retries off, rate-limit waits included). */
  maxRetries: number;
  /** First backoff cap, ms (default 250); doubles each retry. */
  baseDelayMs: number;
  /**
   * Longest wait, ms (default 8000). A provider asking for longer is not waited for: fall back.
   * With a limiter, also the longest a call waits for a model the provider blocked.
   */
  maxDelayMs: number;
  /**
   * With a limiter only: total ms one call may wait for rate-limit resets (429 with Retry-After or
   * reset headers) before it falls back (default 60 000). These waits do not count against
   * `maxRetries`, so a 429 storm loses no request; each one is still at most `maxDelayMs`.
   */
  maxRateLimitWaitMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxRetries: 2,
  baseDelayMs: 250,
  maxDelayMs: 8000,
  maxRateLimitWaitMs: 60_000,
};

/** The wait before the next retry, or undefined when this failure should not be retried. */
export function retryDelay(failure: HarnessError, retry: number, policy: RetryPolicy): number | undefined {
  if (!failure.isRetryable || retry >= policy.maxRetries) return undefined;
  const asked = failure.details.retryAfterMs;
  if (typeof asked === 'number') return asked <= policy.maxDelayMs ? asked : undefined;
  return Math.round(Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry));
}

/**
 * With a limiter: the wait a rate-limit failure asked for, when it is at most `maxDelayMs` and
 * `waitedMs` (this call's earlier rate-limit waits) plus it stays within `maxRateLimitWaitMs`;
 * `null` (fall back) when it is a rate limit asking for more; undefined for any other failure,
 * which follows {@link retryDelay}.
 */
export function rateLimitWait(
  failure: HarnessError,
  waitedMs: number,
  policy: RetryPolicy,
): number | null | undefined {
  const asked = failure.details.retryAfterMs;
  if (failure.details.kind !== 'rate_limit' || typeof asked !== 'number') return undefined;
  return asked <= policy.maxDelayMs && waitedMs + asked <= policy.maxRateLimitWaitMs ? asked : null;
}

/** Waits `ms`; an abort ends the wait with a terminal `aborted` error. */
async function pause(ms: number, signal: AbortSignal | undefined, modelId: string): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    throw new HarnessError('aborted', `the call to model "${modelId}" was aborted while waiting to retry`, {
      cause: signal?.reason ?? error,
    });
  }
}

/** The gateway model plus which registry model answered last. */
export interface GatewayModel extends LanguageModelV4 {
  readonly answeredBy: () => string | undefined;
  /**
   * Emits queued events in order: `call-start` stops before the next `model-call-finish`,
   * `call-finish` stops right after it, `all` empties the queue.
   */
  flush(upTo: FlushMode): void;
}

export type FlushMode = 'call-start' | 'call-finish' | 'all';

/** Parts that are output: once one has gone to the caller, the stream can no longer fall back. */
const silentParts = new Set([
  'stream-start',
  'response-metadata',
  'text-start',
  'reasoning-start',
  'raw',
  'ping',
]);

/** The reason of a `model-fallback` past a model whose breaker is open. */
export const breakerOpenReason = 'breaker open';

/** One attempt on one model: what must be settled exactly once when it ends. */
interface Attempt {
  id: string;
  plan: ModelPlan;
  resolved: ResolvedModel | undefined;
  started: number;
  permit: CallPermit | undefined;
  clock: AttemptClock | undefined;
  providerProbe: boolean;
  modelProbe: boolean;
  key: KeySlot | undefined;
  keyProbe: boolean;
  /** The key value's version this attempt used (a refresh by another caller bumps it). */
  keyVersion: number;
  /** The provider was called (before that, a failure says nothing about it). */
  called: boolean;
  stream: boolean;
  /** ms from the start to the first output part (streams) or to the answer (generate). */
  firstOutputMs: number | undefined;
  settled: boolean;
}

/** How an attempt ended. */
type Ending =
  | { ok: true; usage: LanguageModelV4Usage | undefined; headers: Record<string, string> | undefined }
  | { ok: false; failure: HarnessError; headers: Record<string, string> | undefined }
  | { ok: 'cancelled' };

/** Per call: what its attempts share (across the tracks of a hedged call too). */
interface CallState {
  /** The prompt's text, built once when a context window or a limiter needs it. */
  text: string | undefined;
  /** The prompt's estimated tokens for the limiter (UTF-8 bytes / 4), worked out once. */
  promptTokens: number | undefined;
  /** What this call has waited for providers' rate-limit resets so far (limiter only). */
  rateLimitWaitedMs: number;
  attempts: number;
  lastError: HarnessError | undefined;
  /** Hedged calls: chain positions a track has taken, so tracks never try the same model. */
  claimed: Uint8Array | undefined;
  /** Keys refreshed once in this call (a second refusal marks the key dead). */
  refreshed: Set<KeySlot> | undefined;
}

/** The admission check's answer when every key of the pool is dead and some may be re-read now. */
const reviveKeys = Symbol('revive keys');

type Answer = LanguageModelV4GenerateResult | LanguageModelV4StreamResult;

/** A track of a call: which model it answered with (a hedged call has one track per model it races). */
interface Track {
  answeredBy: string | undefined;
  /**
   * A hedged call's track: called when its answer (or a stream's first output) arrives, before the
   * answer waits its turn on the event loop — the race is decided by the provider's time.
   */
  arrived?: () => void;
}

/**
 * The gateway model over `options.chain` (see the module comment). Build one per call: it keeps
 * which model answered and, with `deferEvents`, the call's queued events. Breakers, latency
 * statistics and key pools live in the registry and are shared by every gateway over it.
 */
export function createGatewayModel(options: GatewayModelOptions): GatewayModel {
  return new Gateway(options);
}

/**
 * The gateway model. A class rather than closures: one is built per call, so its per-call cost is
 * one object with a few fields; the methods live once on the prototype.
 */
class Gateway implements GatewayModel {
  readonly specificationVersion = 'v4' as const;
  readonly provider = 'forge-gateway';
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]> = {};
  /** The track of plain calls: the model that answered the last call. */
  readonly #direct: Track = { answeredBy: undefined };
  readonly #options: GatewayModelOptions;
  readonly #registry: ModelRegistry;
  readonly #chain: readonly string[];
  readonly #log: EventLog | undefined;
  readonly #path: readonly string[];
  readonly #charge: readonly Usage[];
  readonly #retry: RetryPolicy;
  /** Retries off means off: no rate-limit waits, and a blocked model is not waited for at all. */
  readonly #rateLimitWaits: boolean;
  readonly #maxBlockWaitMs: number;
  readonly #queue: RunEventBody[] = [];

  constructor(options: GatewayModelOptions) {
    this.#options = options;
    this.#registry = options.registry;
    this.#chain = options.chain;
    this.#log = options.log;
    this.#path = options.path ?? [];
    this.#charge = options.charge ?? [];
    this.#retry =
      options.retry === undefined ? defaultRetryPolicy : { ...defaultRetryPolicy, ...options.retry };
    this.#rateLimitWaits = options.limiter !== undefined && this.#retry.maxRetries > 0;
    this.#maxBlockWaitMs = this.#retry.maxRetries > 0 ? this.#retry.maxDelayMs : 0;
    this.modelId = options.registry.entry(options.chain[0] ?? '').id;
  }

  answeredBy(): string | undefined {
    return this.#direct.answeredBy;
  }

  doGenerate(call: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    return this.#run(call, false) as Promise<LanguageModelV4GenerateResult>;
  }

  doStream(call: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
    return this.#run(call, true) as Promise<LanguageModelV4StreamResult>;
  }

  flush(upTo: FlushMode): void {
    const log = this.#log;
    if (!log) return;
    const queue = this.#queue;
    while (queue.length > 0) {
      const body = queue[0] as RunEventBody;
      if (upTo === 'call-start' && body.type === 'model-call-finish') return;
      queue.shift();
      log.emit(this.#path, body);
      if (upTo === 'call-finish' && body.type === 'model-call-finish') return;
    }
  }

  #emit(body: RunEventBody): void {
    const log = this.#log;
    if (!log) return;
    if (this.#options.deferEvents) this.#queue.push(body);
    else log.emit(this.#path, body);
  }

  #callError(id: string, provider: string, failure: HarnessError, started: number): void {
    if (!this.#log) return;
    this.#emit({
      type: 'model-call-error',
      model: id,
      provider,
      error: { code: failure.code, message: failure.message, isRetryable: failure.isRetryable },
      latencyMs: Date.now() - started,
    });
  }

  #breakerEvent(change: BreakerChange | undefined, attempt: Attempt): void {
    if (change === undefined) return;
    this.#emit({
      type:
        change.state === 'open'
          ? 'breaker-open'
          : change.state === 'half-open'
            ? 'breaker-half-open'
            : 'breaker-close',
      scope: change.scope,
      model: attempt.id,
      provider: attempt.plan.providerKey ?? attempt.plan.entry.type,
      reason: change.reason,
      ...(change.scope === 'key' && attempt.key ? { key: describeRef(attempt.key.ref) } : {}),
    });
  }

  #warn(resolved: ResolvedModel, warnings: readonly SharedV4Warning[] | undefined): void {
    if (!this.#log || !warnings || warnings.length === 0) return;
    this.#log.emit(this.#path, {
      type: 'model-warning',
      model: resolved.entry.id,
      warnings: warnings.map(describeWarning),
    });
  }

  #account(
    resolved: ResolvedModel,
    u: LanguageModelV4Usage,
    started: number,
    metadata: SharedV4ProviderMetadata | undefined,
    endedAt = Date.now(),
  ): void {
    const input = u.inputTokens.total ?? 0;
    const output = u.outputTokens.total ?? 0;
    // An ensemble prices its members itself (it has no price of its own).
    const own = (metadata?.forge as { costUsd?: unknown } | undefined)?.costUsd;
    const cost = typeof own === 'number' ? own : costUsd(resolved.entry, input, output);
    for (const usage of this.#charge) {
      usage.inputTokens += input;
      usage.outputTokens += output;
      usage.costUsd += cost;
      usage.modelCalls += 1;
    }
    // No log, no event object (a call outside a run pays nothing for events).
    if (!this.#log) return;
    this.#emit({
      type: 'model-call-finish',
      model: resolved.entry.id,
      provider: resolved.model.provider,
      inputTokens: input,
      outputTokens: output,
      costUsd: cost,
      latencyMs: endedAt - started,
    });
  }

  /** Ends an attempt once: the permit, the clock, the breakers and the latency statistics. */
  #settle(attempt: Attempt, ending: Ending, now = Date.now()): void {
    if (attempt.settled) return;
    attempt.settled = true;
    attempt.clock?.stop();
    const latencyMs = now - attempt.started;
    const { plan } = attempt;
    if (attempt.permit) {
      const headers = ending.ok === 'cancelled' ? undefined : ending.headers;
      attempt.permit.release(
        ending.ok === 'cancelled'
          ? { ok: true, latencyMs, cancelled: true }
          : ending.ok
            ? succeeded(ending.usage, latencyMs, headers)
            : {
                ok: false,
                latencyMs,
                failure: ending.failure,
                ...(headers === undefined ? {} : { headers }),
              },
      );
    }
    const keyCircuit = attempt.key?.circuit;
    if (!attempt.called || ending.ok === 'cancelled') {
      // Nothing was learnt about the provider: a probe may go again.
      plan.provider?.release(attempt.providerProbe);
      plan.model.release(attempt.modelProbe);
      keyCircuit?.release(attempt.keyProbe);
      return;
    }
    if (ending.ok) {
      const measured = attempt.stream ? attempt.firstOutputMs : latencyMs;
      if (measured !== undefined) this.#registry.latency.record(attempt.id, attempt.stream, measured);
      const threshold = plan.entry.latencyThresholdMs;
      if (threshold !== undefined && measured !== undefined && measured > threshold) {
        const why = `slow: ${attempt.stream ? 'first token' : 'answer'} after ${measured} ms (threshold ${threshold} ms)`;
        this.#fail(plan.provider, attempt.providerProbe, why, now, attempt);
        this.#fail(plan.model, attempt.modelProbe, why, now, attempt);
        this.#breakerEvent(keyCircuit?.success(attempt.keyProbe), attempt);
        return;
      }
      this.#breakerEvent(plan.provider?.success(attempt.providerProbe), attempt);
      this.#breakerEvent(plan.model.success(attempt.modelProbe), attempt);
      if (keyCircuit) this.#breakerEvent(keyCircuit.success(attempt.keyProbe), attempt);
      return;
    }
    const failure = ending.failure;
    const kind = failure.details.kind;
    if (failure.code === 'aborted' || kind === 'aborted') {
      plan.provider?.release(attempt.providerProbe);
      plan.model.release(attempt.modelProbe);
      keyCircuit?.release(attempt.keyProbe);
    } else if (isBreakerFailure(kind)) {
      this.#fail(plan.provider, attempt.providerProbe, failure.message, now, attempt);
      this.#fail(plan.model, attempt.modelProbe, failure.message, now, attempt);
      // A key's own quota is what a rate limit says about it; other failures are not the key's.
      if (kind === 'rate_limit') this.#fail(keyCircuit, attempt.keyProbe, failure.message, now, attempt);
      else keyCircuit?.release(attempt.keyProbe);
    } else {
      // A refused request (400, 404, 401...) is an answer: the provider is up. It closes a probe
      // but does not reset a closed breaker's count (cockatiel's rule for unhandled errors).
      if (attempt.providerProbe) this.#breakerEvent(plan.provider?.success(true), attempt);
      if (attempt.modelProbe) this.#breakerEvent(plan.model.success(true), attempt);
      keyCircuit?.release(attempt.keyProbe);
    }
  }

  #fail(circuit: Circuit | undefined, probe: boolean, reason: string, now: number, attempt: Attempt): void {
    if (circuit) this.#breakerEvent(circuit.failure(probe, reason, now), attempt);
  }

  /**
   * Admits an attempt on `plan`'s model through its breakers and key pool (synchronously: a state
   * read per breaker): the attempt, or why the model is skipped (`breaker open`, or every key
   * refused → `missing_credential`), or `reviveKeys` when every key is dead and may be re-read.
   */
  #admit(
    id: string,
    plan: ModelPlan,
    stream: boolean,
    revived: boolean,
  ): Attempt | HarnessError | typeof reviveKeys {
    const now = Date.now();
    const provider = plan.provider?.admit(now) ?? 'pass';
    const model = plan.model.admit(now);
    if (provider === 'skip' || model === 'skip') {
      const open = provider === 'skip' ? (plan.provider as Circuit) : plan.model;
      return breakerOpen(id, open, now);
    }
    const attempt: Attempt = {
      id,
      plan,
      resolved: undefined,
      started: now,
      permit: undefined,
      clock: undefined,
      providerProbe: provider === 'probe',
      modelProbe: model === 'probe',
      key: undefined,
      keyProbe: false,
      keyVersion: 0,
      called: false,
      stream,
      firstOutputMs: undefined,
      settled: false,
    };
    const pool = plan.pool;
    if (pool) {
      const picked = pool.pick(now);
      if (!picked) {
        const allDead = pool.allDead();
        if (allDead && !revived && pool.mayRevive(now)) return reviveKeys;
        if (allDead) return pool.deadError();
        const open = pool.slots.find((slot) => !slot.dead && slot.circuit?.state !== 'closed')?.circuit;
        return open ? breakerOpen(id, open, now) : pool.deadError();
      }
      attempt.key = picked.slot;
      attempt.keyProbe = picked.probe;
      attempt.keyVersion = picked.slot.version;
    }
    // Only now, with every check passed, does this call become the probe of an open breaker.
    if (attempt.providerProbe) this.#breakerEvent(plan.provider?.beginProbe(now), attempt);
    if (attempt.modelProbe) this.#breakerEvent(plan.model.beginProbe(now), attempt);
    if (attempt.keyProbe && attempt.key?.circuit)
      this.#breakerEvent(attempt.key.circuit.beginProbe(now), attempt);
    return attempt;
  }

  /**
   * A 401/403 on a key of a pool: re-read it once for every concurrent caller and retry with the
   * fresh value; a key refused again (or not rotated) is dead, and the next key of the pool goes.
   * `retry`: try the same model again (a fresh value or another key); `dead`: every key of the
   * pool is refused; `none`: the model has no pool.
   */
  async #onAuthFailure(
    attempt: Attempt,
    state: CallState,
    signal: AbortSignal | undefined,
  ): Promise<'retry' | 'dead' | 'none'> {
    const pool = attempt.plan.pool;
    const slot = attempt.key;
    if (!pool || !slot) return 'none';
    const ref = describeRef(slot.ref);
    state.refreshed ??= new Set();
    if (!state.refreshed.has(slot)) {
      state.refreshed.add(slot);
      const outcome = await pool.refresh(slot, attempt.keyVersion, signal).catch((error: unknown) => {
        if (signal?.aborted) throw toProviderError(error, attempt.id, this.#options.redactor, signal);
        return 'unchanged' as const;
      });
      this.#emit({ type: 'key-refresh', model: attempt.id, key: ref, outcome });
      if (outcome === 'rotated') return 'retry';
    }
    if (!slot.dead) {
      pool.markDead(slot, Date.now());
      this.#emit({ type: 'key-refresh', model: attempt.id, key: ref, outcome: 'dead' });
    }
    return pool.allDead() ? 'dead' : 'retry';
  }

  /**
   * Walks the chain from `start`: each model with its retries, falling back in order; in a hedged
   * call it skips models another track has taken. Resolves with the first answer.
   */
  async #walk(
    state: CallState,
    track: Track,
    start: number,
    call: LanguageModelV4CallOptions,
    stream: boolean,
  ): Promise<Answer> {
    const chain = this.#chain;
    const registry = this.#registry;
    const limiter = this.#options.limiter;
    const signal = call.abortSignal;
    for (let i = start; i < chain.length; ) {
      if (state.claimed) state.claimed[i] = 1;
      const id = chain[i] as string;
      let skipReason: string | undefined;
      // `retry` counts the retries maxRetries bounds; `tries` every attempt on this model.
      for (let retry = 0, tries = 1; ; tries++) {
        let started = Date.now();
        let attempt: Attempt | undefined;
        try {
          const plan = registry.plan(id);
          let admitted = this.#admit(id, plan, stream, false);
          if (admitted === reviveKeys) {
            // Every key is dead: their sources are read again (a rotated secret brings one back).
            const revived = await (plan.pool as KeyPool).revive(Date.now(), signal);
            admitted = this.#admit(id, plan, stream, true);
            if (revived && admitted !== reviveKeys && !HarnessError.isInstance(admitted) && admitted.key) {
              this.#emit({
                type: 'key-refresh',
                model: id,
                key: describeRef(admitted.key.ref),
                outcome: 'revived',
              });
            }
          }
          if (admitted === reviveKeys) throw (plan.pool as KeyPool).deadError();
          if (HarnessError.isInstance(admitted)) {
            if (admitted.details.kind === 'breaker_open') {
              state.lastError = admitted;
              skipReason = breakerOpenReason;
              break;
            }
            throw admitted;
          }
          attempt = admitted;
          const resolved = registry.resolve(id, attempt.key);
          attempt.resolved = resolved;
          const { entry } = resolved;
          let effective = withDefaults(call, resolved);
          if (entry.contextWindow !== undefined) {
            state.text ??= promptText(call.prompt);
            assertFitsContext({
              model: entry.id,
              contextWindow: entry.contextWindow,
              ...(effective.maxOutputTokens === undefined
                ? {}
                : { maxOutputTokens: effective.maxOutputTokens }),
              prompt: state.text,
            });
          }
          if (limiter) {
            state.text ??= promptText(call.prompt);
            state.promptTokens ??= Math.ceil(Buffer.byteLength(state.text) / 4);
            // One literal of a fixed shape (no spreads on the hot path): an entry without limits or
            // threshold leaves those fields undefined, which the limiter reads as absent.
            const request = {
              model: id,
              provider: resolved.model.provider,
              providerType: entry.type,
              estimatedTokens: state.promptTokens + (effective.maxOutputTokens ?? 0),
              rateLimits: entry.rateLimits,
              latencyThresholdMs: entry.latencyThresholdMs,
              maxWaitMs: this.#maxBlockWaitMs,
            } as CallPermitRequest;
            // The common case (nothing in the way) gets its permit without a promise. The permit is
            // released exactly once, by the attempt's settle.
            const immediate = signal?.aborted ? undefined : limiter.tryAcquire?.(request);
            attempt.permit = immediate ?? (await limiter.acquire(request, signal));
            // Latency is the provider's, not the time spent waiting for a permit.
            started = Date.now();
            attempt.started = started;
          }
          if (plan.timeouts) {
            attempt.clock = new AttemptClock(plan.timeouts, id, signal, started);
            effective = { ...effective, abortSignal: attempt.clock.signal };
          }
          state.attempts += 1;
          if (this.#log) {
            this.#emit({
              type: 'model-call-start',
              model: id,
              provider: resolved.model.provider,
              attempt: state.attempts,
              stream,
            });
          }
          attempt.called = true;
          const result = stream
            ? await this.#streamAttempt(attempt, effective, call, track)
            : await this.#generateAttempt(attempt, effective, track);
          track.answeredBy = id;
          return result;
        } catch (error) {
          const failure =
            !signal?.aborted && attempt?.clock?.error
              ? attempt.clock.error
              : toProviderError(error, id, this.#options.redactor, signal);
          if (attempt) this.#settle(attempt, { ok: false, failure, ...headersOf(error) });
          // A limiter refusal is no attempt: the model is blocked longer than this call waits.
          const refused = failure.details.limiter === true && attempt?.called !== true;
          if (!refused) {
            this.#callError(id, attempt?.resolved?.model.provider ?? this.#typeOf(id), failure, started);
          }
          // Abort is terminal: never fall back, never retry.
          if (failure.code === 'aborted') throw failure;
          state.lastError = failure;
          if (failure.details.kind === 'auth' && attempt?.called) {
            const next = await this.#onAuthFailure(attempt, state, signal);
            if (next === 'retry') {
              this.#emit({
                type: 'model-retry',
                model: id,
                attempt: tries + 1,
                delayMs: 0,
                reason: failure.message,
              });
              continue;
            }
            if (next === 'dead') {
              state.lastError = (attempt.plan.pool as KeyPool).deadError(failure);
              break;
            }
          }
          if (refused) break;
          // With a limiter a rate limit waits for the reset (the limiter holds every other caller of
          // the model until then too) and tries the same model again, within the wait budget.
          const waitMs = this.#rateLimitWaits
            ? rateLimitWait(failure, state.rateLimitWaitedMs, this.#retry)
            : undefined;
          let delayMs: number | undefined;
          if (waitMs === null) break;
          if (waitMs !== undefined) {
            state.rateLimitWaitedMs += waitMs;
            delayMs = waitMs;
          } else {
            delayMs = retryDelay(failure, retry, this.#retry);
            if (delayMs === undefined) break;
            retry += 1;
          }
          this.#emit({
            type: 'model-retry',
            model: id,
            attempt: tries + 1,
            delayMs,
            reason: failure.message,
          });
          await pause(delayMs, signal, id);
        }
      }
      let next = i + 1;
      if (state.claimed) while (next < chain.length && state.claimed[next]) next++;
      const to = chain[next];
      if (to !== undefined && state.lastError) {
        this.#emit({ type: 'model-fallback', from: id, to, reason: skipReason ?? state.lastError.message });
      }
      i = next;
    }
    throw state.lastError ?? new HarnessError('unknown_model', 'the model chain is empty');
  }

  #typeOf(id: string): string {
    return this.#registry.has(id) ? this.#registry.entry(id).type : 'unknown';
  }

  #newState(hedged: boolean): CallState {
    return {
      text: undefined,
      promptTokens: undefined,
      rateLimitWaitedMs: 0,
      attempts: 0,
      lastError: undefined,
      claimed: hedged ? new Uint8Array(this.#chain.length) : undefined,
      refreshed: undefined,
    };
  }

  /** Runs one call through the chain: plain, or hedged when a hedge is configured and a second model exists. */
  #run(call: LanguageModelV4CallOptions, stream: boolean): Promise<Answer> {
    const hedge = this.#chain.length > 1 ? (this.#options.hedge ?? this.#primaryHedge()) : undefined;
    return hedge === undefined
      ? this.#walk(this.#newState(false), this.#direct, 0, call, stream)
      : this.#hedged(call, stream, hedge);
  }

  #primaryHedge(): HedgeOptions | undefined {
    const id = this.#chain[0] as string;
    return this.#registry.has(id) ? this.#registry.plan(id).hedge : undefined;
  }

  /**
   * A hedged call: tracks walk the chain side by side, each started after another delay without
   * output, on the next model no track has taken. The first track to answer (a stream: its first
   * output part) wins; the others are aborted. Every attempt is an event and a ledger row.
   */
  #hedged(call: LanguageModelV4CallOptions, stream: boolean, hedge: HedgeOptions): Promise<Answer> {
    const state = this.#newState(true);
    const claimed = state.claimed as Uint8Array;
    const chain = this.#chain;
    const max = hedge.max ?? 1;
    const primary = chain[0] as string;
    return new Promise<Answer>((resolve, reject) => {
      const tracks: AbortController[] = [];
      let done = false;
      let running = 0;
      let hedges = 0;
      /** An answer arrived: no further hedge starts, even while it waits its turn. */
      let answered = false;
      let timer: NodeJS.Timeout | undefined;
      let lastError: unknown;
      const finish = () => {
        done = true;
        if (timer !== undefined) clearTimeout(timer);
      };
      const start = (index: number) => {
        const controller = new AbortController();
        tracks.push(controller);
        const signal = call.abortSignal
          ? AbortSignal.any([call.abortSignal, controller.signal])
          : controller.signal;
        const track: Track = {
          answeredBy: undefined,
          arrived: () => {
            answered = true;
            if (timer !== undefined) clearTimeout(timer);
            timer = undefined;
          },
        };
        running += 1;
        this.#walk(state, track, index, { ...call, abortSignal: signal }, stream).then(
          (value) => {
            running -= 1;
            if (done) {
              // Lost the race though it answered: its usage is charged; a stream is let go.
              if (stream) (value as LanguageModelV4StreamResult).stream.cancel().catch(() => {});
              return;
            }
            finish();
            this.#direct.answeredBy = track.answeredBy;
            const lost = new HarnessError('aborted', 'another model of the chain answered first (hedging)');
            for (const other of tracks) if (other !== controller) other.abort(lost);
            resolve(value);
          },
          (error: unknown) => {
            running -= 1;
            lastError = error;
            if (done || running > 0) return;
            finish();
            reject(lastError);
          },
        );
      };
      const schedule = () => {
        if (answered) return;
        const delay = hedgeDelay(hedge, this.#registry.latency.p95(primary, stream));
        if (delay === undefined) return;
        timer = setTimeout(() => {
          timer = undefined;
          if (done || answered) return;
          const next = claimed.indexOf(0);
          if (next < 0) return;
          hedges += 1;
          this.#emit({
            type: 'model-hedge',
            from: primary,
            to: chain[next] as string,
            afterMs: delay,
            reason: `no ${stream ? 'first token' : 'answer'} from "${primary}" after ${delay} ms`,
          });
          start(next);
          if (hedges < max) schedule();
        }, delay);
      };
      start(0);
      schedule();
    });
  }

  async #generateAttempt(
    attempt: Attempt,
    effective: LanguageModelV4CallOptions,
    track: Track,
  ): Promise<LanguageModelV4GenerateResult> {
    const resolved = attempt.resolved as ResolvedModel;
    const clock = attempt.clock;
    const pending = resolved.model.doGenerate(effective);
    // A provider that ignores its abort signal still loses the race against its timeout.
    const result = clock ? await clock.race(pending) : await pending;
    const arrived = Date.now();
    attempt.firstOutputMs = arrived - attempt.started;
    track.arrived?.();
    // The answer's processing (this attempt's bookkeeping and events included) waits its turn when
    // the event loop is busy; its latency is the provider's alone, measured on arrival.
    const paced = this.#options.limiter?.pace?.();
    if (paced) {
      clock?.stop();
      await paced;
    }
    this.#settle(attempt, { ok: true, usage: result.usage, headers: result.response?.headers }, arrived);
    this.#warn(resolved, result.warnings);
    this.#account(resolved, result.usage, attempt.started, result.providerMetadata, arrived);
    return result;
  }

  async #streamAttempt(
    attempt: Attempt,
    effective: LanguageModelV4CallOptions,
    call: LanguageModelV4CallOptions,
    track: Track,
  ): Promise<LanguageModelV4StreamResult> {
    const resolved = attempt.resolved as ResolvedModel;
    const clock = attempt.clock;
    const pending = resolved.model.doStream(effective);
    if (clock) {
      // If the timeout wins, a stream that still arrives later is let go.
      clock.onExpire(() => {
        Promise.resolve(pending)
          .then((late) => late.stream.cancel())
          .catch(() => {});
      });
    }
    const result = clock ? await clock.race(pending) : await pending;
    clock?.connected();
    const reader = result.stream.getReader();
    // A source that ignores the abort signal: cancelling the reader ends a read in progress.
    clock?.onExpire(() => {
      reader.cancel(clock.error).catch(() => {});
    });
    const id = resolved.entry.id;
    const headers = result.response?.headers;
    const pass = (part: LanguageModelV4StreamPart): LanguageModelV4StreamPart => {
      if (part.type === 'stream-start') this.#warn(resolved, part.warnings);
      else if (part.type === 'finish') {
        this.#settle(attempt, { ok: true, usage: part.usage, headers });
        this.#account(resolved, part.usage, attempt.started, part.providerMetadata);
      }
      return part;
    };
    // Read ahead to the first output part: a failure before it (refused, cut, error part,
    // timeout) still retries and falls back, because nothing has reached the caller yet.
    const head: LanguageModelV4StreamPart[] = [];
    for (;;) {
      const next = await reader.read().catch(async (error: unknown) => {
        await reader.cancel().catch(() => {});
        throw error;
      });
      if (clock?.error) throw clock.error;
      if (next.done) break;
      if (next.value.type === 'error') {
        await reader.cancel().catch(() => {});
        throw next.value.error;
      }
      head.push(next.value);
      if (!silentParts.has(next.value.type)) {
        // The first output: time to first token for the statistics, the clock's next phase.
        attempt.firstOutputMs = Date.now() - attempt.started;
        clock?.firstOutput();
        break;
      }
    }
    track.arrived?.();
    // The stream's processing waits its turn when the event loop is busy; its timeouts wait too.
    const paced = this.#options.limiter?.pace?.();
    if (paced) {
      clock?.hold();
      await paced;
      // No timeout fires while held (AttemptClock.hold), so none can have ended the attempt here.
      clock?.resume();
    }
    // From here on a failure ends this stream with a typed stream_interrupted error part; it is
    // never replayed on another model.
    const fail = (controller: ReadableStreamDefaultController<LanguageModelV4StreamPart>, error: unknown) => {
      const failure =
        !call.abortSignal?.aborted && clock?.error
          ? clock.error
          : toProviderError(error, id, this.#options.redactor, call.abortSignal);
      this.#settle(attempt, { ok: false, failure, headers });
      const interrupted = failure.code === 'aborted' ? failure : streamInterrupted(id, failure);
      this.#callError(id, resolved.model.provider, interrupted, attempt.started);
      if (interrupted !== failure) {
        this.#emit({
          type: 'stream-interrupted',
          model: id,
          provider: resolved.model.provider,
          error: {
            code: interrupted.code,
            message: interrupted.message,
            isRetryable: interrupted.isRetryable,
          },
          latencyMs: Date.now() - attempt.started,
        });
      }
      controller.enqueue({ type: 'error', error: interrupted });
      controller.close();
    };
    const stream = new ReadableStream<LanguageModelV4StreamPart>({
      start(controller) {
        for (const part of head) controller.enqueue(pass(part));
      },
      pull: async (controller) => {
        try {
          const next = await reader.read();
          if (clock?.error) fail(controller, clock.error);
          else if (next.done) {
            // Ended without a finish part: the permit goes back without usage.
            this.#settle(attempt, { ok: true, usage: undefined, headers });
            controller.close();
          } else if (next.value.type === 'error') fail(controller, next.value.error);
          else {
            clock?.activity();
            controller.enqueue(pass(next.value));
          }
        } catch (error) {
          fail(controller, error);
        }
      },
      cancel: (reason) => {
        this.#settle(attempt, { ok: 'cancelled' });
        return reader.cancel(reason);
      },
    });
    return { ...result, stream };
  }
}

/** An open breaker as the reason a model is skipped (retryable: it is probed again after its cooldown). */
function breakerOpen(model: string, circuit: Circuit, now: number): HarnessError {
  const retryAfterMs = circuit.retryAfterMs(now);
  return new HarnessError(
    'provider_error',
    `model "${model}" was skipped: its ${circuit.scope} circuit breaker is open`,
    {
      isRetryable: true,
      hint: `it failed repeatedly; it is probed again in ${Math.ceil(retryAfterMs / 1000)} s — add a fallback model to keep answering meanwhile`,
      details: { model, kind: 'breaker_open', scope: circuit.scope, retryAfterMs },
    },
  );
}

/** A stream that failed after output: `details.kind` says so, `details.cause` keeps the failure's own kind. */
function streamInterrupted(model: string, failure: HarnessError): HarnessError {
  return new HarnessError(
    'provider_error',
    `the stream of model "${model}" was interrupted after output: ${failure.message}`,
    {
      isRetryable: failure.isRetryable,
      hint: 'output was already sent, so it is not replayed on another model; retry the turn (or the run)',
      cause: failure,
      details: { ...failure.details, model, kind: 'stream_interrupted', cause: failure.details.kind },
    },
  );
}

/** The outcome of a call that answered. */
function succeeded(
  usage: LanguageModelV4Usage | undefined,
  latencyMs: number,
  headers: Record<string, string> | undefined,
): CallOutcome {
  return {
    ok: true,
    latencyMs,
    ...(usage?.inputTokens.total === undefined ? {} : { inputTokens: usage.inputTokens.total }),
    ...(usage?.outputTokens.total === undefined ? {} : { outputTokens: usage.outputTokens.total }),
    ...(headers === undefined ? {} : { headers }),
  };
}

/** The response headers of a failed HTTP call (rate-limit headers teach the limiter). */
function headersOf(error: unknown): { headers: Record<string, string> | undefined } {
  return {
    headers:
      APICallError.isInstance(error) && error.responseHeaders !== undefined
        ? error.responseHeaders
        : undefined,
  };
}

/** The entry's `maxOutputTokens` applies when the call sets none. */
function withDefaults(call: LanguageModelV4CallOptions, resolved: ResolvedModel): LanguageModelV4CallOptions {
  const max = resolved.entry.maxOutputTokens;
  return call.maxOutputTokens !== undefined || max === undefined ? call : { ...call, maxOutputTokens: max };
}

function describeWarning(warning: SharedV4Warning): string {
  if (warning.type === 'other') return warning.message;
  const details = 'details' in warning && warning.details ? `: ${warning.details}` : '';
  return `${warning.type} ${'feature' in warning ? warning.feature : ''}${details}`.trim();
}

/** All text of a provider prompt, for the context-window bound. */
function promptText(prompt: LanguageModelV4Prompt): string {
  let text = '';
  for (const message of prompt) {
    if (message.role === 'system') {
      text += `${message.content}\n`;
      continue;
    }
    for (const part of message.content) {
      if (part.type === 'text' || part.type === 'reasoning') text += `${part.text}\n`;
      else if (part.type === 'tool-call') text += `${JSON.stringify(part.input)}\n`;
      else if (part.type === 'tool-result') text += `${JSON.stringify(part.output)}\n`;
    }
  }
  return text;
}
