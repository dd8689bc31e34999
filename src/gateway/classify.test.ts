import { APICallError } from '@ai-sdk/provider';
import { describe, expect, it } from 'vitest';
import { classifyFailure, retryAfter } from './classify.ts';

const apiError = (statusCode: number | undefined, headers: Record<string, string> = {}, body = '') =>
  new APICallError({
    message: 'failed',
    url: 'http://x',
    requestBodyValues: {},
    ...(statusCode === undefined ? {} : { statusCode }),
    responseHeaders: headers,
    responseBody: body,
  });

describe('classifyFailure', () => {
  it.each([
    [401, 'auth', false],
    [403, 'auth', false],
    [404, 'not_found', false],
    [400, 'bad_request', false],
    [422, 'bad_request', false],
    [408, 'timeout', true],
    [429, 'rate_limit', true],
    [500, 'server', true],
    [503, 'overloaded', true],
    [529, 'overloaded', true],
    [200, 'network', true],
  ] as const)('HTTP %i is %s (retryable %s)', (status, kind, retryable) => {
    expect(classifyFailure(apiError(status))).toMatchObject({ kind, retryable, statusCode: status });
  });

  it('reads vendor error codes from the body, and no status as the network', () => {
    expect(classifyFailure(apiError(400, {}, '{"error":{"code":"context_length_exceeded"}}')).kind).toBe(
      'context_too_long',
    );
    expect(classifyFailure(apiError(400, {}, '{"error":{"code":"content_filter"}}')).kind).toBe(
      'content_filtered',
    );
    expect(classifyFailure(new TypeError('fetch failed'))).toEqual({ kind: 'network', retryable: true });
    const controller = new AbortController();
    controller.abort();
    expect(classifyFailure(new Error('x'), controller.signal).kind).toBe('aborted');
  });
});

describe('retryAfter', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it('reads every header vendors use', () => {
    expect(retryAfter({ 'retry-after': '7' }, now)).toBe(7000);
    expect(retryAfter({ 'retry-after-ms': '250' }, now)).toBe(250);
    expect(retryAfter({ 'retry-after': 'Thu, 26 Nov 2026 12:00:03 GMT' }, now)).toBe(3000);
    expect(
      retryAfter({ 'x-ratelimit-reset-requests': '6m0s', 'x-ratelimit-reset-tokens': '1.5s' }, now),
    ).toBe(360_000);
    expect(retryAfter({ 'x-ratelimit-reset-tokens': '250ms' }, now)).toBe(250);
    expect(retryAfter({ 'anthropic-ratelimit-requests-reset': '2026-11-26T12:00:02Z' }, now)).toBe(2000);
    expect(retryAfter({}, now)).toBeUndefined();
    expect(retryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
  });
});
