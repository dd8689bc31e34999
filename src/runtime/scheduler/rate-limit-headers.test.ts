import { describe, expect, it } from 'vitest';
import { readRateLimitHeaders } from './rate-limit-headers.ts';

const now = Date.parse('2026-11-27T10:00:00Z');

describe('readRateLimitHeaders', () => {
  it('reads OpenAI-style headers, durations included', () => {
    expect(
      readRateLimitHeaders(
        {
          'x-ratelimit-limit-requests': '60',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '6m0s',
          'X-RateLimit-Limit-Tokens': '100000',
          'x-ratelimit-remaining-tokens': '99500',
          'x-ratelimit-reset-tokens': '250ms',
          'content-type': 'application/json',
        },
        now,
      ),
    ).toEqual({
      requests: { limit: 60, remaining: 0, resetMs: 360_000 },
      tokens: { limit: 100_000, remaining: 99_500, resetMs: 250 },
    });
  });

  it('reads Anthropic headers, folding input and output tokens into the tighter window', () => {
    expect(
      readRateLimitHeaders(
        {
          'anthropic-ratelimit-requests-limit': '50',
          'anthropic-ratelimit-requests-remaining': '49',
          'anthropic-ratelimit-requests-reset': '2026-11-27T10:00:02Z',
          'anthropic-ratelimit-input-tokens-remaining': '8000',
          'anthropic-ratelimit-output-tokens-remaining': '1200',
          'anthropic-ratelimit-output-tokens-reset': '2026-11-27T10:00:30Z',
          'anthropic-ratelimit-input-tokens-reset': '2026-11-27T10:00:05Z',
        },
        now,
      ),
    ).toEqual({
      requests: { limit: 50, remaining: 49, resetMs: 2000 },
      tokens: { remaining: 1200, resetMs: 30_000 },
    });
  });

  it('reads retry-after as seconds, an HTTP date, or retry-after-ms (which wins)', () => {
    expect(readRateLimitHeaders({ 'retry-after': '2' }, now)).toEqual({ retryAfterMs: 2000 });
    expect(readRateLimitHeaders({ 'retry-after': 'Fri, 27 Nov 2026 10:00:03 GMT' }, now)).toEqual({
      retryAfterMs: 3000,
    });
    expect(readRateLimitHeaders({ 'retry-after': '2', 'retry-after-ms': '1500' }, now)).toEqual({
      retryAfterMs: 1500,
    });
  });

  it('ignores garbage and returns undefined without rate-limit headers', () => {
    expect(readRateLimitHeaders(undefined, now)).toBeUndefined();
    expect(readRateLimitHeaders({ 'content-type': 'text/plain' }, now)).toBeUndefined();
    expect(
      readRateLimitHeaders(
        { 'x-ratelimit-remaining-requests': 'many', 'x-ratelimit-reset-tokens': 'soon', 'retry-after': 'x' },
        now,
      ),
    ).toBeUndefined();
  });
});
