/**
 * The provider failure taxonomy: what kind of failure a provider error is, whether trying the
 * same model again can help, and how long the provider asked us to wait. Decided from HTTP
 * status, vendor error codes and rate-limit headers — never from message text alone.
 */
import { APICallError } from '@ai-sdk/provider';
import { HarnessError } from '../errors.ts';

export type FailureKind =
  | 'auth'
  | 'rate_limit'
  | 'overloaded'
  | 'server'
  | 'timeout'
  | 'network'
  | 'bad_request'
  | 'not_found'
  | 'context_too_long'
  | 'content_filtered'
  /** A stream failed after it had sent output; never replayed (the failure's own kind is `details.cause`). */
  | 'stream_interrupted'
  /** No attempt was made: the model's (or its provider's, or keys') circuit breaker is open. */
  | 'breaker_open'
  | 'aborted'
  | 'unknown';

export interface Failure {
  kind: FailureKind;
  /** Whether the same call to the same model may succeed if tried again. */
  retryable: boolean;
  statusCode?: number;
  /** What the provider asked for (Retry-After, retry-after-ms, rate-limit reset headers), in ms. */
  retryAfterMs?: number;
}

const retryableKinds: ReadonlySet<FailureKind> = new Set([
  'rate_limit',
  'overloaded',
  'server',
  'timeout',
  'network',
]);

const breakerKinds: ReadonlySet<string> = new Set([
  'rate_limit',
  'overloaded',
  'server',
  'timeout',
  'network',
]);

/**
 * Whether a failure of this kind says the provider is sick, so it counts for circuit breakers:
 * rate limits, overload, 5xx, timeouts and network failures. A refused request (400, 401, 403,
 * 404, 422, context too long, content filtered) says the provider is up; an abort says nothing.
 */
export function isBreakerFailure(kind: unknown): boolean {
  return typeof kind === 'string' && breakerKinds.has(kind);
}

/** Classifies anything a provider call threw. */
export function classifyFailure(error: unknown, signal?: AbortSignal): Failure {
  if (signal?.aborted) return { kind: 'aborted', retryable: false };
  if (HarnessError.isInstance(error)) {
    if (error.code === 'aborted') return { kind: 'aborted', retryable: false };
    if (error.code === 'context_too_long') return { kind: 'context_too_long', retryable: false };
    const kind = error.details.kind;
    if (typeof kind === 'string') {
      const retryAfterMs = error.details.retryAfterMs;
      return {
        kind: kind as FailureKind,
        retryable: error.isRetryable,
        ...(typeof error.details.statusCode === 'number' ? { statusCode: error.details.statusCode } : {}),
        ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}),
      };
    }
    return { kind: 'unknown', retryable: error.isRetryable };
  }
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return error.name === 'TimeoutError'
      ? { kind: 'timeout', retryable: true }
      : { kind: 'aborted', retryable: false };
  }
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    const retryAfterMs = retryAfter(error.responseHeaders);
    const kind = kindOf(status, error.responseBody);
    return {
      kind,
      retryable: retryableKinds.has(kind),
      ...(status === undefined ? {} : { statusCode: status }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  // No HTTP status: refused, reset or cut connections, DNS, TLS — the network.
  return { kind: 'network', retryable: true };
}

function kindOf(status: number | undefined, body: string | undefined): FailureKind {
  const text = body ?? '';
  if (/context_length_exceeded|prompt is too long|maximum context length/i.test(text))
    return 'context_too_long';
  if (/content_filter|content_policy|SAFETY/.test(text)) return 'content_filtered';
  // No status, or a 2xx whose body could not be read (a cut stream, garbled JSON): the transport failed.
  if (status === undefined || status < 300) return 'network';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 429) return 'rate_limit';
  if (status === 529 || status === 503) return 'overloaded';
  if (status >= 500) return 'server';
  if (status >= 400) return 'bad_request';
  return 'unknown';
}

/**
 * The wait a provider asked for, in ms: `retry-after-ms`, `retry-after` (seconds or an HTTP
 * date), OpenAI's `x-ratelimit-reset-requests`/`-tokens` (`1s`, `6m0s`, `250ms`) and Anthropic's
 * `anthropic-ratelimit-*-reset` (RFC 3339). The longest reset wins; none → undefined.
 */
export function retryAfter(
  headers: Record<string, string> | undefined,
  now = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const h = (name: string) => headers[name] ?? headers[name.toLowerCase()];
  const ms = Number(h('retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const after = h('retry-after');
  if (after !== undefined) {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const waits: number[] = [];
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const value = h(name);
    if (value !== undefined) {
      const parsed = durationMs(value);
      if (parsed !== undefined) waits.push(parsed);
    }
  }
  for (const [name, value] of Object.entries(headers)) {
    if (/^anthropic-ratelimit-.*-reset$/.test(name)) {
      const date = Date.parse(value);
      if (!Number.isNaN(date)) waits.push(Math.max(0, date - now));
    }
  }
  return waits.length ? Math.max(...waits) : undefined;
}

/** `6m0s`, `1.5s`, `250ms`, `2h` → ms. */
function durationMs(value: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = false;
  for (const m of value.matchAll(re)) {
    matched = true;
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
  }
  return matched ? total : undefined;
}
