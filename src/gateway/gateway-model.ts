/**
 * The gateway model: an AI SDK `LanguageModelV4` that stands for a chain of registry models
 * (primary, then fallbacks). Both `generateText` and `streamText` go through it, so prompt
 * checks, fallback, events, usage and cost are one code path for streaming and non-streaming.
 *
 * Hot path: per call it does a context-window bound check (no tokenizer unless the cheap bound
 * says the prompt might not fit), one provider call, and usage bookkeeping. No timers, no
 * AbortController. A {@link CallLimiter} (the scheduler's rate limits) costs nothing when none is
 * configured.
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
  type SharedV4Warning,
} from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';
import type { Redactor } from '../models/credentials.ts';
import { costUsd, type ModelRegistry, type ResolvedModel } from '../models/registry.ts';
import { assertFitsContext } from '../prompt/tokens.ts';
import type { EventLog, RunEventBody, Usage } from '../runtime/events.ts';
import type { CallLimiter, CallOutcome, CallPermit, CallPermitRequest } from './limiter.ts';
import { toProviderError } from './provider-error.ts';

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
}

/**
 * How a model is retried before the chain falls back: only failures whose kind can heal
 * (rate limit, overload, 5xx, timeout, network — never 400/401/403/404/422, never after a
 * stream's first output, never on abort), waiting what the provider asked for (Retry-After and
 * rate-limit reset headers) or else an exponential backoff with full jitter.
 */
export interface RetryPolicy {
  /** Retries per model after its first attempt (default 2; 0 turns retries off). */
  maxRetries: number;
  /** First backoff cap, ms (default 250); doubles each retry. */
  baseDelayMs: number;
  /** Longest wait, ms (default 8000). A provider asking for longer is not waited for: fall back. */
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

export function createGatewayModel(options: GatewayModelOptions): GatewayModel {
  const { registry, chain, log, redactor, limiter } = options;
  const path = options.path ?? [];
  const charge = options.charge ?? [];
  const retryPolicy = { ...defaultRetryPolicy, ...options.retry };
  let answeredBy: string | undefined;
  const first = registry.entry(chain[0] ?? '');
  const queue: RunEventBody[] = [];
  const emit = (body: RunEventBody) => {
    if (!log) return;
    if (options.deferEvents) queue.push(body);
    else log.emit(path, body);
  };
  const flush = (upTo: FlushMode) => {
    if (!log) return;
    while (queue.length > 0) {
      const body = queue[0] as RunEventBody;
      if (upTo === 'call-start' && body.type === 'model-call-finish') return;
      queue.shift();
      log.emit(path, body);
      if (upTo === 'call-finish' && body.type === 'model-call-finish') return;
    }
  };
  const typeOf = (id: string) => (registry.has(id) ? registry.entry(id).type : 'unknown');
  const callError = (id: string, provider: string, failure: HarnessError, started: number) =>
    emit({
      type: 'model-call-error',
      model: id,
      provider,
      error: { code: failure.code, message: failure.message, isRetryable: failure.isRetryable },
      latencyMs: Date.now() - started,
    });

  function warn(resolved: ResolvedModel, warnings: readonly SharedV4Warning[] | undefined): void {
    if (!log || !warnings || warnings.length === 0) return;
    log.emit(path, {
      type: 'model-warning',
      model: resolved.entry.id,
      warnings: warnings.map(describeWarning),
    });
  }

  function account(resolved: ResolvedModel, u: LanguageModelV4Usage, started: number): void {
    const input = u.inputTokens.total ?? 0;
    const output = u.outputTokens.total ?? 0;
    const cost = costUsd(resolved.entry, input, output);
    for (const usage of charge) {
      usage.inputTokens += input;
      usage.outputTokens += output;
      usage.costUsd += cost;
      usage.modelCalls += 1;
    }
    emit({
      type: 'model-call-finish',
      model: resolved.entry.id,
      provider: resolved.model.provider,
      inputTokens: input,
      outputTokens: output,
      costUsd: cost,
      latencyMs: Date.now() - started,
    });
  }

  async function attempt<T>(
    call: LanguageModelV4CallOptions,
    stream: boolean,
    invoke: (
      resolved: ResolvedModel,
      started: number,
      call: LanguageModelV4CallOptions,
      permit: CallPermit | undefined,
    ) => Promise<T>,
  ): Promise<T> {
    let lastError: HarnessError | undefined;
    let attempts = 0;
    // The prompt is the same for every attempt; its text is built once, when a model has a window
    // or a limiter needs its size.
    let text: string | undefined;
    // What this call has waited for providers' rate-limit resets so far (limiter only).
    let rateLimitWaitedMs = 0;
    for (const [i, id] of chain.entries()) {
      // `retry` counts the retries maxRetries bounds; `tries` every attempt on this model.
      for (let retry = 0, tries = 1; ; tries++) {
        let started = Date.now();
        let resolved: ResolvedModel | undefined;
        let permit: CallPermit | undefined;
        try {
          resolved = registry.resolve(id);
          const { entry } = resolved;
          const effective = withDefaults(call, resolved);
          if (entry.contextWindow !== undefined) {
            text ??= promptText(call.prompt);
            assertFitsContext({
              model: entry.id,
              contextWindow: entry.contextWindow,
              ...(effective.maxOutputTokens === undefined
                ? {}
                : { maxOutputTokens: effective.maxOutputTokens }),
              prompt: text,
            });
          }
          if (limiter) {
            text ??= promptText(call.prompt);
            const request: CallPermitRequest = {
              model: id,
              provider: resolved.model.provider,
              providerType: entry.type,
              estimatedTokens: Math.ceil(Buffer.byteLength(text) / 4) + (effective.maxOutputTokens ?? 0),
              ...(entry.rateLimits === undefined ? {} : { rateLimits: entry.rateLimits }),
              ...(entry.latencyThresholdMs === undefined
                ? {}
                : { latencyThresholdMs: entry.latencyThresholdMs }),
            };
            // The common case (nothing in the way) gets its permit without a promise.
            const immediate = call.abortSignal?.aborted ? undefined : limiter.tryAcquire?.(request);
            permit = once(immediate ?? (await limiter.acquire(request, call.abortSignal)));
            // Latency is the provider's, not the time spent waiting for a permit.
            started = Date.now();
          }
          emit({
            type: 'model-call-start',
            model: id,
            provider: resolved.model.provider,
            attempt: ++attempts,
            stream,
          });
          const result = await invoke(resolved, started, effective, permit);
          answeredBy = id;
          return result;
        } catch (error) {
          const failure = toProviderError(error, id, redactor, call.abortSignal);
          permit?.release({ ok: false, latencyMs: Date.now() - started, failure, ...headersOf(error) });
          callError(id, resolved?.model.provider ?? typeOf(id), failure, started);
          // Abort is terminal: never fall back, never retry.
          if (failure.code === 'aborted') throw failure;
          lastError = failure;
          // With a limiter a rate limit waits for the reset (the limiter holds every other caller of
          // the model until then too) and tries the same model again, within the wait budget.
          const waitMs = limiter ? rateLimitWait(failure, rateLimitWaitedMs, retryPolicy) : undefined;
          let delayMs: number | undefined;
          if (waitMs === null) break;
          if (waitMs !== undefined) {
            rateLimitWaitedMs += waitMs;
            delayMs = waitMs;
          } else {
            delayMs = retryDelay(failure, retry, retryPolicy);
            if (delayMs === undefined) break;
            retry += 1;
          }
          emit({ type: 'model-retry', model: id, attempt: tries + 1, delayMs, reason: failure.message });
          await pause(delayMs, call.abortSignal, id);
        }
      }
      const next = chain[i + 1];
      if (next !== undefined && lastError) {
        emit({ type: 'model-fallback', from: id, to: next, reason: lastError.message });
      }
    }
    throw lastError;
  }

  return {
    specificationVersion: 'v4',
    provider: 'forge-gateway',
    modelId: first.id,
    supportedUrls: {},
    answeredBy: () => answeredBy,
    flush,
    doGenerate(call): Promise<LanguageModelV4GenerateResult> {
      return attempt(call, false, async (resolved, started, effective, permit) => {
        const result = await resolved.model.doGenerate(effective);
        permit?.release(succeeded(result.usage, started, result.response?.headers));
        warn(resolved, result.warnings);
        account(resolved, result.usage, started);
        return result;
      });
    },
    doStream(call): Promise<LanguageModelV4StreamResult> {
      return attempt(call, true, async (resolved, started, effective, permit) => {
        const result = await resolved.model.doStream(effective);
        const reader = result.stream.getReader();
        const id = resolved.entry.id;
        const headers = result.response?.headers;
        const pass = (part: LanguageModelV4StreamPart): LanguageModelV4StreamPart => {
          if (part.type === 'stream-start') warn(resolved, part.warnings);
          else if (part.type === 'finish') {
            permit?.release(succeeded(part.usage, started, headers));
            account(resolved, part.usage, started);
          }
          return part;
        };
        // Read ahead to the first output part: a failure before it (refused, cut, error part)
        // still falls back, because nothing has reached the caller yet.
        const head: LanguageModelV4StreamPart[] = [];
        for (;;) {
          const next = await reader.read().catch(async (error: unknown) => {
            await reader.cancel().catch(() => {});
            throw error;
          });
          if (next.done) break;
          if (next.value.type === 'error') {
            await reader.cancel().catch(() => {});
            throw next.value.error;
          }
          head.push(next.value);
          if (!silentParts.has(next.value.type)) break;
        }
        // From here on a failure ends this stream with a typed error part; it is never
        // replayed on another model.
        const fail = (
          controller: ReadableStreamDefaultController<LanguageModelV4StreamPart>,
          error: unknown,
        ) => {
          const failure = toProviderError(error, id, redactor, call.abortSignal);
          permit?.release({
            ok: false,
            latencyMs: Date.now() - started,
            failure,
            ...(headers === undefined ? {} : { headers }),
          });
          callError(id, resolved.model.provider, failure, started);
          controller.enqueue({ type: 'error', error: failure });
          controller.close();
        };
        const stream = new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            for (const part of head) controller.enqueue(pass(part));
          },
          async pull(controller) {
            try {
              const next = await reader.read();
              if (next.done) {
                // Ended without a finish part: the permit goes back without usage.
                permit?.release({
                  ok: true,
                  latencyMs: Date.now() - started,
                  ...(headers === undefined ? {} : { headers }),
                });
                controller.close();
              } else if (next.value.type === 'error') fail(controller, next.value.error);
              else controller.enqueue(pass(next.value));
            } catch (error) {
              fail(controller, error);
            }
          },
          cancel: (reason) => {
            permit?.release({ ok: true, latencyMs: Date.now() - started, cancelled: true });
            return reader.cancel(reason);
          },
        });
        return { ...result, stream };
      });
    },
  };
}

/** A permit that ignores every release after the first (the contract asks for exactly one). */
function once(permit: CallPermit): CallPermit {
  let released = false;
  return {
    release(outcome) {
      if (released) return;
      released = true;
      permit.release(outcome);
    },
  };
}

/** The outcome of a call that answered. */
function succeeded(
  usage: LanguageModelV4Usage,
  started: number,
  headers: Record<string, string> | undefined,
): CallOutcome {
  return {
    ok: true,
    latencyMs: Date.now() - started,
    ...(usage.inputTokens.total === undefined ? {} : { inputTokens: usage.inputTokens.total }),
    ...(usage.outputTokens.total === undefined ? {} : { outputTokens: usage.outputTokens.total }),
    ...(headers === undefined ? {} : { headers }),
  };
}

/** The response headers of a failed HTTP call (rate-limit headers teach the limiter). */
function headersOf(error: unknown): { headers?: Record<string, string> } {
  return APICallError.isInstance(error) && error.responseHeaders !== undefined
    ? { headers: error.responseHeaders }
    : {};
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
