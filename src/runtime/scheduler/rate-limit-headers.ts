/**
 * Reads the rate-limit state a provider reports in its response headers, on successes as on 429s:
 * OpenAI-style `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (resets as `1s`, `6m0s`,
 * `250ms`), Anthropic's `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-*`
 * (resets as RFC 3339 times) and `retry-after` / `retry-after-ms`.
 */

/** One dimension of a provider's window. */
export interface RateLimitWindow {
  /** Units allowed per window. */
  limit?: number;
  /** Units left in the window now. */
  remaining?: number;
  /** ms until the window is replenished. */
  resetMs?: number;
}

export interface RateLimitState {
  requests?: RateLimitWindow;
  /** Anthropic's separate input and output token windows fold into the tighter of them. */
  tokens?: RateLimitWindow;
  /** `retry-after-ms` or `retry-after` (seconds or an HTTP date), ms. */
  retryAfterMs?: number;
}

/** The rate-limit state in `headers` (any case), or undefined when there is none. */
export function readRateLimitHeaders(
  headers: Record<string, string | undefined> | undefined,
  now: number,
): RateLimitState | undefined {
  if (!headers) return undefined;
  const requests: RateLimitWindow = {};
  const tokens: RateLimitWindow = {};
  let retryAfterMs: number | undefined;
  for (const [rawName, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (name === 'retry-after-ms') {
      const ms = Number(value);
      if (Number.isFinite(ms) && ms >= 0) retryAfterMs = ms;
      continue;
    }
    if (name === 'retry-after') {
      retryAfterMs ??= retryAfter(value, now);
      continue;
    }
    const openai = /^x-ratelimit-(limit|remaining|reset)-(requests|tokens)$/.exec(name);
    if (openai) {
      const field = openai[1] as 'limit' | 'remaining' | 'reset';
      merge(openai[2] === 'requests' ? requests : tokens, field, value, durationMs);
      continue;
    }
    const anthropic =
      /^anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-(limit|remaining|reset)$/.exec(name);
    if (anthropic) {
      const field = anthropic[2] as 'limit' | 'remaining' | 'reset';
      merge(anthropic[1] === 'requests' ? requests : tokens, field, value, (v) => dateMs(v, now));
    }
  }
  const out: RateLimitState = {
    ...(isEmpty(requests) ? {} : { requests }),
    ...(isEmpty(tokens) ? {} : { tokens }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Folds one header into a window; several windows of one dimension keep the tighter figures. */
function merge(
  window: RateLimitWindow,
  field: 'limit' | 'remaining' | 'reset',
  value: string,
  reset: (value: string) => number | undefined,
): void {
  if (field === 'reset') {
    const ms = reset(value.trim());
    if (ms !== undefined) window.resetMs = Math.max(window.resetMs ?? 0, ms);
    return;
  }
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) return;
  window[field] = Math.min(window[field] ?? Number.POSITIVE_INFINITY, n);
}

function isEmpty(window: RateLimitWindow): boolean {
  return window.limit === undefined && window.remaining === undefined && window.resetMs === undefined;
}

function retryAfter(value: string, now: number): number | undefined {
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function dateMs(value: string, now: number): number | undefined {
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `6m0s`, `1.5s`, `250ms`, `2h`, or a bare number of seconds → ms. */
function durationMs(value: string): number | undefined {
  const bare = Number(value);
  if (value !== '' && Number.isFinite(bare) && bare >= 0) return bare * 1000;
  let total = 0;
  let matched = false;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    matched = true;
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
  }
  return matched ? total : undefined;
}
